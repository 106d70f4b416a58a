"""Order status from fulfillment's events: at-least-once, in any order, never backwards."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from celery.exceptions import Reject
from conftest import BIN, REPO, QueueReader, process_env, wait_until
from django.conf import settings
from django.test import Client
from kombu import Connection

from flashops.processes import ManagedProcess
from order_service.config.celery_app import app
from order_service.orders.cart import Shopper
from order_service.orders.models import Order
from order_service.orders.services import order_checkout, order_status_apply
from order_service.orders.tasks import apply_status
from shared import messages
from shared.celery import dead_letter_queue

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def event(order_id, status, minutes, reason=""):
    return messages.OrderStatusChanged(
        order_id=str(order_id),
        status=status,
        occurred_at=(T0 + timedelta(minutes=minutes)).isoformat(),
        reason=reason,
    )


@pytest.fixture
def order(sale):
    a = sale.sku("A", stock=10)
    result = order_checkout(
        shopper=Shopper(shopper_id="anon:status-test"),
        items={a: 1},
        idempotency_key=uuid.uuid4().hex,
        fingerprint="f",
    )
    return Order.objects.get(id=result.order_id)


def status_of(order):
    order.refresh_from_db()
    return order.status, order.failure_reason


@pytest.mark.django_db
def test_forward_only_later_wins_and_duplicates_change_nothing(order):
    assert order_status_apply(event=event(order.id, "paid", 1)) is True
    assert order_status_apply(event=event(order.id, "paid", 1)) is False  # redelivered
    assert order_status_apply(event=event(order.id, "fulfilled", 3)) is True
    # Late or backwards: ignored.
    assert order_status_apply(event=event(order.id, "paid", 2)) is False
    assert order_status_apply(event=event(order.id, "failed", 4, "too late")) is False
    assert status_of(order) == ("fulfilled", "")
    order.refresh_from_db()
    assert order.status_changed_at == T0 + timedelta(minutes=3)


@pytest.mark.django_db
def test_out_of_order_delivery_ends_in_the_latest_state(order):
    assert order_status_apply(event=event(order.id, "fulfilled", 5)) is True
    assert order_status_apply(event=event(order.id, "paid", 1)) is False
    assert status_of(order) == ("fulfilled", "")


@pytest.mark.django_db
def test_failed_with_reason(order):
    order_status_apply(event=event(order.id, "failed", 1, "payment declined"))
    assert status_of(order) == ("failed", "payment declined")
    assert order_status_apply(event=event(order.id, "paid", 2)) is False  # failed is final


@pytest.mark.django_db
def test_task_body_rejects_what_breaks_the_contract(order):
    # A unit test of the task body (called directly, no broker).
    assert apply_status(event(order.id, "paid", 1).to_dict()) is True
    with pytest.raises(Reject):
        apply_status({"type": "order.status_changed", "version": 9, "order_id": str(order.id)})
    with pytest.raises(Reject):
        apply_status({**event(order.id, "shipped", 2).to_dict()})
    with pytest.raises(Reject):
        apply_status(event(uuid.uuid4(), "paid", 2).to_dict())
    with pytest.raises(Reject):
        apply_status({**event(order.id, "fulfilled", 2).to_dict(), "occurred_at": "yesterday"})
    assert status_of(order) == ("paid", "")


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_applies_events_from_the_order_queue(sale, manage_process, tmp_path):
    """Events published to RabbitMQ by name reach a real Celery worker of the order service."""
    queue = QueueReader(settings.CELERY_BROKER_URL, messages.ORDER_QUEUE)
    queue.purge()
    client = Client()
    a = sale.sku("A", stock=10)
    r = client.post(
        "/api/orders",
        {"items": [{"sku": a, "quantity": 1}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    order_id = r.json()["order_id"]

    # Published the way fulfillment does: by task name, duplicated and out of order.
    for e in [
        event(order_id, "paid", 1),
        event(order_id, "fulfilled", 3),
        event(order_id, "paid", 1),
        event(order_id, "paid", 2),
    ]:
        app.send_task(messages.ORDER_STATUS_TASK, args=[e.to_dict()])
    app.send_task(messages.ORDER_STATUS_TASK, args=[{"type": "garbage"}])
    dead_before = _dead_count()

    worker = _order_worker(tmp_path)
    try:
        wait_until(lambda: queue.count() == 0, timeout=60, message="order queue not drained")
        time.sleep(0.5)  # the last task acks after its body ran
        body = client.get(f"/api/orders/{order_id}").json()
        assert (body["status"], body["reason"]) == ("fulfilled", None)
        wait_until(lambda: _dead_count() == dead_before + 1, timeout=10, message="no DLQ")
    finally:
        worker.stop()
    assert "order.apply_status" in worker.log()


def _order_worker(tmp_path) -> ManagedProcess:
    """A real Celery worker of the order service on the order queue."""
    return ManagedProcess(
        [
            str(BIN / "celery"),
            "-A",
            "order_service.config.celery_app",
            "worker",
            "--queues",
            messages.ORDER_QUEUE,
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"order-test-{uuid.uuid4().hex[:6]}@%h",
        ],
        env=process_env(),
        cwd=REPO,
        log_path=tmp_path / "worker.log",
    ).start()


def _dead_count() -> int:
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        queue = dead_letter_queue(messages.ORDER_QUEUE)(conn.default_channel)
        queue.declare()
        return queue.queue_declare(passive=True).message_count


@pytest.mark.django_db(transaction=True)
def test_a_nested_json_bomb_on_the_order_queue_is_dead_lettered_and_the_worker_goes_on(
    order, tmp_path
):
    """A hostile body (10 KB of nested arrays) reaches the order worker's decoder: it is
    dead-lettered at once, the worker stays up and applies the next event."""
    from kombu import Producer

    from shared.celery import PLATFORM_EXCHANGE

    queue = QueueReader(settings.CELERY_BROKER_URL, messages.ORDER_QUEUE)
    queue.purge()
    dead_before = _dead_count()
    task_id = str(uuid.uuid4())
    with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        Producer(conn.default_channel).publish(
            ("[" * 5000 + "]" * 5000).encode(),
            exchange=PLATFORM_EXCHANGE,
            routing_key=messages.ORDER_QUEUE,
            content_type="application/json",
            content_encoding="utf-8",
            serializer=None,
            delivery_mode=2,
            headers={"lang": "py", "task": messages.ORDER_STATUS_TASK, "id": task_id},
        )
    app.send_task(messages.ORDER_STATUS_TASK, args=[event(order.id, "paid", 1).to_dict()])
    worker = _order_worker(tmp_path)
    try:
        wait_until(lambda: _dead_count() == dead_before + 1, timeout=60, message="no DLQ")
        wait_until(
            lambda: status_of(order)[0] == "paid", timeout=60, message="event after the bomb"
        )
        assert worker.alive()
    finally:
        worker.stop()
    assert "undecodable message dead-lettered" in worker.log()
