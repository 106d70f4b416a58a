"""Helpers for the fulfillment tests: orders as the order service would send them, real
Celery worker processes, and reading the broker's queues."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection
from kombu import Connection

from flashops.processes import ManagedProcess
from shared import messages
from shared.celery import dead_letter_queue, service_queue
from shared.inventory import Inventory, ReserveLine

ROOT = Path(__file__).resolve().parents[2]
CELERY = str(Path(sys.executable).parent / "celery")


def order_payload(
    lines: dict[str, int],
    *,
    order_id: str | None = None,
    shopper_id: str = "shopper-1",
    unit_price: str = "10.00",
    currency: str = "EUR",
    total: str | None = None,
) -> dict:
    if total is None:
        total = str(Decimal(unit_price) * sum(lines.values()))
    return messages.OrderAccepted(
        order_id=order_id or str(uuid.uuid4()),
        shopper_id=shopper_id,
        lines=tuple(
            messages.OrderLine(sku=sku, quantity=q, unit_price=unit_price, currency=currency)
            for sku, q in lines.items()
        ),
        total=total,
        currency=currency,
        accepted_at="2026-11-25T12:00:00+00:00",
    ).to_dict()


def reserve(inventory: Inventory, payload: dict) -> None:
    """Reserve an order's lines in Redis the way the order service does (id = order id)."""
    result = inventory.reserve(
        reservation_id=payload["order_id"],
        shopper_id=payload["shopper_id"],
        lines=[
            ReserveLine(sku=line["sku"], quantity=line["quantity"]) for line in payload["lines"]
        ],
    )
    assert result.ok, result


def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, step=0.2) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def worker_database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT'] or 5432}/{s['NAME']}"


class Worker:
    """A real `celery worker` on the fulfillment queue, in its own process group."""

    def __init__(self, tmp_path: Path, *, broker_url: str | None = None, **env: str):
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        self.log_path = tmp_path / f"worker-{self.name}.log"
        self.process = ManagedProcess(
            [
                CELERY,
                "-A",
                "fulfillment_service.config.celery_app",
                "worker",
                "--queues",
                messages.FULFILLMENT_QUEUE,
                "--concurrency",
                env.pop("CONCURRENCY", "1"),
                "--hostname",
                f"{self.name}@%h",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env={
                "DJANGO_ENV": "test",
                "LOG_LEVEL": "INFO",
                "LOG_FORMAT": "console",
                "FULFILLMENT_DATABASE_URL": worker_database_url(),
                "REDIS_URL": settings.REDIS_URL,
                "INVENTORY_REDIS_URL": settings.INVENTORY_REDIS_URL,
                "CELERY_BROKER_URL": broker_url or settings.CELERY_BROKER_URL,
                "FULFILLMENT_RETRY_BASE_SECONDS": "1",
                "PYTHONUNBUFFERED": "1",
                **env,
            },
            cwd=ROOT,
            log_path=self.log_path,
        )

    def start(self, timeout: float = 60) -> Worker:
        self.process.start()
        wait_until(
            lambda: " ready." in self.process.log() or not self.process.alive(),
            timeout=timeout,
            what="the celery worker to be ready",
        )
        if not self.process.alive():
            raise RuntimeError(f"worker exited:\n{self.process.log()[-4000:]}")
        return self

    def stop(self) -> None:
        self.process.stop(timeout=20)

    def log(self) -> str:
        return self.process.log()


def broker(url: str | None = None) -> Connection:
    return Connection(
        url or settings.CELERY_BROKER_URL,
        connect_timeout=5,
        transport_options={"confirm_publish": True},
    )


def declare_queues(url: str | None = None) -> None:
    with broker(url) as conn:
        channel = conn.default_channel
        for name in (messages.FULFILLMENT_QUEUE, messages.ORDER_QUEUE):
            service_queue(name)(channel).declare()
            dead_letter_queue(name)(channel).declare()


def purge_queues(url: str | None = None) -> None:
    declare_queues(url)
    with broker(url) as conn:
        channel = conn.default_channel
        for name in (messages.FULFILLMENT_QUEUE, messages.ORDER_QUEUE):
            service_queue(name)(channel).purge()
            dead_letter_queue(name)(channel).purge()


def queue_depth(name: str, url: str | None = None) -> int:
    with broker(url) as conn:
        return conn.default_channel.queue_declare(name, passive=True).message_count


def drain_status_events(
    url: str | None = None, limit: int = 10_000, publish: bool = True
) -> list[dict]:
    """Run the outbox relay once (unless ``publish`` is False), then take every
    OrderStatusChanged payload out of the order queue (acked)."""
    if publish:
        from fulfillment_service.fulfillment.services import outbox_publish

        while outbox_publish():
            pass
    events = []
    with broker(url) as conn:
        queue = service_queue(messages.ORDER_QUEUE)(conn.default_channel)
        for _ in range(limit):
            message = queue.get(no_ack=False)
            if message is None:
                break
            assert message.headers["task"] == messages.ORDER_STATUS_TASK
            body = (
                json.loads(message.body) if isinstance(message.body, str | bytes) else message.body
            )
            events.append(body[0][0])
            message.ack()
    return events


def publish_order(payload: dict, *, task_id: str | None = None, app=None) -> str:
    from fulfillment_service.config.celery_app import app as default_app

    result = (app or default_app).send_task(
        messages.PROCESS_ORDER_TASK, args=[payload], task_id=task_id
    )
    return result.id


def publish_raw(body: bytes, *, queue: str, task: str, url: str | None = None) -> str:
    """Publish ``body`` as a Celery task message without encoding it (a hostile producer):
    the worker's decoder is the only thing that looks at it."""
    import uuid

    from kombu import Producer

    from shared.celery import PLATFORM_EXCHANGE

    task_id = str(uuid.uuid4())
    with broker(url) as conn:
        Producer(conn.default_channel).publish(
            body,
            exchange=PLATFORM_EXCHANGE,
            routing_key=queue,
            content_type="application/json",
            content_encoding="utf-8",
            serializer=None,
            delivery_mode=2,
            headers={"lang": "py", "task": task, "id": task_id, "root_id": task_id},
        )
    return task_id
