"""RabbitMQ restarted with messages queued (a private node of this module, never the
machine's): no message is lost, and none is applied twice."""

from __future__ import annotations

import uuid

import pytest
from fulfillment_support import (
    declare_queues,
    order_payload,
    queue_depth,
    reserve,
    wait_until,
)

from fulfillment_service.fulfillment.models import (
    LedgerTransaction,
    Payment,
    ProcessedMessage,
    SimulatedCharge,
    Stock,
)
from fulfillment_service.fulfillment.selectors import ledger_totals
from shared import messages

pytestmark = [pytest.mark.django_db(transaction=True, databases="__all__"), pytest.mark.fault]


def _publish(url: str, payloads: list[dict]) -> None:
    from fulfillment_service.config.celery_app import app

    with app.connection_for_write(url) as conn:
        for payload in payloads:
            app.send_task(messages.PROCESS_ORDER_TASK, args=[payload], connection=conn)


def test_queued_orders_survive_a_broker_restart_before_and_during_the_drain(
    private_rabbitmq, stock, inventory, workers
):
    url = private_rabbitmq.url
    declare_queues(url)
    stock(**{"SKU-A": 200})
    payloads = [order_payload({"SKU-A": 1}) for _ in range(40)]
    for payload in payloads:
        reserve(inventory, payload)

    # 1. Queued with no consumer, then the broker restarts: every message is still there.
    _publish(url, payloads[:20])
    assert queue_depth("fulfillment", url) == 20
    private_rabbitmq.restart()
    assert queue_depth("fulfillment", url) == 20

    # 2. A worker drains slowly (provider latency) and the broker restarts mid-drain.
    worker = workers(broker_url=url, PAYMENT_LATENCY_MS="150")
    _publish(url, payloads[20:])
    wait_until(lambda: ProcessedMessage.objects.count() >= 5, timeout=60, what="5 orders")
    private_rabbitmq.restart()
    wait_until(
        lambda: ProcessedMessage.objects.count() == 40,
        timeout=150,
        what=f"all 40 orders after the restart (worker log: {worker.log_path})",
    )
    wait_until(lambda: queue_depth("fulfillment", url) == 0, timeout=30, what="empty queue")

    ids = [uuid.UUID(p["order_id"]) for p in payloads]
    assert set(ProcessedMessage.objects.values_list("order_id", flat=True)) == set(ids)
    assert Payment.objects.count() == 40
    assert SimulatedCharge.objects.count() == 40
    assert LedgerTransaction.objects.count() == 40
    assert Stock.objects.get(sku="SKU-A").on_hand == 160
    assert ledger_totals() == {"amount": 0, "quantity": 0}
