"""Writes of the order service: cart changes, checkout, the outbox, order status.

Checkout (docs/order.md, ADRs 0020-0023) in order:

1. an Idempotency-Key already answered is replayed (same body) or refused (other body);
2. every line is validated against the offer read model (sku, sale window, limit, price);
3. all lines are reserved in Redis by one Lua script (all or none, per-shopper limit);
4. Order, lines, idempotency key and outbox message are written in one statement (atomic);
   if that fails the reservation is released;
5. after commit the message is published (publisher confirms, mandatory); what could not be
   published is left to the outbox relay.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone

from order_service.orders import errors, metrics
from order_service.orders.cart import SessionCart, Shopper
from order_service.orders.models import IdempotencyKey, Order, OrderStatus, OutboxMessage
from order_service.orders.publisher import PublishError, Unroutable, publisher
from order_service.orders.selectors import (
    PricedLine,
    cart_line_check,
    cart_stock_get,
    idempotency_key_find,
    idempotency_key_get,
    offer_line_price,
    offers_check_paused,
    offers_get,
)
from order_service.orders.stores import inventory, locks_client
from shared import messages
from shared.inventory import ReserveLine, reservation_key

logger = logging.getLogger(__name__)


# --- cart ------------------------------------------------------------------------------------


def cart_item_add(*, cart: SessionCart, shopper: Shopper, sku: str, quantity: int) -> int:
    """Add ``quantity`` units of ``sku``; returns the new quantity in the cart."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise errors.InvalidQuantity(sku=sku)
    return cart_item_set(
        cart=cart, shopper=shopper, sku=sku, quantity=cart.quantity(sku) + quantity
    )


def cart_item_set(
    *, cart: SessionCart, shopper: Shopper, sku: str, quantity: int, must_exist: bool = False
) -> int:
    """Set the quantity of ``sku`` after checking that checkout would take it now.

    Refused with checkout's own codes (selectors.cart_line_check): not on sale
    (SALE_NOT_ACTIVE), sold out (SOLD_OUT), over the per-shopper limit counting what this
    shopper already bought in the sale (LIMIT_EXCEEDED), availability unknown
    (STOCK_UNAVAILABLE). The cart is left as it was.
    """
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
) -> CheckoutResult:
    """Accept an order for ``items`` or raise an OrderError having reserved and written nothing.
    Counts the outcome and, for an accepted order, the time it took (orders/metrics.py)."""
    started = time.perf_counter()
    try:
        result = _checkout(
            shopper=shopper,
            items=items,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
            now=now,
        )
    except errors.OrderError as exc:
        metrics.checkout_record(outcome=metrics.checkout_outcome_of(code=exc.code))
        raise
    metrics.checkout_record(
        outcome="replayed" if result.replayed else "accepted",
        seconds=time.perf_counter() - started,
    )
    return result


def _checkout(
    *,
    shopper: Shopper,
    items: dict[str, int],
    idempotency_key: str,
    fingerprint: str,
    now: datetime | None,
) -> CheckoutResult:
    now = now or timezone.now()
    with _idempotency_lock(shopper=shopper, key=idempotency_key):
        # Under the lock: a twin request has either finished (its answer is stored) or is
        # refused by the lock; one query either way.
        stored = idempotency_key_find(shopper_id=shopper.shopper_id, key=idempotency_key)
        if stored is not None and stored.expires_at > now:
            return _replay(stored, fingerprint=fingerprint)
        lines = _checkout_lines(items=items, now=now)
        order_id = uuid.uuid4()
        _reserve(order_id=order_id, shopper=shopper, lines=lines, now=now)
        try:
            result, message = _order_record(
                order_id=order_id,
                shopper=shopper,
                lines=lines,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                expired_key_id=stored.pk if stored is not None else None,
                now=now,
            )
        except IntegrityError:
            inventory().release(reservation_id=order_id)
            # Only the idempotency key can clash: the other request (whose lock expired) won.
            stored = idempotency_key_get(
                shopper_id=shopper.shopper_id, key=idempotency_key, now=timezone.now()
            )
            if stored is None:
                raise
            return _replay(stored, fingerprint=fingerprint)
        except BaseException:
            inventory().release(reservation_id=order_id)
            raise
    # Outside the try: from here on the order is committed and its reservation must stay.
    # Runs at once after the autocommitted statement (or at the end of a caller's
    # transaction). robust: a publishing error is logged, never turned into a failed
    # checkout; the relay publishes the message later.
    transaction.on_commit(lambda: _publish_after_commit(message=message), robust=True)
    return result


def _replay(stored: IdempotencyKey, *, fingerprint: str) -> CheckoutResult:
    if stored.fingerprint != fingerprint:
        raise errors.IdempotencyKeyReused()
    return CheckoutResult(
        status=stored.response_status,
        body=stored.response_body,
        order_id=stored.order_id,
        replayed=True,
    )


class _idempotency_lock:
    """Redis SET NX on the key while a checkout runs: a concurrent twin gets 409 at once
    instead of reserving stock too. The unique constraint stays the real guarantee."""

    _RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"

    def __init__(self, *, shopper: Shopper, key: str):
        digest = hashlib.sha256(f"{shopper.shopper_id}\0{key}".encode()).hexdigest()[:32]
        self.name = f"order:idem-lock:{digest}"
        self.token = uuid.uuid4().hex

    def __enter__(self):
        client = locks_client()
        if not client.set(self.name, self.token, nx=True, ex=settings.IDEMPOTENCY_LOCK_TTL):
            raise errors.IdempotencyKeyInUse()
        return self

    def __exit__(self, *exc_info):
        try:
            locks_client().eval(self._RELEASE, 1, self.name, self.token)
        except Exception:  # noqa: BLE001 - it expires by itself
            logger.warning("could not release idempotency lock %s", self.name, exc_info=True)


def _checkout_lines(*, items: dict[str, int], now: datetime) -> list[PricedLine]:
    if not items:
        raise errors.CartEmpty()
    skus = sorted(items)
    offers = offers_get(skus=skus)
    offers_check_paused(offers=offers)
    lines = [offer_line_price(offer=offers[s], sku=s, quantity=items[s], now=now) for s in skus]
    currencies = {line.currency for line in lines}
    if len(currencies) != 1:
        raise errors.MixedCurrency(currencies=sorted(currencies))
    return lines


def _reserve(*, order_id: uuid.UUID, shopper: Shopper, lines: list[PricedLine], now: datetime):
    ends = [line.sale_ends_at for line in lines if line.sale_ends_at is not None]
    # The per-shopper counters must outlive the sale, or a shopper could buy again later.
    ttl = settings.SHOPPER_COUNTER_TTL
    if ends:
        ttl = max(ttl, int((max(ends) - now).total_seconds()) + 24 * 3600)
    result = inventory().reserve(
        reservation_id=order_id,
        shopper_id=shopper.shopper_id,
        lines=[ReserveLine(line.sku, line.quantity, line.per_shopper_limit) for line in lines],
        shopper_ttl=ttl,
    )
    if result.ok:
        return
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
    expired_key_id: int | None,
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
    insert = {
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
    if expired_key_id is None:
        _order_insert(**insert)  # autocommit: one statement, one round trip, all or nothing
    else:
        with transaction.atomic():
            # An expired key may be reused: forget the old answer first (rare path).
            IdempotencyKey.objects.filter(pk=expired_key_id).delete()
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
    params = {
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
    with connection.cursor() as cursor:
        cursor.execute(_ORDER_INSERT_SQL, params)


def _publish_after_commit(*, message: OutboxMessage) -> None:
    if publisher.backing_off():
        return  # the broker failed moments ago: leave it to the relay, answer fast
    outbox_message_publish(message=message)


# --- outbox ----------------------------------------------------------------------------------


def _retry_delay(attempts: int) -> timedelta:
    # Short and capped: a broker outage should be caught up within seconds of its end.
    return timedelta(seconds=min(5.0, 0.25 * 2**attempts) * random.uniform(0.8, 1.2))


def _message_publish(message: OutboxMessage) -> None:
    publisher.publish(
        task_name=message.task_name,
        queue=message.queue,
        payload=message.payload,
        task_id=str(message.id),
    )


def outbox_message_publish(*, message: OutboxMessage) -> bool:
    """Publish a message this process has just committed, then mark it (one UPDATE).

    No row lock on this hot path: the relay leaves a message alone for
    OUTBOX_RELAY_GRACE seconds after it was written unless an attempt already failed, and
    that grace is longer than a publish can take (connect + confirm timeouts). Should a
    publish ever outlast it, the message goes out twice: delivery is at least once and the
    consumer deduplicates by order id (ADR 0021).
    """
    try:
        _message_publish(message)
    except PublishError as exc:
        logger.warning("outbox message %s left for the relay: %s", message.id, exc)
        OutboxMessage.objects.filter(id=message.id, published_at__isnull=True).update(
            attempts=F("attempts") + 1,
            last_error=str(exc)[:2000],
            next_attempt_at=timezone.now(),
        )
        return False
    # Every checkout runs this: plain SQL spares the ORM's query compilation.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE orders_outboxmessage SET published_at = %s, attempts = attempts + 1 "
            "WHERE id = %s AND published_at IS NULL",
            [timezone.now(), message.id],
        )
    return True


def _record_failure(message: OutboxMessage, exc: Exception) -> None:
    message.attempts += 1
    message.last_error = str(exc)[:2000]
    message.next_attempt_at = timezone.now() + _retry_delay(message.attempts)
    message.save(update_fields=["attempts", "last_error", "next_attempt_at"])


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: int


def outbox_relay_batch(*, limit: int) -> RelayResult:
    """Publish the unpublished messages that are due, oldest first.

    Due: its retry time has come, and either an attempt already failed or it is older than
    the grace the request has to publish it itself. ``FOR UPDATE SKIP LOCKED``: several
    relays take different rows and hold them while publishing. A connection failure ends
    the batch (the broker is down; the rest would fail the same way); a returned message
    only marks that one.
    """
    published = failed = 0
    now = timezone.now()
    grace = timedelta(seconds=settings.OUTBOX_RELAY_GRACE)
    with transaction.atomic():
        batch = list(
            OutboxMessage.objects.select_for_update(skip_locked=True)
            .filter(published_at__isnull=True, next_attempt_at__lte=now)
            .filter(Q(attempts__gt=0) | Q(created_at__lte=now - grace))
            .order_by("next_attempt_at", "created_at")[:limit]
        )
        for message in batch:
            try:
                _message_publish(message)
            except PublishError as exc:
                failed += 1
                _record_failure(message, exc)
                logger.warning("outbox message %s not published: %s", message.id, exc)
                if not isinstance(exc, Unroutable):
                    break
                continue
            message.published_at = timezone.now()
            message.attempts += 1
            message.save(update_fields=["published_at", "attempts"])
            published += 1
    return RelayResult(published=published, failed=failed)


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
