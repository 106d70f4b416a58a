"""Reads of the catalog: a page of products and everything around it, in a fixed number of
queries whatever the page size (the GraphQL loaders call these with a whole page of ids).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet

from shared.offers import Offer

from . import redis_clients
from .models import Category, FlashSale, Product, Review

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rating:
    average: float | None
    count: int


def _storefront_products() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True).select_related("category")


def product_page(
    *,
    first: int,
    after_id: int | None = None,
    category_slug: str | None = None,
    search: str | None = None,
    on_sale: bool | None = None,
    now: datetime,
) -> tuple[list[Product], bool]:
    """One page of products (keyset on id) and whether another page follows: one query."""
    qs = _storefront_products()
    if after_id is not None:
        qs = qs.filter(id__gt=after_id)
    if category_slug:
        qs = qs.filter(category__slug=category_slug)
    if search:
        term = search.strip()
        qs = qs.filter(Q(name__icontains=term) | Q(sku__iexact=term))
    if on_sale is not None:
        active = FlashSale.objects.filter(
            product_id=OuterRef("pk"), starts_at__lte=now, ends_at__gt=now
        )
        qs = qs.filter(Exists(active)) if on_sale else qs.exclude(Exists(active))
    rows = list(qs.order_by("id")[: first + 1])
    return rows[:first], len(rows) > first


def product_get(*, sku: str | None = None, slug: str | None = None) -> Product | None:
    qs = _storefront_products()
    lookup: dict[str, str | None] = {"sku": sku} if sku is not None else {"slug": slug}
    return qs.filter(**lookup).first()


def category_list() -> list[Category]:
    return list(Category.objects.order_by("name"))


def flash_sale_list(*, active: bool | None, now: datetime, limit: int) -> list[FlashSale]:
    """Flash sales by start time, at most ``limit`` (the API's page size cap)."""
    qs = FlashSale.objects.filter(product__is_active=True).select_related(
        "product", "product__category"
    )
    running = Q(starts_at__lte=now, ends_at__gt=now)
    if active is True:
        qs = qs.filter(running)
    elif active is False:
        qs = qs.exclude(running)
    return list(qs.order_by("starts_at", "id")[:limit])


@dataclass(frozen=True)
class ReviewRow:
    id: int
    product_id: int
    rating: int
    title: str
    body: str
    author_name: str
    created_at: datetime


# The per-page reads (reviews, ratings, running sales) are written in SQL: compiling the ORM's
# window query and building a model per row cost about three times the query itself here
# (bench/catalog_graph.py). Table names come from the models, values are parameters.
_NEWEST_REVIEWS_SQL = """
SELECT id, product_id, rating, title, body, author_name, created_at FROM (
    SELECT id, product_id, rating, title, body, author_name, created_at,
           ROW_NUMBER() OVER (PARTITION BY product_id ORDER BY created_at DESC, id DESC) AS rank
    FROM {table} WHERE product_id = ANY(%s)
) AS ranked
WHERE rank <= %s
ORDER BY product_id, rank
"""
_RATING_SQL = """
SELECT product_id, AVG(rating), COUNT(*) FROM {table} WHERE product_id = ANY(%s)
GROUP BY product_id
"""


def review_newest_many(
    *, product_ids: list[int], first: int
) -> dict[int, tuple[list[ReviewRow], bool]]:
    """The ``first`` newest reviews of each product (and whether more exist): one query."""
    if not product_ids or first <= 0:
        return {pid: ([], False) for pid in product_ids}
    out: dict[int, list[ReviewRow]] = {pid: [] for pid in product_ids}
    sql = _NEWEST_REVIEWS_SQL.format(table=connection.ops.quote_name(Review._meta.db_table))
    with connection.cursor() as cursor:
        # one more than asked tells whether there is a next page
        cursor.execute(sql, [list(product_ids), first + 1])
        for row in cursor.fetchall():
            out[row[1]].append(ReviewRow(*row))
    return {pid: (rows[:first], len(rows) > first) for pid, rows in out.items()}


_REVIEWS_AFTER_SQL = """
SELECT r.id, r.product_id, r.rating, r.title, r.body, r.author_name, r.created_at
FROM {table} AS r, {table} AS cursor
WHERE cursor.id = %s AND r.product_id = cursor.product_id AND r.product_id = ANY(%s)
  AND (r.created_at, r.id) < (cursor.created_at, cursor.id)
ORDER BY r.created_at DESC, r.id DESC
LIMIT %s
"""


def review_page_after(
    *, product_ids: list[int], after_id: int, first: int
) -> dict[int, tuple[list[ReviewRow], bool]]:
    """The ``first`` reviews older than review ``after_id`` (keyset on created_at, id): one
    query. A cursor belongs to one product, so only that product gets reviews; the others of
    the page get none (a page of products asks for its next reviews one product at a time).
    """
    out: dict[int, list[ReviewRow]] = {pid: [] for pid in product_ids}
    if product_ids and first > 0:
        table = connection.ops.quote_name(Review._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                _REVIEWS_AFTER_SQL.format(table=table), [after_id, list(product_ids), first + 1]
            )
            for row in cursor.fetchall():
                out[row[1]].append(ReviewRow(*row))
    return {pid: (rows[:first], len(rows) > first) for pid, rows in out.items()}


def rating_many(*, product_ids: list[int]) -> dict[int, Rating]:
    """Average rating and review count per product: one aggregate query."""
    found: dict[int, Rating] = {}
    if product_ids:
        sql = _RATING_SQL.format(table=connection.ops.quote_name(Review._meta.db_table))
        with connection.cursor() as cursor:
            cursor.execute(sql, [list(product_ids)])
            for product_id, average, count in cursor.fetchall():
                found[product_id] = Rating(average=round(float(average), 2), count=count)
    return {pid: found.get(pid, Rating(average=None, count=0)) for pid in product_ids}


@dataclass
class SaleRow:
    """A running flash sale of a page's product (the loader sets ``product`` to it)."""

    id: int
    product_id: int
    sale_price: Decimal
    starts_at: datetime
    ends_at: datetime
    per_shopper_limit: int
    product: Product | None = None


_RUNNING_SALES_SQL = """
SELECT DISTINCT ON (product_id) id, product_id, sale_price, starts_at, ends_at, per_shopper_limit
FROM {table}
WHERE product_id = ANY(%s) AND starts_at <= %s AND ends_at > %s
ORDER BY product_id, starts_at
"""


def flash_sale_active_many(*, product_ids: list[int], now: datetime) -> dict[int, SaleRow]:
    """The flash sale running now for each product that has one: one query."""
    if not product_ids:
        return {}
    sql = _RUNNING_SALES_SQL.format(table=connection.ops.quote_name(FlashSale._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(product_ids), now, now])
        return {row[1]: SaleRow(*row) for row in cursor.fetchall()}


_NEXT_SALES_SQL = """
SELECT DISTINCT ON (product_id) id, product_id, sale_price, starts_at, ends_at, per_shopper_limit
FROM {table}
WHERE product_id = ANY(%s) AND starts_at > %s
ORDER BY product_id, starts_at
"""


def flash_sale_next_many(*, product_ids: list[int], now: datetime) -> dict[int, SaleRow]:
    """The next flash sale not started yet, for each product that has one: one query."""
    if not product_ids:
        return {}
    sql = _NEXT_SALES_SQL.format(table=connection.ops.quote_name(FlashSale._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(product_ids), now])
        return {row[1]: SaleRow(*row) for row in cursor.fetchall()}


def availability_many(*, skus: list[str]) -> dict[str, int | None]:
    """Units available per sku from the Redis read model, one MGET; None where unknown.

    An unknown sku is never guessed (the storefront shows it sold out) and is logged, because
    it means fulfillment has not (re)built that counter from its stock table yet.
    """
    values = redis_clients.inventory().availability_many(skus)
    missing = [sku for sku, value in values.items() if value is None]
    if missing:
        logger.warning(
            "inventory unknown for %d sku(s), shown as sold out until rebuilt: %s",
            len(missing),
            ", ".join(missing[:20]),
            extra={"missing_skus": missing[:100], "missing_count": len(missing)},
        )
    return values


def _format_money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def offer_many(*, products: list[Product], now: datetime) -> list[Offer]:
    """The current offer of each product: the sale running now, else the next one to come.

    Publishing the next sale ahead of time means it starts on the second without anyone
    republishing; the order service checks the window itself (Offer.on_sale_at).
    """
    ids = [p.id for p in products]
    upcoming: dict[int, FlashSale] = {}
    sale: FlashSale | None
    sales = FlashSale.objects.filter(product_id__in=ids, ends_at__gt=now).order_by(
        "product_id", "starts_at"
    )
    for sale in sales:
        upcoming.setdefault(sale.product_id, sale)
    offers = []
    for product in products:
        sale = upcoming.get(product.id)
        offers.append(
            Offer(
                sku=product.sku,
                name=product.name,
                price=_format_money(product.price),
                currency=product.currency,
                sale_price=_format_money(sale.sale_price) if sale else "",
                starts_at=sale.starts_at.isoformat() if sale else "",
                ends_at=sale.ends_at.isoformat() if sale else "",
                per_shopper_limit=sale.per_shopper_limit if sale else 0,
                active=product.is_active,
            )
        )
    return offers
