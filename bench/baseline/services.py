"""The monolith's checkout: synchronous, in the request, against its one database.

``order_checkout``: lock the stock rows (``SELECT ... FOR UPDATE``, in sku order), check and
decrement them with the order rows in one transaction; call the payment provider outside
any transaction (as fulfillment's gateway requires); then, in a second transaction, the
payment row and two balanced ledger entries, or the stock released if it was declined.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from bench.baseline.models import (
    FlashSale,
    IdempotencyKey,
    LedgerEntry,
    Order,
    OrderLine,
    Payment,
    Product,
    Stock,
)


@dataclass(frozen=True)
class Refusal(Exception):
    status: int
    code: str
    detail: dict


def _prices(*, skus: list[str]) -> dict[str, tuple[Product, Decimal, int]]:
    now = timezone.now()
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus, is_active=True)}
    sales = {
        s.product.sku: s
        for s in FlashSale.objects.select_related("product").filter(
            product__sku__in=skus, starts_at__lte=now, ends_at__gt=now
        )
    }
    out = {}
    for sku in skus:
        if sku not in products:
            raise Refusal(422, "UNKNOWN_SKU", {"sku": sku})
        sale = sales.get(sku)
        price = sale.sale_price if sale else products[sku].price
        out[sku] = (products[sku], price, sale.per_shopper_limit if sale else 0)
    return out


def cart_line_check(*, sku: str, quantity: int) -> tuple[Product, Decimal, int, int]:
    """The checks checkout makes, without locking: the cart refuses what checkout would."""
    product, price, limit = _prices(skus=[sku])[sku]
    stock = Stock.objects.filter(sku=sku).first()
    available = stock.on_hand if stock else 0
    if available < quantity:
        raise Refusal(409, "SOLD_OUT", {"sku": sku, "available": available})
    if limit and quantity > limit:
        raise Refusal(422, "LIMIT_EXCEEDED", {"sku": sku, "limit": limit})
    return product, price, limit, available


def _charge(*, amount: Decimal) -> tuple[bool, str]:
    """The simulated provider: the same latency and decline knobs as fulfillment's."""
    if settings.PAYMENT_LATENCY_MS > 0:
        time.sleep(settings.PAYMENT_LATENCY_MS / 1000)
    declined = settings.PAYMENT_DECLINE_RATE > 0 and random.random() < settings.PAYMENT_DECLINE_RATE
    return not declined, f"sim_{uuid.uuid4().hex[:24]}"


def order_checkout(*, shopper_id: str, items: dict[str, int], idempotency_key: str) -> Order:
    replay = IdempotencyKey.objects.filter(shopper_id=shopper_id, key=idempotency_key).first()
    if replay is not None:
        return replay.order
    skus = sorted(items)
    priced = _prices(skus=skus)
    with transaction.atomic():
        stocks = {
            s.sku: s for s in Stock.objects.select_for_update().filter(sku__in=skus).order_by("sku")
        }
        for sku in skus:
            available = stocks[sku].on_hand if sku in stocks else 0
            if available < items[sku]:
                raise Refusal(409, "SOLD_OUT", {"sku": sku})
            limit = priced[sku][2]
            if limit:
                bought = (
                    OrderLine.objects.filter(order__shopper_id=shopper_id, sku=sku)
                    .exclude(order__status="failed")
                    .aggregate(n=Sum("quantity"))["n"]
                    or 0
                )
                if bought + items[sku] > limit:
                    raise Refusal(422, "LIMIT_EXCEEDED", {"limit": limit, "already_bought": bought})
        for sku in skus:
            Stock.objects.filter(sku=sku).update(on_hand=F("on_hand") - items[sku])
        total = sum(priced[sku][1] * items[sku] for sku in skus)
        order = Order.objects.create(
            shopper_id=shopper_id, status="accepted", total=total, currency="EUR"
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(order=order, sku=sku, quantity=items[sku], unit_price=priced[sku][1])
                for sku in skus
            ]
        )
        IdempotencyKey.objects.create(shopper_id=shopper_id, key=idempotency_key, order=order)
    approved, reference = _charge(amount=order.total)
    with transaction.atomic():
        Payment.objects.create(
            order=order,
            status="approved" if approved else "declined",
            amount=order.total,
            reference=reference,
        )
        if approved:
            LedgerEntry.objects.bulk_create(
                [
                    LedgerEntry(order=order, account="receivable", debit=order.total),
                    LedgerEntry(order=order, account="revenue", credit=order.total),
                ]
            )
            order.status = "paid"
        else:
            for sku in skus:
                Stock.objects.filter(sku=sku).update(on_hand=F("on_hand") + items[sku])
            order.status, order.failure_reason = "failed", "payment_declined"
        order.save(update_fields=["status", "failure_reason"])
    return order
