"""Real `celery worker` processes on the real RabbitMQ (the tests' vhost): crashes with
kill -9 at the worst moments, duplicates, retries with native delayed delivery, poison
messages and dead-letter replay, declines. Exactly one effect per order, whatever happens."""

from __future__ import annotations

import itertools
import json
import uuid

import pytest
from fulfillment_support import (
    broker,
    drain_status_events,
    order_payload,
    publish_order,
    publish_raw,
    queue_depth,
    reserve,
    wait_until,
)

from fulfillment_service.fulfillment.deadletters import dead_letter_list, dead_letter_replay
from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import (
    LedgerTransaction,
    Payment,
    ProcessedMessage,
    Shipment,
    SimulatedCharge,
    SimulatedRequest,
    Stock,
)
from fulfillment_service.fulfillment.selectors import ledger_totals
from shared import messages
from shared.celery import DELIVERY_LIMIT, PLATFORM_EXCHANGE

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]


def _orders(inventory, n: int, **kwargs) -> list[dict]:
    payloads = [order_payload({"SKU-A": 1 + i % 2}, **kwargs) for i in range(n)]
    for payload in payloads:
        reserve(inventory, payload)
    return payloads


def _processed(n: int) -> bool:
    return ProcessedMessage.objects.count() >= n


def _assert_exactly_once(payloads: list[dict]) -> None:
    ids = [uuid.UUID(p["order_id"]) for p in payloads]
    for order_id in ids:
        assert Payment.objects.filter(order_id=order_id).count() == 1
        assert SimulatedCharge.objects.filter(idempotency_key=f"order:{order_id}").count() == 1
        assert LedgerTransaction.objects.filter(order_id=order_id).count() == 1
        assert Shipment.objects.filter(order_id=order_id).count() == 1
    assert ProcessedMessage.objects.filter(outcome="fulfilled").count() == len(ids)
    units = sum(line["quantity"] for p in payloads for line in p["lines"])
    assert Stock.objects.get(sku="SKU-A").on_hand == 100 - units
    assert ledger_totals()["quantity"] == 0
    assert ledger_totals()["amount"] == 0


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_kill_9_of_the_worker_child_loses_nothing_and_duplicates_nothing(
    stock, inventory, workers, tmp_path, point
):
    """Each order's first attempt is killed (SIGKILL of the pool child) at ``point``: before
    the database commit, or after it and before the ack. The parent requeues the message
    (reject_on_worker_lost) and a fresh child processes it again."""
    stock(**{"SKU-A": 100})
    payloads = _orders(inventory, 3)
    once_dir = tmp_path / "crashed"
    once_dir.mkdir()
    worker = workers(FULFILLMENT_CRASH_AT=point, FULFILLMENT_CRASH_ONCE_DIR=str(once_dir))
    for payload in payloads:
        publish_order(payload)

    wait_until(lambda: _processed(3), timeout=90, what="3 orders after crashes")
    wait_until(lambda: queue_depth("fulfillment") == 0, timeout=30, what="an empty queue")

    # Every order's first attempt really died at that point.
    assert sorted(p.name for p in once_dir.iterdir()) == sorted(
        f"{point}-{p['order_id']}" for p in payloads
    )
    assert worker.log().count(f"crash hook {point}") == 3
    # The pool notices a killed child when it reaps it (up to seconds after the kill, the
    # commit of an after_commit crash already visible): wait for the third notice.
    wait_until(
        lambda: worker.log().count("WorkerLostError") >= 3, timeout=30, what="3 lost workers"
    )
    _assert_exactly_once(payloads)
    # The redelivery after the last crash settles Redis too (commit of the reservation).
    wait_until(
        lambda: all(inventory.reservation(p["order_id"]) == {} for p in payloads),
        timeout=30,
        what="reservations committed",
    )
    assert stock_invariant_check(inventory=inventory).ok
    statuses = sorted((e["order_id"], e["status"]) for e in drain_status_events())
    expected = sorted((p["order_id"], s) for p in payloads for s in ("paid", "fulfilled"))
    assert sorted(set(statuses)) == expected


def test_the_same_message_delivered_twice_has_one_effect(stock, inventory, workers):
    stock(**{"SKU-A": 100})
    [payload] = _orders(inventory, 1)
    task_id = str(uuid.uuid4())
    publish_order(payload, task_id=task_id)  # the same message twice (same task id)...
    publish_order(payload, task_id=task_id)
    publish_order(payload)  # ...and once more as a new message carrying the same order
    workers()

    wait_until(lambda: queue_depth("fulfillment") == 0, timeout=60, what="an empty queue")
    wait_until(lambda: _processed(1), timeout=30, what="the order")
    _assert_exactly_once([payload])
    assert Stock.objects.get(sku="SKU-A").on_hand == 99
    assert [e["status"] for e in drain_status_events()] == ["paid", "fulfilled"]


def test_transient_errors_are_retried_with_backoff_through_delayed_delivery(
    stock, inventory, workers
):
    stock(**{"SKU-A": 100})
    [payload] = _orders(inventory, 1, shopper_id="test-flaky-2")  # provider fails twice
    worker = workers()
    publish_order(payload)

    wait_until(lambda: _processed(1), timeout=60, what="the order after two retries")
    assert (
        SimulatedRequest.objects.get(idempotency_key=f"order:{payload['order_id']}").attempts == 3
    )
    _assert_exactly_once([payload])
    log = worker.log()
    assert log.count("transient error") == 2
    assert "retry 1 in 1s" in log  # base 1 s: the first retry waits 1 s
    # The retries went through Celery's native delayed delivery (the topic exchange bound
    # to the quorum queue): each attempt came at least a second after the previous one,
    # and the single-slot worker (prefetch 1) was not blocked holding an ETA message.
    attempts = [
        _log_time(line)
        for line in log.splitlines()
        if "transient error" in line or ("succeeded in" in line and "process_order" in line)
    ]
    assert len(attempts) == 3
    assert all(later - earlier >= 0.9 for earlier, later in itertools.pairwise(attempts))


def _log_time(line: str) -> float:
    import datetime as dt

    # the worker logs local time
    stamp = dt.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()
    return stamp.timestamp()


def test_a_declined_payment_releases_the_stock_and_leaves_no_drift(stock, inventory, workers):
    stock(**{"SKU-A": 100})
    [payload] = _orders(inventory, 1, shopper_id="test-decline-card")
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 99}
    workers()
    publish_order(payload)

    wait_until(lambda: _processed(1), timeout=60, what="the declined order")
    marker = ProcessedMessage.objects.get()
    assert (marker.outcome, marker.reason) == ("failed", "payment_declined")
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 100}
    assert LedgerTransaction.objects.count() == 0
    assert Stock.objects.get(sku="SKU-A").on_hand == 100
    report = stock_invariant_check(inventory=inventory)
    assert (report.ok, report.drifting, report.unknown, report.ledger_mismatch) == (
        True,
        [],
        [],
        [],
    )
    assert [(e["status"], e["reason"]) for e in drain_status_events()] == [
        ("failed", "payment_declined")
    ]


def test_a_message_that_kills_every_worker_is_dead_lettered_after_the_limit_and_replays(
    stock, inventory, workers
):
    stock(**{"SKU-A": 100})
    [poison, healthy] = _orders(inventory, 2)
    worker = workers(
        FULFILLMENT_CRASH_AT="before_commit", FULFILLMENT_CRASH_ORDERS=poison["order_id"]
    )
    poison_task = publish_order(poison)
    publish_order(healthy)

    wait_until(lambda: queue_depth("fulfillment.dead") == 1, timeout=120, what="the dead letter")
    wait_until(lambda: _processed(1), timeout=30, what="the healthy order")
    assert ProcessedMessage.objects.get().order_id == uuid.UUID(healthy["order_id"])
    # RabbitMQ delivered it DELIVERY_LIMIT times, then dead-lettered it: never dropped.
    assert worker.log().count("crash hook before_commit") == DELIVERY_LIMIT + 1
    [letter] = dead_letter_list()
    assert (letter.task_id, letter.order_id, letter.task) == (
        poison_task,
        poison["order_id"],
        messages.PROCESS_ORDER_TASK,
    )
    assert letter.reason == "delivery_limit"
    assert queue_depth("fulfillment.dead") == 1  # listing leaves it there
    worker.stop()

    # The bug is fixed (no crash hook): replay it.
    workers()
    assert [r.task_id for r in dead_letter_replay(task_ids=[poison_task])] == [poison_task]
    assert queue_depth("fulfillment.dead") == 0
    wait_until(lambda: _processed(2), timeout=60, what="the replayed order")
    _assert_exactly_once([poison, healthy])


def test_an_unparseable_message_is_dead_lettered_at_once_and_replay_by_command(
    stock, inventory, workers
):
    from django.core.management import call_command

    workers()
    bad = {"type": "order.accepted", "version": 7, "order_id": "x"}
    task_id = publish_order(bad)
    wait_until(lambda: queue_depth("fulfillment.dead") == 1, timeout=60, what="the dead letter")
    [letter] = dead_letter_list()
    assert (letter.task_id, letter.reason, letter.payload) == (task_id, "rejected", bad)
    assert ProcessedMessage.objects.count() == 0

    import io

    out = io.StringIO()
    call_command("dead_letters", "list", "--json", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines() if line.startswith("{")]
    assert [(r["task_id"], r["reason"]) for r in rows] == [(task_id, "rejected")]
    out = io.StringIO()
    call_command("dead_letters", "replay", "--task-id", task_id, stdout=out)
    assert f"replayed {task_id}" in out.getvalue()
    # Still poison: back in the dead-letter queue, still not processed.
    wait_until(
        lambda: queue_depth("fulfillment.dead") == 1, timeout=60, what="the second dead letter"
    )
    assert ProcessedMessage.objects.count() == 0


def test_the_worker_declares_the_dead_letter_queue(workers):
    with broker() as conn:
        conn.default_channel.queue_delete("fulfillment.dead")
    workers()
    assert queue_depth("fulfillment.dead") == 0  # passive declare: it exists
    assert PLATFORM_EXCHANGE.type == "topic"


def test_a_nested_json_bomb_is_dead_lettered_and_the_worker_goes_on(stock, inventory, workers):
    """10 KB of nested arrays used to be decoded by ``json`` (RecursionError) and acked away
    by Celery; now the bounded decoder refuses it and the consumer dead-letters it."""
    stock(**{"SKU-A": 100})
    [healthy] = _orders(inventory, 1)
    worker = workers()
    bomb = ("[" * 5000 + "]" * 5000).encode()
    task_id = publish_raw(bomb, queue=messages.FULFILLMENT_QUEUE, task=messages.PROCESS_ORDER_TASK)
    publish_order(healthy)

    wait_until(lambda: queue_depth("fulfillment.dead") == 1, timeout=60, what="the dead letter")
    wait_until(lambda: _processed(1), timeout=60, what="the healthy order after the bomb")
    [letter] = dead_letter_list()
    assert (letter.task_id, letter.reason) == (task_id, "rejected")
    assert "undecodable message dead-lettered" in worker.log()
    assert "RecursionError" not in worker.log()
    _assert_exactly_once([healthy])
