"""Reads of the order service: offers and availability from Redis, orders from PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

from order_service.orders import errors
from order_service.orders.cart import Shopper
from order_service.orders.models import IdempotencyKey, Order, OrderStatus, OutboxMessage
from order_service.orders.stores import inventory, offers_client
from shared.offers import Offer, get_offers, offers_epoch


@dataclass(frozen=True)
class PricedLine:
    sku: str
    name: str
    quantity: int
    unit_price: Decimal
    currency: str
    per_shopper_limit: int  # 0: none
    sale_ends_at: datetime | None


def offers_get(*, skus: list[str]) -> dict[str, Offer | None]:
    return get_offers(offers_client(), skus) if skus else {}


def sale_paused() -> bool:
    """True while Redis has no rebuilt availability (``inv:epoch``) or no republished offers
    (``offer:epoch``): it came back empty and the rebuild is not done (ADR 0088). Asked only
    when an offer or a counter is missing, so the hot path pays nothing for it."""
    return inventory().epoch() is None or offers_epoch(offers_client()) is None


def offers_check_paused(*, offers: dict[str, Offer | None]) -> None:
    """A missing offer during the rebuild is "paused", not "unknown sku"."""
    if any(offer is None for offer in offers.values()) and sale_paused():
        raise errors.SalePaused()


def offer_line_price(*, offer: Offer | None, sku: str, quantity: int, now: datetime) -> PricedLine:
    """Check that ``quantity`` of ``sku`` may be bought now, and price it.

    A sku whose offer has a flash-sale window is sold only inside that window, at the sale
    price; a sku without a window at its regular price (docs/adr/0020).
    """
    if offer is None:
        raise errors.UnknownSku(sku=sku)
    if not offer.active:
        raise errors.SaleNotActive("This product is not for sale.", sku=sku)
    ends_at = None
    if offer.starts_at or offer.ends_at:
        if not offer.on_sale_at(now):
            raise errors.SaleNotActive(
                sku=sku, starts_at=offer.starts_at or None, ends_at=offer.ends_at or None
            )
        unit_price = Decimal(offer.sale_price)
        ends_at = datetime.fromisoformat(offer.ends_at)
    else:
        unit_price = Decimal(offer.price)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise errors.InvalidQuantity(sku=sku)
    limit = offer.per_shopper_limit or settings.CART_MAX_QUANTITY
    if quantity > limit:
        raise errors.LimitExceeded(sku=sku, limit=limit)
    return PricedLine(
        sku=sku,
        name=offer.name,
        quantity=quantity,
        unit_price=unit_price,
        currency=offer.currency,
        per_shopper_limit=offer.per_shopper_limit,
        sale_ends_at=ends_at,
    )


def cart_line_check(
    *,
    offer: Offer | None,
    sku: str,
    quantity: int,
    now: datetime,
    available: int | None,
    bought: int,
) -> PricedLine:
    """What checkout would say about ``quantity`` of ``sku`` for this shopper, said now.

    The offer rules first (unknown, not on sale, quantity, the limit within the cart), then
    the stock and the limit in the order the reserve script checks them (missing counter,
    sold out, over the limit counting ``bought``: what this shopper already holds in the
    sale), so a cart refuses with the same code the checkout would (docs/order.md).
    Nothing is reserved: stock can still go between now and checkout.
    """
    if offer is None and sale_paused():
        raise errors.SalePaused()
    priced = offer_line_price(offer=offer, sku=sku, quantity=quantity, now=now)
    if available is None:
        if sale_paused():
            raise errors.SalePaused()
        raise errors.StockUnavailable(sku=sku)
    if available < quantity:
        raise errors.SoldOut(sku=sku, available=max(available, 0))
    limit = priced.per_shopper_limit
    if limit and bought + quantity > limit:
        raise errors.LimitExceeded(
            "That would be more than one shopper may buy of this product in this sale.",
            sku=sku,
            limit=limit,
            already_bought=bought,
        )
    return priced


def cart_stock_get(
    *, skus: list[str], shopper: Shopper | None
) -> tuple[dict[str, int | None], dict[str, int]]:
    """Availability of the skus and what this shopper already holds of each (two MGETs)."""
    available = inventory().availability_many(skus)
    if shopper is None or not skus:
        return available, dict.fromkeys(skus, 0)
    bought = inventory().shopper_units_many(shopper_id=shopper.shopper_id, skus=skus)
    return available, bought


@dataclass(frozen=True)
class CartView:
    lines: list[dict]
    total: str
    currency: str | None


def cart_view(
    *, lines: dict[str, int], shopper: Shopper | None = None, now: datetime | None = None
) -> CartView:
    """The cart with current prices and availability (what the shopper sees, not a promise).

    A line checkout would refuse carries that refusal's code in ``problem`` (and no price
    when the offer itself refuses it; a line that is only sold out or over the limit keeps
    its price, so the shopper sees what it was).
    """
    now = now or timezone.now()
    skus = sorted(lines)
    offers = offers_get(skus=skus)
    available, bought = cart_stock_get(skus=skus, shopper=shopper)
    out, total, currencies = [], Decimal("0"), set()
    for sku in skus:
        offer = offers[sku]
        line = {"sku": sku, "quantity": lines[sku], "name": "", "unit_price": None}
        line.update(currency=None, line_total=None, available=available[sku], problem=None)
        line["per_shopper_limit"] = offer.per_shopper_limit if offer is not None else None
        try:
            priced = offer_line_price(offer=offer, sku=sku, quantity=lines[sku], now=now)
        except errors.OrderError as exc:
            line["problem"] = exc.code
            if offer is not None:
                line["name"] = offer.name
            out.append(line)
            continue
        line_total = priced.unit_price * priced.quantity
        line.update(
            name=priced.name,
            unit_price=str(priced.unit_price),
            currency=priced.currency,
            line_total=str(line_total),
        )
        try:
            cart_line_check(
                offer=offer,
                sku=sku,
                quantity=lines[sku],
                now=now,
                available=available[sku],
                bought=bought[sku],
            )
        except errors.OrderError as exc:
            line["problem"] = exc.code
        else:
            total += line_total
            currencies.add(priced.currency)
        out.append(line)
    currency = currencies.pop() if len(currencies) == 1 else None
    return CartView(lines=out, total=str(total), currency=currency)


def order_get_for_shopper(*, order_id: str, shopper: Shopper | None) -> Order:
    """The order, if this shopper (session or customer) placed it; else OrderNotFound.

    A stranger gets the same answer as for an order that does not exist, so order ids
    cannot be probed.
    """
    if shopper is None:
        raise errors.OrderNotFound()
    try:
        order_uuid = uuid.UUID(str(order_id))
    except ValueError as exc:
        raise errors.OrderNotFound() from exc
    order = Order.objects.prefetch_related("lines").filter(id=order_uuid).first()
    if order is None:
        raise errors.OrderNotFound()
    owner = order.shopper_id == shopper.shopper_id or (
        shopper.customer_id is not None and order.customer_id == shopper.customer_id
    )
    if not owner:
        raise errors.OrderNotFound()
    return order


def idempotency_key_find(*, shopper_id: str, key: str) -> IdempotencyKey | None:
    """The remembered answer for this key, expired or not (the caller decides)."""
    return IdempotencyKey.objects.filter(shopper_id=shopper_id, key=key).first()


def idempotency_key_get(*, shopper_id: str, key: str, now: datetime) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(shopper_id=shopper_id, key=key, expires_at__gt=now).first()


@dataclass(frozen=True)
class OutboxBacklog:
    pending: int
    oldest_created_at: datetime | None

    @property
    def oldest_age(self) -> timedelta | None:
        if self.oldest_created_at is None:
            return None
        return timezone.now() - self.oldest_created_at


def outbox_backlog() -> OutboxBacklog:
    """How many messages wait to be published, and since when (admin, metrics, runbook)."""
    agg = OutboxMessage.objects.filter(published_at__isnull=True).aggregate(
        oldest=Min("created_at")
    )
    pending = OutboxMessage.objects.filter(published_at__isnull=True).count()
    return OutboxBacklog(pending=pending, oldest_created_at=agg["oldest"])


def order_oldest_accepted() -> datetime | None:
    """When the oldest order still waiting for fulfillment (accepted: not yet paid,
    fulfilled or failed) was accepted; None when none waits (metrics, runbook)."""
    return Order.objects.filter(status=OrderStatus.ACCEPTED).aggregate(oldest=Min("created_at"))[
        "oldest"
    ]
