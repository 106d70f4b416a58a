"""RabbitMQ down: checkouts are still accepted; after it restarts every accepted order
reaches the fulfillment queue exactly as accepted (count and ids), through the relay.

Real gunicorn and a real relay process point at a private RabbitMQ node that the test stops
and starts (never the machine's shared broker).
"""

from __future__ import annotations

import time

import pytest
from conftest import QueueReader, wait_until

from order_service.orders.models import Order, OutboxMessage
from tests.support.shopper import ShopperSession

pytestmark = [
    pytest.mark.system,
    pytest.mark.fault,
    pytest.mark.django_db(transaction=True),
]


def test_checkouts_survive_a_broker_outage(private_rabbitmq, order_server, manage_process, sale):
    broker = private_rabbitmq.url
    env = {"CELERY_BROKER_URL": broker, "BROKER_CONNECT_TIMEOUT": "1"}
    server = order_server(workers=2, **env)
    relay = manage_process("outbox_relay", "--interval", "0.5", log_name="relay", **env)
    queue = QueueReader(broker, "fulfillment")
    sku = sale.sku("OUTAGE", stock=1000)
    accepted: list[str] = []

    def buy(n: int) -> float:
        shopper = ShopperSession()
        started = time.monotonic()
        r = shopper.post(
            f"{server.url}/api/orders",
            json={"items": [{"sku": sku, "quantity": 1}]},
            headers={"Idempotency-Key": f"outage-{n}"},
            timeout=30,
        )
        assert r.status_code == 202, r.text
        accepted.append(r.json()["order_id"])
        return time.monotonic() - started

    for n in range(3):  # broker up: published at once
        buy(n)
    wait_until(lambda: queue.count() == 3, timeout=30, message="first orders not published")

    private_rabbitmq.stop()
    slowest = max(buy(n) for n in range(3, 23))
    assert len(accepted) == 23
    assert slowest < 10.0  # the outage does not hang checkouts (connect timeout 1 s)
    assert OutboxMessage.objects.filter(published_at__isnull=True).count() == 20
    assert Order.objects.count() == 23

    private_rabbitmq.start()
    wait_until(
        lambda: not OutboxMessage.objects.filter(published_at__isnull=True).exists(),
        timeout=90,
        message=f"relay did not catch up:\n{relay.log()[-2000:]}",
    )
    assert relay.alive()
    delivered = queue.drain()
    assert len(delivered) == 23
    assert sorted(m["payload"]["order_id"] for m in delivered) == sorted(accepted)
    assert sale.available(sku) == 1000 - 23
