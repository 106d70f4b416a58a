"""The worker's batch path (ADR 0094) with real `celery worker` processes on the real
RabbitMQ: several orders per transaction, acked only after the commit, and exactly one
effect per order when the pool process dies between the commit and the acks; one bad order
in a batch fails alone."""

from __future__ import annotations

import uuid

import pytest
from fulfillment_support import (
    drain_status_events,
    order_payload,
    publish_order,
    queue_depth,
    reserve,
    wait_until,
)

from fulfillment_service.fulfillment.deadletters import dead_letter_list
from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import (
    LedgerTransaction,
    Payment,
    ProcessedMessage,
    Shipment,
    SimulatedCharge,
    Stock,
)
from fulfillment_service.fulfillment.selectors import ledger_totals
from shared.celery import DELIVERY_LIMIT

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]


def _acked(log: str, outcome: str) -> int:
    return sum(
        1 for line in log.splitlines() if "succeeded in" in line and line.endswith(f": {outcome}")
    )


BATCH = {"FULFILLMENT_BATCH_SIZE": "20", "FULFILLMENT_BATCH_LINGER_MS": "1000"}


def test_sigkill_between_the_commit_and_the_acks_of_a_batch_loses_and_duplicates_nothing(
    stock, inventory, workers, tmp_path
):
    """20 orders queued, one batch of 20: the pool process is killed (SIGKILL) after the
    batch's transaction committed and before any message was acked. RabbitMQ still holds
    all 20; the redelivery finds every marker, settles Redis and acks."""
    stock(**{"SKU-A": 100})
    payloads = [order_payload({"SKU-A": 1 + i % 3}) for i in range(20)]
    for payload in payloads:
        reserve(inventory, payload)
        publish_order(payload)
    assert queue_depth("fulfillment") == 20
    once_dir = tmp_path / "crashed"
    once_dir.mkdir()
    victim = payloads[7]["order_id"]
    worker = workers(
        FULFILLMENT_CRASH_AT="after_commit",
        FULFILLMENT_CRASH_ORDERS=victim,
        FULFILLMENT_CRASH_ONCE_DIR=str(once_dir),
        **BATCH,
    )

    wait_until(lambda: ProcessedMessage.objects.count() == 20, timeout=60, what="20 orders")
    wait_until(
        lambda: _acked(worker.log(), "duplicate") == 20, timeout=60, what="the redelivered 20"
    )
    wait_until(lambda: queue_depth("fulfillment") == 0, timeout=30, what="an empty queue")

    log = worker.log()
    assert [p.name for p in once_dir.iterdir()] == [f"after_commit-{victim}"]
    assert log.count("crash hook after_commit") == 1
    assert "batch of 20 (" in log and "lost: WorkerLostError" in log
    # One transaction for the 20 (the batch's markers share its timestamp)...
    assert ProcessedMessage.objects.values("processed_at").distinct().count() == 1
    # ...and after the kill, each of the 20 came back once and changed nothing.
    assert _acked(log, "fulfilled") == 0  # the killed process never answered for them
    for payload in payloads:
        order_id = uuid.UUID(payload["order_id"])
        assert Payment.objects.filter(order_id=order_id).count() == 1
        assert SimulatedCharge.objects.filter(idempotency_key=f"order:{order_id}").count() == 1
        assert LedgerTransaction.objects.filter(order_id=order_id).count() == 1
        assert Shipment.objects.filter(order_id=order_id).count() == 1
        assert inventory.reservation(payload["order_id"]) == {}
    units = sum(1 + i % 3 for i in range(20))
    assert Stock.objects.get(sku="SKU-A").on_hand == 100 - units
    assert ledger_totals() == {"amount": 0, "quantity": 0}
    assert stock_invariant_check(inventory=inventory).ok
    statuses = sorted((e["order_id"], e["status"]) for e in drain_status_events())
    assert statuses == sorted((p["order_id"], s) for p in payloads for s in ("fulfilled", "paid"))


def test_a_bad_order_in_a_batch_fails_alone_and_the_others_are_fulfilled(stock, inventory, workers):
    """One batch holding good orders, a declined card, an unknown sku, a payload that is
    not an OrderAccepted, a provider that fails twice (the first answer is lost with the
    batch the killer takes down, the second is retried with backoff), and an order whose
    processing kills the pool process every time: each gets its own outcome."""
    stock(**{"SKU-A": 100})
    good = [order_payload({"SKU-A": 1}) for _ in range(4)]
    declined = order_payload({"SKU-A": 2}, shopper_id="test-decline-card")
    flaky = order_payload({"SKU-A": 1}, shopper_id="test-flaky-2")
    killer = order_payload({"SKU-A": 1})
    for payload in [*good, declined, flaky, killer]:
        reserve(inventory, payload)
    unknown = order_payload({"SKU-NOPE": 1})
    poison = {"type": "order.accepted", "version": 99}
    batch = [good[0], declined, good[1], unknown, poison, flaky, good[2], killer, good[3]]
    task_ids = {publish_order(p): p for p in batch}
    worker = workers(
        FULFILLMENT_CRASH_AT="before_commit", FULFILLMENT_CRASH_ORDERS=killer["order_id"], **BATCH
    )

    wait_until(lambda: queue_depth("fulfillment.dead") == 2, timeout=150, what="2 dead letters")
    wait_until(lambda: ProcessedMessage.objects.count() == 7, timeout=60, what="7 outcomes")
    outcomes = dict(ProcessedMessage.objects.values_list("order_id", "reason"))
    expected = {uuid.UUID(p["order_id"]): "" for p in [*good, flaky]}
    expected[uuid.UUID(declined["order_id"])] = "payment_declined"
    expected[uuid.UUID(unknown["order_id"])] = "unknown_sku"
    assert outcomes == expected
    letters = {letter.task_id: letter.reason for letter in dead_letter_list()}
    by_payload = {id(p): t for t, p in task_ids.items()}
    assert letters == {by_payload[id(poison)]: "rejected", by_payload[id(killer)]: "delivery_limit"}
    log = worker.log()
    assert "batch of 9 (" in log  # they really came as one batch
    assert log.count("crash hook before_commit") >= DELIVERY_LIMIT + 1
    assert "transient error" in log and "retry 1 in 1s" in log
    # Stock: 4 good + 1 flaky sold; the declined order's 2 units and the killer's 1 are
    # back on sale (declined released; the killer's reservation is still held).
    assert Stock.objects.get(sku="SKU-A").on_hand == 95
    assert inventory.reservation(declined["order_id"]) == {}
    assert inventory.reservation(killer["order_id"]) == {"SKU-A": 1}
    assert Payment.objects.filter(status="captured").count() == 5
    assert ledger_totals() == {"amount": 0, "quantity": 0}
