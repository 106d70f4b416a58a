"""The order service's outbox: accepted orders for fulfillment (shared/outbox, ADRs 0091-0093).

Checkout writes the OrderAccepted message in the same statement as the order (ADR 0022);
after the commit it only wakes the relay (one Redis ``PUBLISH``, inside the script that
ends the checkout when the relay listens on the inventory Redis: :func:`outbox_wake_channel`,
ADR 0107; else :func:`outbox_wake`): the request never talks to RabbitMQ. The relay
(``manage.py order outbox_relay``) publishes it with publisher confirms and ``mandatory``,
and retries what the broker did not take.
"""

from __future__ import annotations

from django.conf import settings

from order_service.config.celery_app import app
from order_service.orders.models import OutboxMessage
from shared.outbox.relay import Outbox, RelayResult

outbox = Outbox(model=OutboxMessage, app=app, service="order")


def outbox_wake() -> None:
    """After a commit that wrote outbox rows: wake the relay (never raises)."""
    outbox.wake()


def outbox_wake_channel() -> str:
    """The relay's wake-up channel when it is on the inventory Redis (the same server: one
    script can end the checkout and wake the relay), else ``""``."""
    if settings.OUTBOX_WAKE_REDIS_URL != settings.INVENTORY_REDIS_URL:
        return ""
    return outbox.wake_channel()


def outbox_relay_batch(*, limit: int) -> RelayResult:
    """One sweep of the relay: publish up to ``limit`` due messages."""
    return outbox.relay_batch(limit=limit)
