"""The order flow in-process (services.order_process) against real PostgreSQL, Redis and
RabbitMQ: effects, idempotency, compensation, invalid orders, refunds, events."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from fulfillment_support import drain_status_events, order_payload, reserve

from fulfillment_service.fulfillment.errors import GatewayUnavailable
from fulfillment_service.fulfillment.gateway import SimulatedProvider
from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import (
    LedgerEntry,
    LedgerTransaction,
    OutboxEvent,
    Payment,
    ProcessedMessage,
    Shipment,
    SimulatedCharge,
    Stock,
)
from fulfillment_service.fulfillment.selectors import ledger_totals
from fulfillment_service.fulfillment.services import order_process
from shared import messages

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]


def test_paid_order_writes_every_effect_once_and_tells_the_order_service(stock, inventory):
    stock(**{"SKU-A": 10, "SKU-B": 5})
    payload = order_payload({"SKU-A": 3, "SKU-B": 1}, unit_price="2.50")
    reserve(inventory, payload)
    assert inventory.availability_many(["SKU-A", "SKU-B"]) == {"SKU-A": 7, "SKU-B": 4}

    result = order_process(payload=payload)

    order_id = uuid.UUID(payload["order_id"])
    assert (result.outcome, result.reason) == ("fulfilled", "")
    payment = Payment.objects.get(order_id=order_id)
    assert (payment.status, payment.amount, payment.currency) == (
        "captured",
        Decimal("10.00"),
        "EUR",
    )
    assert dict(Stock.objects.values_list("sku", "on_hand")) == {"SKU-A": 7, "SKU-B": 4}
    txn = LedgerTransaction.objects.get(order_id=order_id)
    entries = sorted(txn.entries.values_list("account", "sku", "currency", "amount", "quantity"))
    assert entries == [
        ("inventory", "SKU-A", "", Decimal("0.00"), -3),
        ("inventory", "SKU-B", "", Decimal("0.00"), -1),
        ("payments_receivable", "", "EUR", Decimal("10.00"), 0),
        ("sales_revenue", "", "EUR", Decimal("-10.00"), 0),
        ("units_sold", "SKU-A", "", Decimal("0.00"), 3),
        ("units_sold", "SKU-B", "", Decimal("0.00"), 1),
    ]
    assert Shipment.objects.get(order_id=order_id).status == "pending"
    assert ProcessedMessage.objects.get(order_id=order_id).outcome == "fulfilled"
    # The reservation is committed: availability stays down, the hash is gone.
    assert inventory.reservation(order_id) == {}
    assert inventory.availability_many(["SKU-A", "SKU-B"]) == {"SKU-A": 7, "SKU-B": 4}
    events = drain_status_events()
    assert [(e["order_id"], e["status"], e["reason"]) for e in events] == [
        (str(order_id), "paid", ""),
        (str(order_id), "fulfilled", ""),
    ]
    assert [messages.OrderStatusChanged.from_dict(e).status for e in events] == [
        "paid",
        "fulfilled",
    ]
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    assert stock_invariant_check(inventory=inventory).ok


def test_the_same_message_twice_changes_nothing_the_second_time(stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 2})
    reserve(inventory, payload)
    assert order_process(payload=payload).outcome == "fulfilled"
    drain_status_events()

    again = order_process(payload=payload)

    assert again.outcome == "duplicate"
    assert Payment.objects.count() == 1
    assert SimulatedCharge.objects.count() == 1
    assert LedgerTransaction.objects.count() == 1
    assert Stock.objects.get(sku="SKU-A").on_hand == 8
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 8}
    assert OutboxEvent.objects.count() == 2
    assert drain_status_events() == []


def test_declined_payment_fails_the_order_releases_stock_and_writes_no_ledger(stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 4}, shopper_id="test-decline-1")
    reserve(inventory, payload)
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 6}

    result = order_process(payload=payload)

    assert (result.outcome, result.reason) == ("failed", "payment_declined")
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 10}
    assert inventory.reservation(payload["order_id"]) == {}
    assert Stock.objects.get(sku="SKU-A").on_hand == 10
    assert LedgerTransaction.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert Shipment.objects.count() == 0
    assert Payment.objects.get().status == "declined"
    events = drain_status_events()
    assert [(e["status"], e["reason"]) for e in events] == [("failed", "payment_declined")]
    report = stock_invariant_check(inventory=inventory)
    assert (report.ok, report.drifting, report.unknown) == (True, [], [])


@pytest.mark.parametrize(
    ("lines", "kwargs", "reason"),
    [
        ({"NOPE": 1}, {}, "unknown_sku"),
        ({"SKU-A": 2}, {"total": "999.00"}, "total_mismatch"),
        ({"SKU-A": 0}, {"total": "0"}, "invalid_quantity"),
        ({"SKU-A": 1}, {"unit_price": "abc", "total": "1"}, "invalid_amount"),
    ],
)
def test_an_invalid_order_fails_with_a_reason_and_charges_nothing(
    stock, inventory, lines, kwargs, reason
):
    stock(**{"SKU-A": 10})
    payload = order_payload(lines, **kwargs)

    result = order_process(payload=payload)

    assert (result.outcome, result.reason) == ("failed", reason)
    assert SimulatedCharge.objects.count() == 0
    assert Payment.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert Stock.objects.get(sku="SKU-A").on_hand == 10
    assert [(e["status"], e["reason"]) for e in drain_status_events()] == [("failed", reason)]


def test_a_payload_that_is_not_an_order_accepted_is_a_contract_error():
    with pytest.raises(messages.ContractError):
        order_process(payload={"type": "order.accepted", "version": 99})
    with pytest.raises(messages.ContractError):
        order_process(payload=order_payload({"SKU-A": 1}, order_id="not-a-uuid"))
    assert ProcessedMessage.objects.count() == 0


def test_transient_provider_error_leaves_no_effect_and_the_retry_succeeds(stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 1})
    reserve(inventory, payload)
    flaky = SimulatedProvider(transient_error_rate=1.0)

    with pytest.raises(GatewayUnavailable):
        order_process(payload=payload, gateway=flaky)
    assert (ProcessedMessage.objects.count(), SimulatedCharge.objects.count()) == (0, 0)
    assert inventory.reservation(payload["order_id"]) == {"SKU-A": 1}

    assert order_process(payload=payload).outcome == "fulfilled"
    assert (Payment.objects.count(), LedgerTransaction.objects.count()) == (1, 1)


def test_charged_but_out_of_stock_in_the_system_of_record_is_refunded(stock, inventory):
    # Redis says 5 (e.g. rebuilt while orders were in flight); PostgreSQL has only 1.
    Stock.objects.create(sku="SKU-A", on_hand=1, received=1)
    inventory.set_available(sku="SKU-A", available=5)
    payload = order_payload({"SKU-A": 2})
    reserve(inventory, payload)

    result = order_process(payload=payload)

    assert (result.outcome, result.reason) == ("failed", "out_of_stock")
    assert Payment.objects.get().status == "refunded"
    assert SimulatedCharge.objects.get().refunded is True
    assert Stock.objects.get(sku="SKU-A").on_hand == 1
    assert LedgerEntry.objects.count() == 0
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 5}


def _point_celery_at(app, url: str) -> None:
    """Make the app publish to ``url`` from now on (drop its cached pools)."""
    app.conf.broker_url = url
    app.conf.broker_write_url = url
    app._pool = None
    app.amqp._producer_pool = None


def test_unpublished_events_survive_a_broker_outage_and_the_relay_publishes_them_later(
    stock, inventory
):
    from flashops.processes import free_port
    from fulfillment_service.config.celery_app import app
    from fulfillment_service.fulfillment.services import outbox_publish

    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 1})
    reserve(inventory, payload)
    assert order_process(payload=payload).outcome == "fulfilled"
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 2
    real_url = app.conf.broker_url
    # The broker is unreachable (a port where nothing listens) when the relay runs.
    _point_celery_at(app, f"amqp://guest:guest@127.0.0.1:{free_port()}//")
    try:
        assert outbox_publish() == 0
    finally:
        _point_celery_at(app, real_url)
    assert list(OutboxEvent.objects.values_list("attempts", "published_at")) == [
        (1, None),
        (1, None),
    ]
    assert "Connection refused" in OutboxEvent.objects.first().last_error

    assert outbox_publish() == 2
    assert [e["status"] for e in drain_status_events(publish=False)] == ["paid", "fulfilled"]
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0


def test_ledger_sums_to_zero_after_many_orders(stock, inventory):
    stock(**{"SKU-A": 50, "SKU-B": 50})
    for i in range(10):
        payload = order_payload({"SKU-A": 1 + i % 3, "SKU-B": 1}, unit_price=f"{i + 1}.99")
        reserve(inventory, payload)
        order_process(payload=payload)
    assert ledger_totals() == {"amount": Decimal("0.00"), "quantity": 0}
    assert LedgerTransaction.objects.count() == 10


def test_the_relay_process_publishes_committed_events(stock, inventory, tmp_path):
    import sys
    import time

    from django.conf import settings
    from fulfillment_support import ROOT, wait_until, worker_database_url

    from flashops.processes import ManagedProcess

    relay = ManagedProcess(
        [sys.executable, "manage.py", "fulfillment", "relay_outbox", "--poll", "0.2"],
        env={
            "DJANGO_ENV": "test",
            "FULFILLMENT_DATABASE_URL": worker_database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "PYTHONUNBUFFERED": "1",
        },
        cwd=ROOT,
        log_path=tmp_path / "relay.log",
    ).start()
    try:
        wait_until(lambda: "polling" in relay.log(), timeout=30, what="the relay")
        stock(**{"SKU-A": 10})
        payload = order_payload({"SKU-A": 1}, shopper_id="test-decline-relay")
        started = time.monotonic()
        order_process(payload=payload)
        events: list[dict] = []
        wait_until(
            lambda: bool(events.extend(drain_status_events(publish=False)) or events),
            timeout=20,
            what="the relayed event",
        )
        assert time.monotonic() - started < 20
        assert [(e["order_id"], e["status"]) for e in events] == [(payload["order_id"], "failed")]
        assert OutboxEvent.objects.get().published_at is not None
    finally:
        relay.stop()
    assert "relay: stopped after publishing 1 event(s)" in relay.log()
