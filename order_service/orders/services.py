"""Writes of the order service: cart changes, checkout, the outbox, order status.

Checkout (docs/order.md, ADRs 0020-0023, 0097) in order:

1. one Lua script takes the Idempotency-Key's lock, answers a replay from the key's Redis
   marker (same body) or refuses it (other body), reads every line's offer and reserves
   all lines or none (per-shopper limits from the offers);
2. every line is validated against the offers the script read (sku, sale window, limit,
   price); a refused line gives the reservation back;
3. Order, lines, idempotency key and outbox message are written in one statement (atomic);
   the key's unique constraint is the guarantee behind the marker (a clash replays the
   stored answer); if the write fails the reservation is released;
4. the answer is remembered in the marker and the lock released (one round trip);
5. after commit the message is published (publisher confirms, mandatory); what could not be
   published is left to the outbox relay.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from order_service.orders import errors, metrics
from order_service.orders.cart import SessionCart, Shopper
from order_service.orders.models import IdempotencyKey, Order, OrderStatus, OutboxMessage
from order_service.orders.outbox import outbox_wake, outbox_wake_channel
from order_service.orders.selectors import (
    PricedLine,
    cart_line_check,
    cart_stock_get,
    idempotency_key_find,
    offer_line_price,
    offers_check_paused,
    offers_get,
)
from order_service.orders.stores import inventory
from order_service.waitingroom.passes import QueuePass
from order_service.waitingroom.services import (
    rooms_guard_check,
    rooms_guard_refusal,
    rooms_line_guards,
    rooms_shopper_done,
)
from shared import messages
from shared.inventory import (
    ReserveGuard,
    ReserveLine,
    ReserveResult,
    reservation_key,
    shopper_key,
)
from shared.offers import Offer
from shared.prepared import execute_prepared

logger = logging.getLogger(__name__)


# --- cart ------------------------------------------------------------------------------------


def cart_item_add(
    *,
    cart: SessionCart,
    shopper: Shopper,
    sku: str,
    quantity: int,
    passes: Mapping[str, QueuePass] | None = None,
) -> int:
    """Add ``quantity`` units of ``sku``; returns the new quantity in the cart."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise errors.InvalidQuantity(sku=sku)
    return cart_item_set(
        cart=cart,
        shopper=shopper,
        sku=sku,
        quantity=cart.quantity(sku) + quantity,
        passes=passes,
    )


def cart_item_set(
    *,
    cart: SessionCart,
    shopper: Shopper,
    sku: str,
    quantity: int,
    must_exist: bool = False,
    passes: Mapping[str, QueuePass] | None = None,
) -> int:
    """Set the quantity of ``sku`` after checking that checkout would take it now.

    Refused with checkout's own codes (selectors.cart_line_check): not on sale
    (SALE_NOT_ACTIVE), sold out (SOLD_OUT), over the per-shopper limit counting what this
    shopper already bought in the sale (LIMIT_EXCEEDED), availability unknown
    (STOCK_UNAVAILABLE). The cart is left as it was. A sku of a waiting room needs that
    room's pass in ``passes`` (QUEUE_REQUIRED, ACCOUNT_REQUIRED: waitingroom, ADR 0105).
    """
    rooms_guard_check(skus=[sku], holder=shopper.shopper_id, passes=passes)
    lines = cart.lines()
    if must_exist and sku not in lines:
        raise errors.NotInCart(sku=sku)
    if sku not in lines and len(lines) >= settings.CART_MAX_LINES:
        raise errors.CartFull(limit=settings.CART_MAX_LINES)
    offer = offers_get(skus=[sku])[sku]
    if offer is None:
        offers_check_paused(offers={sku: offer})
    now = timezone.now()
    offer_line_price(offer=offer, sku=sku, quantity=quantity, now=now)
    available, bought = cart_stock_get(skus=[sku], shopper=shopper)
    cart_line_check(
        offer=offer,
        sku=sku,
        quantity=quantity,
        now=now,
        available=available[sku],
        bought=bought[sku],
    )
    cart.set(sku, quantity)
    return quantity


def cart_item_remove(*, cart: SessionCart, sku: str) -> None:
    if sku not in cart.lines():
        raise errors.NotInCart(sku=sku)
    cart.remove(sku)


# --- checkout --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    status: int
    body: dict[str, Any]
    order_id: uuid.UUID
    replayed: bool
    rooms: tuple[str, ...] = ()  # the waiting rooms guarding its skus (their places freed)


def request_fingerprint(*, body: Any) -> str:
    """sha256 of the request body in canonical JSON: what "the same request" means."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def order_checkout(
    *,
    shopper: Shopper,
    items: dict[str, int],
    idempotency_key: str,
    fingerprint: str,
    now: datetime | None = None,
    passes: Mapping[str, QueuePass] | None = None,
) -> CheckoutResult:
    """Accept an order for ``items`` or raise an OrderError having reserved and written nothing.
    Counts the outcome and, for an accepted order, the time it took (orders/metrics.py).
    Skus of a waiting room need its pass in ``passes``; an accepted order frees the
    shopper's place in the room's in_flight (waitingroom, ADR 0106)."""
    started = time.perf_counter()
    try:
        result = _checkout(
            shopper=shopper,
            items=items,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
            passes=passes,
        )
    except errors.OrderError as exc:
        metrics.checkout_record(outcome=metrics.checkout_outcome_of(code=exc.code))
        raise
    metrics.checkout_record(
        outcome="replayed" if result.replayed else "accepted",
        seconds=time.perf_counter() - started,
    )
    if result.rooms and not result.replayed:
        _rooms_done(rooms=list(result.rooms), holder=shopper.shopper_id)
    return result


def _rooms_done(*, rooms: list[str], holder: str) -> None:
    try:
        rooms_shopper_done(slugs=rooms, holder=holder)
    except Exception:  # the order stands; the place expires at its deadline instead
        logger.warning("could not free the queue place of %s in %s", holder, rooms, exc_info=True)


def _checkout(
    *,
    shopper: Shopper,
    items: dict[str, int],
    idempotency_key: str,
    fingerprint: str,
    now: datetime | None,
    passes: Mapping[str, QueuePass] | None,
) -> CheckoutResult:
    now = now or timezone.now()
    guard = idempotency_guard(shopper=shopper, key=idempotency_key)
    if not items:
        return _replay_empty_cart(
            shopper=shopper, guard=guard, key=idempotency_key, fingerprint=fingerprint, now=now
        )
    order_id = uuid.uuid4()
    # One round trip (ADRs 0097, 0107): the key's lock, its replay marker, the waiting
    # rooms' guard, the offers and the reservation of every line (all or none, per-shopper
    # limits from the offers).
    skus = sorted(items)
    reserved = inventory().reserve(
        reservation_id=order_id,
        shopper_id=shopper.shopper_id,
        lines=[ReserveLine(sku, _units(items[sku])) for sku in skus],
        shopper_ttl=settings.SHOPPER_COUNTER_TTL,
        guard=guard,
        offer_limits=settings.CART_MAX_QUANTITY,
        line_guards=rooms_line_guards(skus=skus, holder=shopper.shopper_id, passes=passes),
    )
    _refuse_unreserved(reserved, shopper=shopper, passes=passes)
    if reserved.code == "REPLAY":
        return _replay(_marker_load(reserved.marker), fingerprint=fingerprint)
    try:
        lines = _checkout_lines(items=items, offers=reserved.offers or {}, now=now)
        if not reserved.ok:
            _refuse(reserved, lines=lines)  # the script has released the lock already
    except errors.OrderError as refusal:
        if reserved.ok:
            inventory().release(reservation_id=order_id, guard=guard)
        return _replay_refused(
            refusal, shopper=shopper, key=idempotency_key, fingerprint=fingerprint, now=now
        )
    except BaseException:
        if reserved.ok:
            inventory().release(reservation_id=order_id, guard=guard)
        raise
    try:
        result, _message = _order_record(
            order_id=order_id,
            shopper=shopper,
            lines=lines,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
        )
    except _AnsweredBefore as answered:
        inventory().release(reservation_id=order_id, guard=guard)
        return _replay(answered.stored, fingerprint=fingerprint)
    except BaseException:
        inventory().release(reservation_id=order_id, guard=guard)
        raise
    # From here on the order is committed (or is part of the caller's transaction) and its
    # reservation must stay. The relay is woken (one Redis PUBLISH; it publishes the
    # message: the request never waits on RabbitMQ, ADR 0092) by the script that ends the
    # guard when it can be (ADR 0107), else once the commit is done. robust: never a
    # failed checkout.
    _guard_finish(
        guard=guard, shopper=shopper, result=result, fingerprint=fingerprint, lines=lines, now=now
    )
    return replace(result, rooms=reserved.rooms)


def _refuse_unreserved(
    reserved: ReserveResult, *, shopper: Shopper, passes: Mapping[str, QueuePass] | None
) -> None:
    """The script's answers that hold no lock and reserved nothing."""
    if reserved.code == "GUARDED":  # a waiting room's sku without its pass (ADR 0105)
        raise rooms_guard_refusal(sku=reserved.sku, holder=shopper.shopper_id, passes=passes)
    if reserved.code == "PAUSED":  # Redis came back empty, not rebuilt yet (ADR 0088)
        raise errors.SalePaused()
    if reserved.code == "IN_USE":
        raise errors.IdempotencyKeyInUse()


def _replay_empty_cart(
    *, shopper: Shopper, guard: ReserveGuard, key: str, fingerprint: str, now: datetime
) -> CheckoutResult:
    """Nothing to reserve, but it may be the retry of a cart checkout that emptied the
    cart: replay that (rare path: the marker, then the database)."""
    marker = inventory().client.get(guard.marker_key)
    if marker is not None:
        return _replay(_marker_load(marker), fingerprint=fingerprint)
    stored = idempotency_key_find(shopper_id=shopper.shopper_id, key=key)
    if stored is not None and stored.expires_at > now:
        return _replay(stored, fingerprint=fingerprint)
    raise errors.CartEmpty()


def _replay_refused(
    refusal: errors.OrderError, *, shopper: Shopper, key: str, fingerprint: str, now: datetime
) -> CheckoutResult:
    """A refusal may be the retry of an order accepted before (sold out or the sale ended
    since) whose marker is gone: the database says (refusals only)."""
    stored = idempotency_key_find(shopper_id=shopper.shopper_id, key=key)
    if stored is not None and stored.expires_at > now:
        return _replay(stored, fingerprint=fingerprint)
    raise refusal


def _units(quantity: Any) -> int:
    # Not a positive whole number: 0 reserves nothing, the offer check answers why.
    ok = isinstance(quantity, int) and not isinstance(quantity, bool) and quantity >= 1
    return quantity if ok else 0


def _replay(stored: IdempotencyKey | dict[str, Any], *, fingerprint: str) -> CheckoutResult:
    if isinstance(stored, IdempotencyKey):
        stored = {
            "fingerprint": stored.fingerprint,
            "status": stored.response_status,
            "body": stored.response_body,
            "order_id": str(stored.order_id),
        }
    if stored["fingerprint"] != fingerprint:
        raise errors.IdempotencyKeyReused()
    return CheckoutResult(
        status=stored["status"],
        body=stored["body"],
        order_id=uuid.UUID(stored["order_id"]),
        replayed=True,
    )


def _marker_load(raw: bytes | str | None) -> dict[str, Any]:
    return json.loads(raw or "{}")


def idempotency_guard(*, shopper: Shopper, key: str) -> ReserveGuard:
    """The Redis lock held while a checkout with this key runs (a concurrent twin gets 409
    at once instead of reserving stock too) and the marker remembering its answer (a retry
    is replayed without a database query). The unique constraint on the key stays the real
    guarantee: a marker lost with Redis only costs a lookup (ADR 0097)."""
    digest = hashlib.sha256(f"{shopper.shopper_id}\0{key}".encode()).hexdigest()[:32]
    return ReserveGuard(
        lock_key=f"order:idem-lock:{digest}",
        marker_key=f"order:idem:{digest}",
        token=uuid.uuid4().hex,
        lock_ttl=settings.IDEMPOTENCY_LOCK_TTL,
    )


def _guard_finish(
    *,
    guard: ReserveGuard,
    shopper: Shopper,
    result: CheckoutResult,
    fingerprint: str,
    lines: list[PricedLine],
    now: datetime,
) -> None:
    """Remember the answer, release the lock and wake the relay."""
    marker = json.dumps(
        {
            "fingerprint": fingerprint,
            "status": result.status,
            "body": result.body,
            "order_id": str(result.order_id),
        }
    )
    # The per-shopper counters must outlive the sale, or a shopper could buy again later:
    # the script gave them SHOPPER_COUNTER_TTL; a longer sale lengthens them here.
    ends = [line.sale_ends_at for line in lines if line.sale_ends_at is not None]
    ttl = int((max(ends) - now).total_seconds()) + 24 * 3600 if ends else 0
    counters = []
    if ttl > settings.SHOPPER_COUNTER_TTL:
        counters = [shopper_key(line.sku, shopper.shopper_id) for line in lines]
    if connection.in_atomic_block:
        # The caller's transaction may still roll back: remember the answer only once it
        # has committed; the lock (and the counters' life) cannot wait for that.
        _guard_release(guard=guard, marker="", counters=counters, counter_ttl=ttl)
        transaction.on_commit(lambda: _guard_release(guard=guard, marker=marker), robust=True)
        transaction.on_commit(outbox_wake, robust=True)
        return
    channel = outbox_wake_channel()
    _guard_release(guard=guard, marker=marker, counters=counters, counter_ttl=ttl, wake=channel)
    if not channel:
        outbox_wake()


def _guard_release(
    *,
    guard: ReserveGuard,
    marker: str,
    counters: list[str] | None = None,
    counter_ttl: int = 0,
    wake: str = "",
) -> None:
    try:
        inventory().guard_finish(
            guard=guard,
            marker=marker,
            marker_ttl=settings.IDEMPOTENCY_KEY_TTL,
            extend_counters=counters,
            counter_ttl=counter_ttl,
            wake_channel=wake,
        )
    except Exception:
        # A relay not woken polls (OUTBOX_POLL_INTERVAL): the message is late, not lost.
        logger.warning("could not release idempotency lock %s", guard.lock_key, exc_info=True)


def _checkout_lines(
    *, items: dict[str, int], offers: dict[str, dict[str, str]], now: datetime
) -> list[PricedLine]:
    skus = sorted(items)
    parsed = {s: Offer.from_hash(offers[s]) if offers.get(s) else None for s in skus}
    offers_check_paused(offers=parsed)
    lines = [
        offer_line_price(
            offer=parsed[s],
            sku=s,
            quantity=items[s],
            now=now,
        )
        for s in skus
    ]
    currencies = {line.currency for line in lines}
    if len(currencies) != 1:
        raise errors.MixedCurrency(currencies=sorted(currencies))
    return lines


def _refuse(result: ReserveResult, *, lines: list[PricedLine]) -> NoReturn:
    by_sku = {line.sku: line for line in lines}
    if result.code == "SOLD_OUT":
        raise errors.SoldOut(sku=result.sku)
    if result.code == "LIMIT_EXCEEDED":
        raise errors.LimitExceeded(
            "That would be more than one shopper may buy of this product in this sale.",
            sku=result.sku,
            limit=by_sku[result.sku].per_shopper_limit if result.sku in by_sku else None,
        )
    if result.code == "PAUSED":
        raise errors.SalePaused()
    if result.code == "MISSING":
        raise errors.StockUnavailable(sku=result.sku)
    raise RuntimeError(f"unexpected reservation result {result.code} for a new order id")


def _order_record(
    *,
    order_id: uuid.UUID,
    shopper: Shopper,
    lines: list[PricedLine],
    idempotency_key: str,
    fingerprint: str,
    now: datetime,
) -> tuple[CheckoutResult, OutboxMessage]:
    currency = lines[0].currency
    total = sum((line.unit_price * line.quantity for line in lines), Decimal("0"))
    body = {
        "order_id": str(order_id),
        "status": OrderStatus.ACCEPTED.value,
        "status_url": reverse("api:order-detail", kwargs={"order_id": str(order_id)}),
    }
    payload = messages.OrderAccepted(
        order_id=str(order_id),
        shopper_id=shopper.shopper_id,
        lines=tuple(
            messages.OrderLine(
                sku=line.sku,
                quantity=line.quantity,
                unit_price=str(line.unit_price),
                currency=line.currency,
            )
            for line in lines
        ),
        total=str(total),
        currency=currency,
        accepted_at=now.isoformat(),
    ).to_dict()
    message = OutboxMessage(
        order_id=order_id,
        task_name=messages.PROCESS_ORDER_TASK,
        queue=messages.FULFILLMENT_QUEUE,
        payload=payload,
        created_at=now,
    )
    insert: dict[str, Any] = {
        "order_id": order_id,
        "shopper": shopper,
        "lines": lines,
        "total": total,
        "currency": currency,
        "message": message,
        "idempotency_key": idempotency_key,
        "fingerprint": fingerprint,
        "response_body": body,
        "now": now,
    }
    try:
        _order_insert_once(**insert)  # autocommit: one statement, one round trip
    except IntegrityError:
        # Only the idempotency key can clash: its marker was lost (Redis restarted, or the
        # process died before writing it) or the remembered answer has expired.
        stored = idempotency_key_find(shopper_id=shopper.shopper_id, key=idempotency_key)
        if stored is None:
            raise
        if stored.order_id == order_id:
            # This very order: its statement committed, the connection broke before the
            # answer came back, and the one retry (shared/prepared.py) found it written.
            return CheckoutResult(status=202, body=body, order_id=order_id, replayed=False), message
        if stored.expires_at > timezone.now():
            raise _AnsweredBefore(stored) from None
        with transaction.atomic():
            # An expired key may be reused: forget the old answer first (rare path).
            IdempotencyKey.objects.filter(pk=stored.pk, expires_at__lte=now).delete()
            _order_insert(**insert)
    return CheckoutResult(status=202, body=body, order_id=order_id, replayed=False), message


# One statement: the order, its lines, its outbox message and the idempotency key are
# written together in a single round trip (a statement is atomic by itself; the foreign keys
# are DEFERRABLE INITIALLY DEFERRED, checked at commit). Django's ORM would need six round
# trips (BEGIN, four INSERTs, COMMIT) on the hottest path of the sale (ADR 0022).
_ORDER_INSERT_SQL = """
WITH new_order AS (
    INSERT INTO orders_order
        (id, shopper_id, customer_id, status, failure_reason, total, currency, created_at)
    VALUES (%(order_id)s, %(shopper_id)s, %(customer_id)s, %(status)s, '', %(total)s,
            %(currency)s, %(now)s)
), new_lines AS (
    INSERT INTO orders_orderline (order_id, sku, quantity, unit_price, currency)
    SELECT %(order_id)s, sku, quantity, unit_price, currency
    FROM unnest(%(skus)s::text[], %(quantities)s::integer[], %(prices)s::numeric[],
                %(currencies)s::text[]) AS line(sku, quantity, unit_price, currency)
), new_message AS (
    INSERT INTO orders_outboxmessage
        (id, order_id, task_name, queue, payload, created_at, attempts, next_attempt_at,
         last_error)
    VALUES (%(message_id)s, %(order_id)s, %(task_name)s, %(queue)s, %(payload)s::jsonb,
            %(now)s, 0, %(now)s, '')
)
INSERT INTO orders_idempotencykey
    (shopper_id, key, fingerprint, order_id, response_status, response_body, created_at,
     expires_at)
VALUES (%(shopper_id)s, %(key)s, %(fingerprint)s, %(order_id)s, 202, %(body)s::jsonb,
        %(now)s, %(expires_at)s)
"""


class _AnsweredBefore(Exception):
    def __init__(self, stored: IdempotencyKey):
        super().__init__(stored.key)
        self.stored = stored


def _order_insert_once(**insert: Any) -> None:
    """The insert alone (autocommit), or in a savepoint inside a caller's transaction so
    that a clash of the key leaves that transaction usable."""
    if connection.in_atomic_block:
        with transaction.atomic():
            _order_insert(**insert)
    else:
        _order_insert(**insert)


def _order_insert(
    *,
    order_id: uuid.UUID,
    shopper: Shopper,
    lines: list[PricedLine],
    total: Decimal,
    currency: str,
    message: OutboxMessage,
    idempotency_key: str,
    fingerprint: str,
    response_body: dict[str, Any],
    now: datetime,
) -> None:
    params: dict[str, Any] = {
        "order_id": order_id,
        "shopper_id": shopper.shopper_id,
        "customer_id": shopper.customer_id,
        "status": OrderStatus.ACCEPTED.value,
        "total": total,
        "currency": currency,
        "now": now,
        "skus": [line.sku for line in lines],
        "quantities": [line.quantity for line in lines],
        "prices": [line.unit_price for line in lines],
        "currencies": [line.currency for line in lines],
        "message_id": message.id,
        "task_name": message.task_name,
        "queue": message.queue,
        "payload": json.dumps(message.payload),
        "key": idempotency_key,
        "fingerprint": fingerprint,
        "body": json.dumps(response_body),
        "expires_at": now + timedelta(seconds=settings.IDEMPOTENCY_KEY_TTL),
    }
    # Prepared once per connection, no health-check round trip first (ADR 0112).
    execute_prepared(connection, _ORDER_INSERT_SQL, params)


# --- maintenance (run by the outbox relay) ---------------------------------------------


def reservations_release_orphans(*, seen: dict[str, float], min_age: float) -> int:
    """Give back reservations whose order was never recorded (the process died between the
    Redis reservation and the database write). Returns how many were released.

    A reservation without an order is released only when it was already orphaned at an
    earlier sweep at least ``min_age`` seconds ago: a checkout in flight commits its order
    within a request timeout (30 s), far sooner. ``seen`` carries the first sighting of
    each orphan from one sweep to the next (losing it only delays the release).
    """
    client = inventory().client
    ids: set[str] = set()
    for key in client.scan_iter(match=reservation_key("*"), count=1000):
        ids.add(key.removeprefix(reservation_key("")))
    valid = set()
    for raw in ids:
        try:
            valid.add(uuid.UUID(raw))
        except ValueError:
            continue  # not an order id: not ours to judge
    recorded = {str(i) for i in Order.objects.filter(id__in=valid).values_list("id", flat=True)}
    orphans = {str(i) for i in valid} - recorded
    for stale in set(seen) - orphans:
        del seen[stale]
    now = time.monotonic()
    released = 0
    for order_id in orphans:
        first_seen = seen.setdefault(order_id, now)
        if now - first_seen >= min_age and first_seen != now:
            units = inventory().release(reservation_id=order_id)
            logger.warning("released orphan reservation %s (%s units)", order_id, units)
            del seen[order_id]
            released += 1
    return released


def idempotency_keys_expire(*, now: datetime | None = None) -> int:
    """Delete remembered answers older than IDEMPOTENCY_KEY_TTL; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


# --- status (events from fulfillment) --------------------------------------------------------

_RANK = {
    OrderStatus.ACCEPTED: 0,
    OrderStatus.PAID: 1,
    OrderStatus.FULFILLED: 2,
    OrderStatus.FAILED: 2,
}


def order_status_apply(*, event: messages.OrderStatusChanged) -> bool:
    """Apply a status event at least once delivered, in any order; True if it changed the order.

    Never backwards: an event is applied only if it moves the order forward
    (accepted -> paid -> fulfilled, or to failed from accepted/paid) and is not older than
    the last event applied. Redelivered or stale events change nothing.
    """
    occurred_at = datetime.fromisoformat(event.occurred_at)
    if occurred_at.tzinfo is None:
        raise messages.ContractError("occurred_at must carry a time zone")
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(id=event.order_id).first()
        if order is None:
            raise errors.OrderNotFound(order_id=event.order_id)
        new = OrderStatus(event.status)
        if _RANK[new] <= _RANK[OrderStatus(order.status)]:
            return False
        if order.status_changed_at is not None and occurred_at < order.status_changed_at:
            return False
        order.status = new
        order.failure_reason = event.reason if new == OrderStatus.FAILED else ""
        order.status_changed_at = occurred_at
        order.save(update_fields=["status", "failure_reason", "status_changed_at"])
        return True
