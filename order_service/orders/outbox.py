"""The order service's outbox: accepted orders for fulfillment (shared/outbox, ADRs 0091-0093).

Checkout writes the OrderAccepted message in the same statement as the order (ADR 0022);
after the commit it only wakes the relay (:func:`outbox_wake`, one Redis ``PUBLISH``): the
request never talks to RabbitMQ. The relay (``manage.py order outbox_relay``) publishes it
with publisher confirms and ``mandatory``, and retries what the broker did not take.
"""

from __future__ import annotations

from order_service.config.celery_app import app
from order_service.orders.models import OutboxMessage
from shared.outbox.relay import Outbox, RelayResult

outbox = Outbox(model=OutboxMessage, app=app, service="order")


def outbox_wake() -> None:
    """After a commit that wrote outbox rows: wake the relay (never raises)."""
    outbox.wake()


def outbox_relay_batch(*, limit: int) -> RelayResult:
    """One sweep of the relay: publish up to ``limit`` due messages."""
    return outbox.relay_batch(limit=limit)
