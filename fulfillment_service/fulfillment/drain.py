"""The order flow for a batch of OrderAccepted deliveries, exactly once per order
(ADR 0030 for the guarantees, ADR 0094 for the batch).

:func:`order_process_batch` takes the payloads of several deliveries (the worker's prefetch
window, see tasks.py) and answers one :class:`BatchItem` per payload, in order:

1. **parse**: a payload that is not an OrderAccepted is that item's ContractError (poison:
   the task dead-letters that message only);
2. **dedupe**: one query for the processed markers of the whole batch; an order that has
   one is only *settled* again;
3. **validate**: one query for the skus of the whole batch; an invalid order fails with its
   reason and is charged nothing;
4. **charge**, outside any transaction, idempotent by key, the calls **overlapped** on a
   thread pool (``FULFILLMENT_CHARGE_CONCURRENCY``; a provider has latency). A transient
   provider error is that item's error (the task retries that message only); a decline
   fails that order;
5. **one** ``transaction.atomic`` for every order of the batch: the markers (one
   ``INSERT ... ON CONFLICT DO NOTHING``: an order a concurrent delivery committed first
   drops out as a duplicate), the stock rows locked in sku order and allocated order by
   order (an order the system of record cannot supply drops out and is refunded and failed
   ``out_of_stock`` after the commit, on its own), one ``UPDATE ... FROM (VALUES ...)``
   for the stock, then payments, ledger transactions and entries, shipments and outbox
   events, each one multi-row INSERT. One WAL flush for the batch;
6. **settle** after the commit: every Redis reservation committed or released in one
   pipeline.

A crash anywhere is healed as for a single order: before the commit nothing of ours was
written and the provider remembers each charge; after it, the redelivered messages find
their markers and only settle. Should the batch transaction fail for a reason that is not
transient (a bug, a constraint), each order is run again on its own, so that one bad order
cannot fail the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, connections, transaction
from django.utils import timezone

from fulfillment_service.fulfillment.errors import TransientError
from fulfillment_service.fulfillment.gateway import (
    ChargeResult,
    PaymentGateway,
    gateway_from_settings,
)
from fulfillment_service.fulfillment.ledger import ledger_record_sales
from fulfillment_service.fulfillment.models import (
    Payment,
    ProcessedMessage,
    Shipment,
    Stock,
)
from fulfillment_service.fulfillment.outbox import outbox_add_many
from fulfillment_service.fulfillment.services import (
    ProcessResult,
    crash_point,
    order_fail,
    outbox_publish,
    payment_key,
)
from fulfillment_service.fulfillment.stock import (
    inventory_client,
    stock_deduct_many,
    stock_lock_many,
)
from shared import messages
from shared.inventory import Inventory

logger = logging.getLogger(__name__)

Outcome = ProcessedMessage.Outcome
# What a database or connection blip looks like: the whole batch is worth retrying.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError, TransientError)


@dataclass(frozen=True)
class BatchItem:
    """The answer for one payload: a result (ack the message) or an error (ContractError:
    dead-letter it; a transient error: retry it; anything else: dead-letter it)."""

    result: ProcessResult | None = None
    error: BaseException | None = None


@dataclass
class _Order:
    index: int
    order_id: uuid.UUID
    order: messages.OrderAccepted
    total: Decimal = Decimal(0)
    lines: list[tuple[str, int]] = field(default_factory=list)
    charge: ChargeResult | None = None

    @property
    def key(self) -> str:
        return payment_key(self.order_id)


@dataclass
class _Failure:
    order: _Order
    reason: str
    detail: str
    payment: Payment | None = None


def order_process_batch(
    *,
    payloads: Sequence[dict],
    gateway: PaymentGateway | None = None,
    inventory: Inventory | None = None,
) -> list[BatchItem]:
    """Apply several OrderAccepted deliveries, each exactly once (module docstring).

    Raises only for what concerns the whole batch and is worth retrying (database
    connection lost...); every per-order problem is in its item."""
    if connection.in_atomic_block:
        raise RuntimeError("order_process_batch must run outside any database transaction")
    gateway = gateway or gateway_from_settings()
    inventory = inventory or inventory_client()
    try:
        return _batch(payloads, gateway, inventory)
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception:
        if len(payloads) == 1:
            raise
        logger.exception("batch of %d failed; processing its orders one by one", len(payloads))
        return [_single(p, gateway, inventory) for p in payloads]


def _single(payload: dict, gateway: PaymentGateway, inventory: Inventory) -> BatchItem:
    try:
        return _batch([payload], gateway, inventory)[0]
    except Exception as exc:  # noqa: BLE001 - the error is this order's answer
        return BatchItem(error=exc)


# One pass over a batch in delivery order (dedupe, validate, charge, write, settle):
# split further, the order of effects is harder to follow.
def _batch(  # noqa: C901
    payloads: Sequence[dict], gateway: PaymentGateway, inventory: Inventory
) -> list[BatchItem]:
    items: list[BatchItem | None] = [None] * len(payloads)
    orders: list[_Order] = []
    seen: dict[uuid.UUID, int] = {}
    repeats: list[tuple[int, uuid.UUID]] = []  # the same order twice in one batch
    for index, payload in enumerate(payloads):
        try:
            order = messages.OrderAccepted.from_dict(payload)
            try:
                order_id = uuid.UUID(order.order_id)
            except (ValueError, TypeError, AttributeError) as exc:
                raise messages.ContractError(f"order_id {order.order_id!r} is not a uuid") from exc
        except messages.ContractError as exc:
            items[index] = BatchItem(error=exc)
            continue
        if order_id in seen:
            repeats.append((index, order_id))
            continue
        seen[order_id] = index
        orders.append(_Order(index, order_id, order))

    # settle[order_id] = outcome, for everything whose outcome is committed (ours or not).
    settle: dict[uuid.UUID, str] = {}
    done = (
        dict(
            ProcessedMessage.objects.filter(order_id__in=list(seen)).values_list(
                "order_id", "outcome"
            )
        )
        if seen
        else {}
    )
    fresh = []
    for o in orders:
        if o.order_id in done:
            settle[o.order_id] = done[o.order_id]
            items[o.index] = BatchItem(ProcessResult(str(o.order_id), "duplicate"))
        else:
            fresh.append(o)

    skus = {line.sku for o in fresh for line in o.order.lines if isinstance(line.sku, str)}
    known = (
        set(Stock.objects.filter(sku__in=sorted(skus)).values_list("sku", flat=True))
        if skus
        else set()
    )
    failures: list[_Failure] = []
    to_charge: list[_Order] = []
    for o in fresh:
        try:
            o.total, o.lines = _order_validate(o.order, known=known)
        except _InvalidOrder as invalid:
            failures.append(_Failure(o, invalid.reason, str(invalid)))
            continue
        to_charge.append(o)

    approved: list[_Order] = []
    for o, charge in zip(to_charge, _charge_many(gateway, to_charge), strict=True):
        if isinstance(charge, BaseException):
            items[o.index] = BatchItem(error=charge)
            continue
        o.charge = charge
        if charge.approved:
            approved.append(o)
        else:
            payment = _payment_row(o, gateway, Payment.Status.DECLINED)
            failures.append(_Failure(o, "payment_declined", charge.decline_code, payment))

    fulfilled, failed, short, raced = _batch_write(approved, failures, gateway)
    for o in fulfilled + [f.order for f in failed]:
        crash_point("after_commit", o.order_id)
    for o in fulfilled:
        settle[o.order_id] = Outcome.FULFILLED
        items[o.index] = BatchItem(ProcessResult(str(o.order_id), "fulfilled"))
    for f in failed:
        logger.info("order %s failed: %s %s", f.order.order_id, f.reason, f.detail)
        settle[f.order.order_id] = Outcome.FAILED
        items[f.order.index] = BatchItem(ProcessResult(str(f.order.order_id), "failed", f.reason))
    if raced:
        # A concurrent delivery of these orders committed first: only settle them.
        settle.update(
            ProcessedMessage.objects.filter(order_id__in=[o.order_id for o in raced]).values_list(
                "order_id", "outcome"
            )
        )
        for o in raced:
            items[o.index] = BatchItem(ProcessResult(str(o.order_id), "duplicate"))

    try:
        inventory.settle_many(
            committed=[oid for oid, outcome in settle.items() if outcome == Outcome.FULFILLED],
            released=[oid for oid, outcome in settle.items() if outcome != Outcome.FULFILLED],
        )
    except Exception as exc:  # noqa: BLE001 - Redis down: every settled item retries (idempotent)
        for oid in settle:
            items[seen[oid]] = BatchItem(error=exc)
    if settings.FULFILLMENT_OUTBOX_INLINE:
        for oid in settle:
            outbox_publish(order_id=oid)

    for o in short:
        # Charged but the system of record cannot supply (e.g. Redis was rebuilt while
        # orders were in flight): give the money back, then fail the order on its own.
        try:
            gateway.refund(idempotency_key=o.key)
            items[o.index] = BatchItem(
                order_fail(
                    order_id=o.order_id,
                    reason="out_of_stock",
                    detail=f"not enough stock for {o.lines}",
                    inventory=inventory,
                    payment=_payment_row(o, gateway, Payment.Status.REFUNDED),
                )
            )
        except Exception as exc:  # noqa: BLE001 - this order's answer; the others stand
            items[o.index] = BatchItem(error=exc)

    for index, order_id in repeats:
        first = items[seen[order_id]]
        items[index] = (
            BatchItem(ProcessResult(str(order_id), "duplicate"))
            if first is not None and first.result is not None
            else first
        )
    assert all(item is not None for item in items)
    return items  # type: ignore[return-value]


# The batch transaction in statement order; each branch is one set-based statement.
def _batch_write(  # noqa: C901
    approved: list[_Order], failures: list[_Failure], gateway: PaymentGateway
) -> tuple[list[_Order], list[_Failure], list[_Order], list[_Order]]:
    """The batch's one transaction; returns (fulfilled, failed, short of stock, raced)."""
    if not approved and not failures:
        return [], [], [], []
    now = timezone.now()
    with transaction.atomic():
        inserted = _markers_insert(
            [(o.order_id, Outcome.FULFILLED, "", "") for o in approved]
            + [(f.order.order_id, Outcome.FAILED, f.reason, f.detail[:2000]) for f in failures],
            now,
        )
        raced = [o for o in approved if o.order_id not in inserted]
        raced += [f.order for f in failures if f.order.order_id not in inserted]
        approved = [o for o in approved if o.order_id in inserted]
        failures = [f for f in failures if f.order.order_id in inserted]

        fulfilled: list[_Order] = []
        short: list[_Order] = []
        if approved:
            on_hand = stock_lock_many(skus=[s for o in approved for s, _ in o.lines])
            for o in approved:  # in delivery order: the first come are served first
                if all(on_hand.get(s, 0) >= q for s, q in o.lines):
                    for s, q in o.lines:
                        on_hand[s] -= q
                    fulfilled.append(o)
                else:
                    short.append(o)
            if short:
                ProcessedMessage.objects.filter(order_id__in=[o.order_id for o in short]).delete()
            wanted: Counter[str] = Counter()
            for o in fulfilled:
                for s, q in o.lines:
                    wanted[s] += q
            stock_deduct_many(quantities=dict(wanted))

        Payment.objects.bulk_create(
            [_payment_row(o, gateway, Payment.Status.CAPTURED) for o in fulfilled]
            + [f.payment for f in failures if f.payment is not None]
        )
        ledger_record_sales(
            sales=[(o.order_id, o.total, o.order.currency, o.lines) for o in fulfilled]
        )
        Shipment.objects.bulk_create(
            Shipment(order_id=o.order_id, lines=[{"sku": s, "quantity": q} for s, q in o.lines])
            for o in fulfilled
        )
        events: list[tuple[uuid.UUID, str, dt.datetime, str]] = []
        for o in fulfilled:
            events += [
                (o.order_id, "paid", now, ""),
                (o.order_id, "fulfilled", now + dt.timedelta(microseconds=1), ""),
            ]
        events += [(f.order.order_id, "failed", now, f.reason) for f in failures]
        # The whole batch's status events in one INSERT; one relay wake-up after commit.
        outbox_add_many(events=events)
        for o in fulfilled + [f.order for f in failures]:
            crash_point("before_commit", o.order_id)
    return fulfilled, failures, short, raced


def _markers_insert(
    rows: Sequence[tuple[uuid.UUID, str, str, str]], now: dt.datetime
) -> set[uuid.UUID]:
    """The processed markers of the batch in one statement; returns the order ids whose
    marker this transaction wrote (the others were committed by a concurrent delivery).
    Rows go in order-id order so that two batches sharing orders lock them in one order."""
    rows = sorted(rows)
    table = ProcessedMessage._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list[Any] = []
    for order_id, outcome, reason, detail in rows:
        params += [order_id, outcome, reason, detail, now]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (order_id, outcome, reason, detail, processed_at) "  # noqa: S608 - table name from the model
            f"VALUES {values} ON CONFLICT (order_id) DO NOTHING RETURNING order_id",
            params,
        )
        return {row[0] for row in cursor.fetchall()}


# --- payments, overlapped ----------------------------------------------------------------


_CHARGE_POOLS: dict[int, ThreadPoolExecutor] = {}


def _charge_pool(size: int) -> ThreadPoolExecutor:
    pool = _CHARGE_POOLS.get(size)
    if pool is None:
        pool = _CHARGE_POOLS[size] = ThreadPoolExecutor(
            max_workers=size, thread_name_prefix="charge"
        )
    return pool


def charge_pools_shutdown() -> None:
    """Close the charge threads' database connections and stop the threads (each thread
    holds its own provider connection; a test database cannot be dropped while they are
    open). The next batch starts a new pool."""
    while _CHARGE_POOLS:
        size, pool = _CHARGE_POOLS.popitem()
        barrier = threading.Barrier(size)

        def close(barrier: threading.Barrier = barrier) -> None:
            barrier.wait(timeout=10)  # one task per thread: each closes its own
            connections.close_all()

        for _ in range(size):
            pool.submit(close)
        pool.shutdown(wait=True)


def _charge_one(gateway: PaymentGateway, o: _Order) -> ChargeResult | BaseException:
    try:
        return gateway.charge(
            idempotency_key=o.key,
            amount=o.total,
            currency=o.order.currency,
            shopper_id=o.order.shopper_id,
        )
    except Exception as exc:  # noqa: BLE001 - the error is this order's answer
        if isinstance(exc, OperationalError | InterfaceError):
            connections.close_all()  # this thread's connections: the next call reconnects
        return exc


def _charge_many(
    gateway: PaymentGateway, orders: list[_Order]
) -> list[ChargeResult | BaseException]:
    """Charge each order (idempotent by key), the provider calls overlapped: a provider
    answers in tens of milliseconds, and one batch must not wait for them one after the
    other. ``FULFILLMENT_CHARGE_CONCURRENCY=1`` calls them in turn, in this thread."""
    size = settings.FULFILLMENT_CHARGE_CONCURRENCY
    if size <= 1 or len(orders) <= 1:
        return [_charge_one(gateway, o) for o in orders]
    return list(_charge_pool(size).map(lambda o: _charge_one(gateway, o), orders))


# --- validation ----------------------------------------------------------------------------


class _InvalidOrder(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def _order_validate(
    order: messages.OrderAccepted, *, known: set[str]
) -> tuple[Decimal, list[tuple[str, int]]]:
    """The order's total and its (sku, quantity) lines sorted by sku (a fixed lock order
    keeps concurrent workers from deadlocking on the stock rows). ``known``: the skus that
    have a stock row."""
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
    unknown = sorted(set(lines) - known)
    if unknown:
        raise _InvalidOrder("unknown_sku", f"unknown sku(s): {', '.join(unknown)}")
    return total, sorted(lines.items())


def _payment_row(o: _Order, gateway: PaymentGateway, status: str) -> Payment:
    charge = o.charge
    assert charge is not None
    return Payment(
        order_id=o.order_id,
        idempotency_key=o.key,
        amount=o.total,
        currency=o.order.currency,
        status=status,
        provider=gateway.name,
        provider_reference=charge.reference,
        decline_code=charge.decline_code,
    )
