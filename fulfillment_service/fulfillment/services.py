"""The order's writes outside the batch flow, and the pieces the flow shares.

The fulfillment domain is split by concern (docs/fulfillment.md):

* :mod:`.drain`: the order flow itself, for a batch of deliveries (``order_process`` here
  is that flow with a batch of one);
* :mod:`.stock`: stock deductions, receipts and restocks (PostgreSQL, then Redis);
* :mod:`.ledger`: sales and reversals in the double-entry ledger;
* here: settling an outcome in Redis, failing an order, cancelling one, the outbox of
  status events, and the test-only crash hook.

Names of :mod:`.stock` and :mod:`.ledger` are re-exported here for existing callers.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fulfillment_service.fulfillment.gateway import PaymentGateway, gateway_from_settings
from fulfillment_service.fulfillment.ledger import ledger_reverse
from fulfillment_service.fulfillment.models import (
    LedgerTransaction,
    Payment,
    ProcessedMessage,
    Shipment,
    Stock,
)
from fulfillment_service.fulfillment.outbox import outbox_add_many, outbox_publish
from fulfillment_service.fulfillment.stock import inventory_client
from shared.inventory import Inventory

logger = logging.getLogger(__name__)


def payment_key(order_id: str | uuid.UUID) -> str:
    return f"order:{order_id}"


@dataclass(frozen=True)
class ProcessResult:
    order_id: str
    outcome: str  # fulfilled | failed | duplicate
    reason: str = ""


# --- the order flow ----------------------------------------------------------------------


def order_process(
    *,
    payload: dict,
    gateway: PaymentGateway | None = None,
    inventory: Inventory | None = None,
) -> ProcessResult:
    """Apply one OrderAccepted delivery exactly once: the batch flow
    (:func:`.drain.order_process_batch`) with a batch of one.

    Raises ContractError for a payload that is not an OrderAccepted (poison: the task
    dead-letters it) and TransientError subclasses / database or Redis connection errors
    for what is worth retrying."""
    from fulfillment_service.fulfillment.drain import order_process_batch

    [item] = order_process_batch(payloads=[payload], gateway=gateway, inventory=inventory)
    if item.error is not None:
        raise item.error
    assert item.result is not None
    return item.result


def order_settle(
    *, order_id: uuid.UUID, inventory: Inventory | None = None, outcome: str | None = None
) -> None:
    """What follows a committed outcome, idempotent so that any redelivery can redo it:
    the Redis reservation is committed (sold) or released (failed), events are published."""
    inventory = inventory or inventory_client()
    if outcome is None:
        outcome = ProcessedMessage.objects.get(order_id=order_id).outcome
    if outcome == ProcessedMessage.Outcome.FULFILLED:
        inventory.commit(reservation_id=order_id)
    else:
        inventory.release(reservation_id=order_id)
    if settings.FULFILLMENT_OUTBOX_INLINE:
        outbox_publish(order_id=order_id)


def order_fail(
    *,
    order_id: uuid.UUID,
    reason: str,
    detail: str,
    inventory: Inventory,
    payment: Payment | None = None,
) -> ProcessResult:
    """Fail one order on its own (marker, payment record if any, ``failed`` event), then
    release its reservation. Used where an order leaves the batch after its commit."""
    try:
        with transaction.atomic():
            ProcessedMessage.objects.create(
                order_id=order_id,
                outcome=ProcessedMessage.Outcome.FAILED,
                reason=reason,
                detail=detail[:2000],
            )
            if payment is not None:
                payment.save()
            _outbox_add(order_id, [("failed", timezone.now(), reason)])
            crash_point("before_commit", order_id)
    except IntegrityError:
        if not ProcessedMessage.objects.filter(order_id=order_id).exists():
            raise
        order_settle(order_id=order_id, inventory=inventory)
        return ProcessResult(str(order_id), "duplicate")
    logger.info("order %s failed: %s %s", order_id, reason, detail)
    crash_point("after_commit", order_id)
    order_settle(order_id=order_id, inventory=inventory, outcome=ProcessedMessage.Outcome.FAILED)
    return ProcessResult(str(order_id), "failed", reason)


def order_cancel(
    *,
    order_id: uuid.UUID,
    gateway: PaymentGateway | None = None,
    inventory: Inventory | None = None,
) -> bool:
    """Cancel a fulfilled order whose shipment has not left: refund, reverse the sale in
    the ledger, put the units back on hand and on sale, tell the order service. Returns
    False when there is nothing to cancel (already cancelled, shipped or never fulfilled)."""
    gateway = gateway or gateway_from_settings()
    inventory = inventory or inventory_client()
    with transaction.atomic():
        shipment = (
            Shipment.objects.select_for_update()
            .filter(order_id=order_id, status=Shipment.Status.PENDING)
            .first()
        )
        if shipment is None:
            return False
        sale = LedgerTransaction.objects.get(order_id=order_id, kind=LedgerTransaction.Kind.SALE)
        ledger_reverse(transaction_id=sale.pk, description="order cancelled")
        for line in shipment.lines:
            Stock.objects.filter(sku=line["sku"]).update(on_hand=F("on_hand") + line["quantity"])
        shipment.status = Shipment.Status.CANCELLED
        shipment.save(update_fields=["status", "updated_at"])
        Payment.objects.filter(order_id=order_id).update(
            status=Payment.Status.REFUNDED, updated_at=timezone.now()
        )
        _outbox_add(order_id, [("failed", timezone.now(), "cancelled")])
    # The refund is idempotent by key; if it fails here the admin action can be re-run
    # for the refund only (the ledger side is already final).
    gateway.refund(idempotency_key=payment_key(order_id))
    for line in shipment.lines:
        if inventory.restock(sku=line["sku"], quantity=line["quantity"]) is None:
            from fulfillment_service.fulfillment.invariants import stock_available_rebuild

            stock_available_rebuild(skus=[line["sku"]], inventory=inventory)
    return True


# --- outbox ------------------------------------------------------------------------------


def _outbox_add(order_id: uuid.UUID, events: list[tuple[str, dt.datetime, str]]) -> None:
    """Queue status events (status, occurred_at, reason) of one order in the caller's
    transaction; the relay publishes them after the commit (see :mod:`.outbox`)."""
    outbox_add_many(events=[(order_id, status, at, reason) for status, at, reason in events])


# --- test-only crash hook ----------------------------------------------------------------


def crash_point(name: str, order_id: uuid.UUID) -> None:
    """Test-only fault injection: ``kill -9`` this process at a named point.

    ``FULFILLMENT_CRASH_AT`` lists points (``before_commit``, ``after_commit``);
    ``FULFILLMENT_CRASH_ORDERS`` limits it to some order ids (default: every order);
    ``FULFILLMENT_CRASH_ONCE_DIR`` makes it crash once per order and point (a marker file
    survives the killed process). Ignored in production settings."""
    points = os.environ.get("FULFILLMENT_CRASH_AT", "")
    if not points or name not in points.split(","):
        return
    if os.environ.get("DJANGO_ENV") == "production":
        return
    only = os.environ.get("FULFILLMENT_CRASH_ORDERS", "")
    if only and str(order_id) not in only.split(","):
        return
    once_dir = os.environ.get("FULFILLMENT_CRASH_ONCE_DIR", "")
    if once_dir:
        try:
            (Path(once_dir) / f"{name}-{order_id}").touch(exist_ok=False)
        except FileExistsError:
            return
    logger.warning("crash hook %s: killing pid %s for order %s", name, os.getpid(), order_id)
    os.kill(os.getpid(), signal.SIGKILL)
