"""The order service's business metrics: checkouts by outcome, the accept latency, the
relay's backlog gauges and the live-sale availability collector (real Redis, PostgreSQL)."""

from __future__ import annotations

import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry

from flashops.processes import free_port
from order_service.orders import metrics
from order_service.orders.models import Order, OrderStatus, OutboxMessage
from order_service.orders.stores import inventory, offers_client
from shared.metrics import SaleAvailabilityCollector, metrics_server_start

pytestmark = pytest.mark.django_db


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcomes() -> dict[str, float]:
    return {o: sample("order_checkouts_total", outcome=o) for o in metrics.OUTCOMES}


def checkout(client, items, key):
    return client.post(
        "/api/orders",
        {"items": items},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_each_checkout_outcome_is_counted_once(settings, sale):
    a = sale.sku("A", stock=3, limit=2)
    plain = sale.sku("P", stock=1, window=None)
    future = sale.sku("F", window="future")
    before = outcomes()
    accepted_before = sample("order_checkout_accept_seconds_count")
    client = Client()
    assert checkout(client, [{"sku": a, "quantity": 2}], "m-1").status_code == 202
    assert checkout(client, [{"sku": a, "quantity": 2}], "m-1").status_code == 202  # replay
    assert checkout(Client(), [{"sku": a, "quantity": 3}], "m-2").json()["code"] == (
        "LIMIT_EXCEEDED"
    )
    assert checkout(Client(), [{"sku": plain, "quantity": 2}], "m-3").json()["code"] == "SOLD_OUT"
    assert checkout(Client(), [{"sku": future, "quantity": 1}], "m-4").json()["code"] == (
        "SALE_NOT_ACTIVE"
    )
    assert checkout(Client(), [{"sku": "NO-SUCH", "quantity": 1}], "m-5").status_code == 422
    settings.RATELIMIT_CHECKOUT_SHOPPER = "1/m"
    # an address of this test's own (rate windows of earlier runs stay in Redis for a minute);
    # its first request counts against the address, the next ones against its new shopper
    limited, rejected = Client(REMOTE_ADDR=f"192.0.2.{int(sale.prefix[1:7], 16) % 250 + 1}"), 1
    for attempt in range(5):
        answer = checkout(limited, [{"sku": "NO-SUCH", "quantity": 1}], f"m-r{attempt}")
        if answer.status_code == 429:
            break
        rejected += 1
    assert (answer.status_code, rejected) == (429, 3)

    after = outcomes()
    assert {o: after[o] - before[o] for o in metrics.OUTCOMES} == {
        "accepted": 1, "replayed": 1, "limit": 1, "sold_out": 1, "sale_not_active": 1,
        "rejected": rejected, "rate_limited": 1,
    }  # fmt: skip
    # only accepted checkouts are timed
    assert sample("order_checkout_accept_seconds_count") - accepted_before == 1


def test_relay_gauges_report_the_outbox_and_the_oldest_waiting_order():
    now = timezone.now()

    def order(status, age):
        return Order.objects.create(
            id=uuid.uuid4(), shopper_id="s", status=status, total="1.00", currency="EUR",
            created_at=now - age,
        )  # fmt: skip

    waiting = order(OrderStatus.ACCEPTED, timedelta(seconds=90))
    order(OrderStatus.FULFILLED, timedelta(hours=1))  # settled: does not count
    OutboxMessage.objects.create(
        order=waiting, task_name="t", queue="fulfillment", payload={},
        created_at=now - timedelta(seconds=30),
    )  # fmt: skip

    metrics.relay_gauges_refresh()
    assert sample("outbox_backlog_messages", service="order") == 1
    assert 30 <= sample("outbox_oldest_age_seconds", service="order") < 40
    assert 90 <= sample("order_oldest_accepted_age_seconds") < 100

    OutboxMessage.objects.update(published_at=now)
    Order.objects.update(status=OrderStatus.FAILED)
    metrics.relay_gauges_refresh()
    assert sample("outbox_backlog_messages", service="order") == 0
    assert sample("outbox_oldest_age_seconds", service="order") == 0
    assert sample("order_oldest_accepted_age_seconds") == 0


def test_sale_availability_collector_reads_live_sales_only(sale, inv):
    live = sale.sku("L", stock=7)
    plain = sale.sku("P", stock=5, window=None)
    ended = sale.sku("E", stock=4, window="past")
    registry = CollectorRegistry()
    registry.register(SaleAvailabilityCollector(offers=offers_client, inventory=inventory))
    assert registry.get_sample_value("inventory_sale_available_units", {"sku": live}) == 7
    for sku in (plain, ended):
        assert registry.get_sample_value("inventory_sale_available_units", {"sku": sku}) is None
    inv.set_available(sku=live, available=6)
    assert registry.get_sample_value("inventory_sale_available_units", {"sku": live}) == 6


def test_sale_availability_collector_rereads_the_offers_only_every_refresh(sale):
    cached = SaleAvailabilityCollector(
        offers=offers_client, inventory=inventory, refresh_seconds=3600
    )
    fresh = SaleAvailabilityCollector(offers=offers_client, inventory=inventory, refresh_seconds=0)
    for collector in (cached, fresh):
        list(collector.collect())  # the first scrape reads the offers
    later = sale.sku("N", stock=9)  # a sale published after the first scrape

    def units(collector):
        [family] = collector.collect()
        return {s.labels["sku"]: s.value for s in family.samples}.get(later)

    assert units(cached) is None  # until its next refresh
    assert units(fresh) == 9


def test_background_metrics_server_serves_the_process_metrics(sale):
    live = sale.sku("S", stock=3)
    port = free_port()
    assert metrics_server_start(port=0) is None  # no port asked for: no server
    assert (
        metrics_server_start(
            port=port,
            collectors=[SaleAvailabilityCollector(offers=offers_client, inventory=inventory)],
        )
        == port
    )
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert f'inventory_sale_available_units{{sku="{live}"}} 3.0' in body
    assert "order_checkouts_total" in body
