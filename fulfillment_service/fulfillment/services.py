"""Every write of the fulfillment domain.

The order flow (:func:`order_process`), run by the Celery task for each OrderAccepted
delivery, at least once:

1. dedupe: an order with a processed marker is only *settled* again (Redis reservation
   committed or released, pending events published), all idempotent;
2. validate the order (unknown sku, bad quantity, total that does not add up...): an invalid
   order fails cleanly with a reason;
3. charge through the gateway with the idempotency key ``order:<id>``, **outside** any
   database transaction (a provider call inside one would hold locks for its latency and
   could not be rolled back anyway);
4. one ``transaction.atomic``: processed marker, payment, stock deduction (conditional
   UPDATE), balanced ledger transaction, shipment ``pending``, outbox events;
5. after commit: commit the Redis reservation, publish the events (the relay sweep
   re-publishes whatever this step did not).

A crash between 3 and 4 is healed by the redelivery (the provider returns the same charge);
a crash between 4 and 5, or before the ack, is healed by the dedupe step of the redelivery.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from fulfillment_service.fulfillment.errors import InsufficientStock, UnknownSku
from fulfillment_service.fulfillment.gateway import (
    ChargeResult,
    PaymentGateway,
    gateway_from_settings,
)
from fulfillment_service.fulfillment.models import (
    LedgerEntry,
    LedgerTransaction,
    Payment,
    ProcessedMessage,
    Shipment,
    Stock,
    StockReceipt,
)
from fulfillment_service.fulfillment.outbox import outbox_add_many, outbox_publish
from shared import messages
from shared.inventory import Inventory

logger = logging.getLogger(__name__)

Account = LedgerEntry.Account


@cache
def inventory_client() -> Inventory:
    return Inventory.from_url(
        settings.INVENTORY_REDIS_URL,
        socket_timeout=settings.REDIS_TIMEOUT,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
    )


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
    """Apply one OrderAccepted delivery exactly once (see the module docstring).

    Raises ContractError for a payload that is not an OrderAccepted (poison: the task
    dead-letters it) and TransientError subclasses / database or Redis connection errors
    for what is worth retrying."""
    order = messages.OrderAccepted.from_dict(payload)
    try:
        order_id = uuid.UUID(order.order_id)
    except ValueError as exc:
        raise messages.ContractError(f"order_id {order.order_id!r} is not a uuid") from exc
    gateway = gateway or gateway_from_settings()
    inventory = inventory or inventory_client()

    if ProcessedMessage.objects.filter(order_id=order_id).exists():
        order_settle(order_id=order_id, inventory=inventory)
        return ProcessResult(str(order_id), "duplicate")

    try:
        total, lines = _order_validate(order)
    except _InvalidOrder as invalid:
        return _order_fail(
            order_id=order_id, reason=invalid.reason, detail=str(invalid), inventory=inventory
        )

    if connection.in_atomic_block:
        raise RuntimeError("order_process must run outside any database transaction")
    key = payment_key(order_id)
    charge = gateway.charge(
        idempotency_key=key, amount=total, currency=order.currency, shopper_id=order.shopper_id
    )
    if not charge.approved:
        return _order_fail(
            order_id=order_id,
            reason="payment_declined",
            detail=charge.decline_code,
            inventory=inventory,
            payment=_payment_row(order_id, key, total, order.currency, gateway, charge),
        )

    try:
        with transaction.atomic():
            ProcessedMessage.objects.create(
                order_id=order_id, outcome=ProcessedMessage.Outcome.FULFILLED
            )
            payment = _payment_row(order_id, key, total, order.currency, gateway, charge)
            payment.save()
            for sku, quantity in lines:
                stock_deduct(sku=sku, quantity=quantity)
            ledger_record_sale(order_id=order_id, total=total, currency=order.currency, lines=lines)
            Shipment.objects.create(
                order_id=order_id, lines=[{"sku": s, "quantity": q} for s, q in lines]
            )
            now = timezone.now()
            _outbox_add(
                order_id,
                [("paid", now, ""), ("fulfilled", now + dt.timedelta(microseconds=1), "")],
            )
            crash_point("before_commit", order_id)
    except IntegrityError:
        if ProcessedMessage.objects.filter(order_id=order_id).exists():
            # A concurrent delivery of the same order committed first: nothing more to do.
            order_settle(order_id=order_id, inventory=inventory)
            return ProcessResult(str(order_id), "duplicate")
        raise
    except InsufficientStock as exc:
        # Charged but the system of record cannot supply (e.g. Redis was rebuilt while
        # orders were in flight): give the money back, then fail the order cleanly.
        gateway.refund(idempotency_key=key)
        payment = _payment_row(order_id, key, total, order.currency, gateway, charge)
        payment.status = Payment.Status.REFUNDED
        return _order_fail(
            order_id=order_id,
            reason="out_of_stock",
            detail=str(exc),
            inventory=inventory,
            payment=payment,
        )
    crash_point("after_commit", order_id)
    order_settle(order_id=order_id, inventory=inventory, outcome=ProcessedMessage.Outcome.FULFILLED)
    return ProcessResult(str(order_id), "fulfilled")


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


def _order_fail(
    *,
    order_id: uuid.UUID,
    reason: str,
    detail: str,
    inventory: Inventory,
    payment: Payment | None = None,
) -> ProcessResult:
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


class _InvalidOrder(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _order_validate(order: messages.OrderAccepted) -> tuple[Decimal, list[tuple[str, int]]]:
    """The order's total and its (sku, quantity) lines sorted by sku (a fixed lock order
    keeps concurrent workers from deadlocking on the stock rows)."""
    if not order.lines:
        raise _InvalidOrder("invalid_order", "order has no lines")
    lines: dict[str, int] = {}
    expected = Decimal(0)
    try:
        total = Decimal(order.total)
        for line in order.lines:
            quantity = line.quantity
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                raise _InvalidOrder("invalid_quantity", f"{line.sku}: quantity {quantity!r}")
            if line.sku in lines:
                raise _InvalidOrder("invalid_order", f"sku {line.sku} appears twice")
            if line.currency != order.currency:
                raise _InvalidOrder("currency_mismatch", f"{line.sku} in {line.currency}")
            lines[line.sku] = quantity
            expected += Decimal(line.unit_price) * quantity
    except (InvalidOperation, TypeError) as exc:
        raise _InvalidOrder("invalid_amount", f"not a decimal amount: {exc}") from exc
    if (
        not total.is_finite()
        or total <= 0
        or total != expected
        or int(total.as_tuple().exponent) < -2
    ):
        raise _InvalidOrder("total_mismatch", f"total {order.total} but lines add up to {expected}")
    known = set(Stock.objects.filter(sku__in=list(lines)).values_list("sku", flat=True))
    unknown = sorted(set(lines) - known)
    if unknown:
        raise _InvalidOrder("unknown_sku", f"unknown sku(s): {', '.join(unknown)}")
    return total, sorted(lines.items())


def _payment_row(
    order_id: uuid.UUID,
    key: str,
    total: Decimal,
    currency: str,
    gateway: PaymentGateway,
    charge: ChargeResult,
) -> Payment:
    return Payment(
        order_id=order_id,
        idempotency_key=key,
        amount=total,
        currency=currency,
        status=Payment.Status.CAPTURED if charge.approved else Payment.Status.DECLINED,
        provider=gateway.name,
        provider_reference=charge.reference,
        decline_code=charge.decline_code,
    )


# --- stock -------------------------------------------------------------------------------


def stock_deduct(*, sku: str, quantity: int) -> None:
    """Take units out of the system of record, or raise InsufficientStock (never below 0:
    the conditional UPDATE decides under concurrency, the CHECK constraint backs it)."""
    updated = Stock.objects.filter(sku=sku, on_hand__gte=quantity).update(
        on_hand=F("on_hand") - quantity
    )
    if updated != 1:
        raise InsufficientStock(sku, quantity)


def stock_receive(*, sku: str, quantity: int, source: str, create: bool = False) -> Stock:
    """Add received units to PostgreSQL (one transaction). ``create`` allows a new sku."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    with transaction.atomic():
        updated = Stock.objects.filter(sku=sku).update(
            on_hand=F("on_hand") + quantity, received=F("received") + quantity
        )
        if not updated:
            if not create:
                raise UnknownSku(sku)
            Stock.objects.create(sku=sku, on_hand=quantity, received=quantity)
        StockReceipt.objects.create(sku_id=sku, quantity=quantity, source=source)
        return Stock.objects.get(sku=sku)


@dataclass(frozen=True)
class RestockResult:
    sku: str
    on_hand: int
    received: int
    available: int
    rebuilt: bool  # True when the Redis counter was missing and rebuilt from PostgreSQL


def stock_restock(
    *,
    sku: str,
    quantity: int,
    source: str = "restock",
    create: bool = False,
    inventory: Inventory | None = None,
) -> RestockResult:
    """Receive units: PostgreSQL first (the system of record), then the Redis counter.

    If the Redis step fails after the commit, the invariant checker sees the drift and its
    repair adds the missing units (the units are in PostgreSQL, so nothing is lost)."""
    from fulfillment_service.fulfillment.invariants import stock_available_rebuild

    inventory = inventory or inventory_client()
    stock = stock_receive(sku=sku, quantity=quantity, source=source, create=create)
    available = inventory.restock(sku=sku, quantity=quantity)
    rebuilt = available is None
    if available is None:
        available = stock_available_rebuild(skus=[sku], inventory=inventory)[sku]
    return RestockResult(sku, stock.on_hand, stock.received, available, rebuilt)


# --- ledger ------------------------------------------------------------------------------


def ledger_record_sale(
    *, order_id: uuid.UUID, total: Decimal, currency: str, lines: list[tuple[str, int]]
) -> LedgerTransaction:
    """Money: receivable (debit) against revenue (credit). Units: sold (debit) against
    inventory (credit), per sku. The database refuses the commit if either side is off."""
    txn = LedgerTransaction.objects.create(
        order_id=order_id, kind=LedgerTransaction.Kind.SALE, description="order sale"
    )
    entries = [
        LedgerEntry(transaction=txn, account=Account.RECEIVABLE, currency=currency, amount=total),
        LedgerEntry(transaction=txn, account=Account.REVENUE, currency=currency, amount=-total),
    ]
    for sku, quantity in lines:
        entries.append(
            LedgerEntry(transaction=txn, account=Account.SOLD, sku=sku, quantity=quantity)
        )
        entries.append(
            LedgerEntry(transaction=txn, account=Account.INVENTORY, sku=sku, quantity=-quantity)
        )
    LedgerEntry.objects.bulk_create(entries)
    return txn


def ledger_reverse(*, transaction_id: int, description: str = "reversal") -> LedgerTransaction:
    """Cancel a transaction with a new, mirror-image one (rows are never edited). Must run
    inside the caller's transaction together with whatever the reversal means (stock back,
    refund record); a second reversal of the same transaction is refused (UNIQUE)."""
    original = LedgerTransaction.objects.get(pk=transaction_id)
    reversal = LedgerTransaction.objects.create(
        order_id=original.order_id,
        kind=LedgerTransaction.Kind.REVERSAL,
        reverses=original,
        description=description,
    )
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            transaction=reversal,
            account=e.account,
            sku=e.sku,
            currency=e.currency,
            amount=-e.amount,
            quantity=-e.quantity,
        )
        for e in original.entries.all()
    )
    return reversal


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
