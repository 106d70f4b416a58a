"""Fulfillment's outbox: status events for the order service (shared/outbox, ADRs 0091-0093).

The worker writes the events in the transaction that decided them (:func:`outbox_add_many`)
and, after the commit, wakes the relay (one Redis ``PUBLISH``); the relay process
(``manage.py fulfillment outbox_relay``) publishes them in confirmed batches. A crash after
the publish and before the mark publishes those events again; the order service applies
events idempotently (later ``occurred_at`` wins).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from fulfillment_service.config.celery_app import app
from fulfillment_service.fulfillment.models import OutboxEvent
from shared import messages
from shared.celery import TASK_ROUTES
from shared.outbox.publisher import BatchPublisher, Outgoing
from shared.outbox.relay import Outbox

outbox = Outbox(model=OutboxEvent, app=app, service="fulfillment")

# (order id, status, occurred_at, reason): one status event of one order.
StatusEvent = tuple[uuid.UUID, str, dt.datetime, str]


def outbox_add_many(*, events: Iterable[StatusEvent]) -> int:
    """Queue status events of one or many orders in the caller's transaction (one INSERT)
    and wake the relay once that transaction commits; returns how many were queued."""
    rows = [
        OutboxEvent(
            order_id=order_id,
            task_name=messages.ORDER_STATUS_TASK,
            queue=messages.ORDER_QUEUE,
            payload=messages.OrderStatusChanged(
                order_id=str(order_id),
                status=messages.OrderStatus(status).value,
                occurred_at=at.isoformat(),
                reason=reason,
            ).to_dict(),
        )
        for order_id, status, at, reason in events
    ]
    if rows:
        OutboxEvent.objects.bulk_create(rows)
        outbox.wake_on_commit()
    return len(rows)


def outbox_publish(
    *, order_id: uuid.UUID | None = None, older_than: float | None = None, limit: int = 500
) -> int:
    """One relay sweep over the due events (of one order, or older than ``older_than``
    seconds, when given); returns how many were published. What the broker did not take
    stays unpublished, with its error and a next attempt after a backoff."""
    where = Q()
    if order_id is not None:
        where &= Q(order_id=order_id)
    if older_than is not None:
        where &= Q(created_at__lt=timezone.now() - dt.timedelta(seconds=older_than))
    return outbox.relay_batch(limit=limit, where=where).published


class PublishNotConfirmed(Exception):
    """The broker did not confirm every message of a batch (nack, return or timeout)."""


# Replaced by the one shared confirmed publisher (issue 11): not split here.
def publish_confirmed(
    items: list[tuple[str, dict]], *, broker_url: str | None = None, timeout: float = 10.0
) -> None:
    """Publish Celery task messages ``(task name, payload)`` with the outbox's confirmed
    batch publisher, outside any outbox (bench/fulfillment_drain.py loads its backlog so);
    raise unless the broker confirmed every one."""
    publisher = BatchPublisher(
        app=app,
        connect_timeout=settings.BROKER_CONNECT_TIMEOUT,
        confirm_timeout=timeout,
        broker_url=broker_url,
    )
    try:
        failures = publisher.publish(
            [
                Outgoing(
                    task_id=str(uuid.uuid4()),
                    task_name=name,
                    queue=TASK_ROUTES[name]["queue"],
                    payload=payload,
                )
                for name, payload in items
            ]
        )
    finally:
        publisher.close()
    if failures:
        raise PublishNotConfirmed(
            f"{len(failures)} of {len(items)} not confirmed: {next(iter(failures.values()))}"
        )
