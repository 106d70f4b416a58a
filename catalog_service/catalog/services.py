"""Writes of the catalog. Every change to a product or a flash sale republishes that
product's offer (shared.offers) once the transaction has committed, so the order service
prices carts from what the catalog really sells, and never from a rolled-back edit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

import redis
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from shared.offers import offer_key, offers_epoch_set, publish_offers, redis_run_id

from . import redis_clients, selectors
from .errors import CatalogError, FlashSaleInvalid
from .models import Category, FlashSale, Product, Review

logger = logging.getLogger(__name__)

OFFER_BATCH = 500


# --- offers ------------------------------------------------------------------------------


def offer_publish_many(*, product_ids: Iterable[int] | None = None) -> int:
    """Publish the offers of these products (all products when None); returns how many."""
    qs = Product.objects.order_by("id")
    if product_ids is not None:
        qs = qs.filter(id__in=list(product_ids))
    now = timezone.now()
    client = redis_clients.offers_client()
    run_id = redis_run_id(client) if product_ids is None else None
    published = 0
    batch: list[Product] = []
    for product in qs.iterator(chunk_size=OFFER_BATCH):
        batch.append(product)
        if len(batch) == OFFER_BATCH:
            publish_offers(client, selectors.offer_many(products=batch, now=now))
            published += len(batch)
            batch = []
    if batch:
        publish_offers(client, selectors.offer_many(products=batch, now=now))
        published += len(batch)
    if run_id is not None:
        # Every offer is in: the order service may sell again after an empty restart.
        offers_epoch_set(client, run_id=run_id)
    return published


def _publish_after_commit(product_ids: list[int]) -> None:
    def publish() -> None:
        try:
            offer_publish_many(product_ids=product_ids)
        except redis.RedisError:
            # The edit is committed; the offer catches up with `manage.py catalog
            # publish_offers`. Failing the admin save would not undo the commit.
            logger.exception(
                "offer publish failed for product ids %s; run `manage.py catalog publish_offers`",
                product_ids,
            )

    transaction.on_commit(publish)


def _withdraw_after_commit(skus: list[str]) -> None:
    def withdraw() -> None:
        try:
            redis_clients.offers_client().delete(*[offer_key(s) for s in skus])
        except redis.RedisError:
            logger.exception("offer withdrawal failed for %s", skus)

    transaction.on_commit(withdraw)


# --- categories --------------------------------------------------------------------------


def category_save(*, category: Category) -> Category:
    if not category.slug:
        category.slug = slugify(category.name)
    category.full_clean()
    category.save()
    return category


def category_create(*, name: str, slug: str | None = None) -> Category:
    return category_save(category=Category(name=name, slug=slug or ""))


# --- products ----------------------------------------------------------------------------


@transaction.atomic
def product_save(*, product: Product) -> Product:
    """Validate and save a product (new or edited), then republish its offer."""
    if not product.slug:
        product.slug = slugify(f"{product.name}-{product.sku}")
    product.currency = (product.currency or "").upper()
    product.full_clean()
    product.save()
    _publish_after_commit([product.id])
    return product


def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    category: Category,
    currency: str = "EUR",
    slug: str | None = None,
    description: str = "",
    images: list[str] | None = None,
    attributes: dict | None = None,
    is_active: bool = True,
) -> Product:
    product = Product(
        sku=sku,
        slug=slug or "",
        name=name,
        description=description,
        images=list(images or []),
        attributes=dict(attributes or {}),
        price=price,
        currency=currency,
        category=category,
        is_active=is_active,
    )
    return product_save(product=product)


_PRODUCT_FIELDS = {
    "name",
    "slug",
    "description",
    "images",
    "attributes",
    "price",
    "currency",
    "category",
    "is_active",
}


def product_update(*, product: Product, **changes) -> Product:
    unknown = set(changes) - _PRODUCT_FIELDS
    if unknown:
        raise CatalogError(f"cannot change {sorted(unknown)}", code="FIELD_NOT_EDITABLE")
    for field, value in changes.items():
        setattr(product, field, value)
    return product_save(product=product)


@transaction.atomic
def product_delete(*, product: Product) -> None:
    sku = product.sku
    product.delete()
    _withdraw_after_commit([sku])


# --- reviews -----------------------------------------------------------------------------


def review_save(*, review: Review) -> Review:
    review.full_clean()
    review.save()
    return review


def review_create(
    *,
    product: Product,
    rating: int,
    title: str,
    author_name: str,
    body: str = "",
    created_at: datetime | None = None,
) -> Review:
    review = Review(
        product=product,
        rating=rating,
        title=title,
        body=body,
        author_name=author_name,
        created_at=created_at or timezone.now(),
    )
    return review_save(review=review)


# --- flash sales -------------------------------------------------------------------------


def flash_sale_validate(
    *,
    product: Product,
    sale_price: Decimal | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    exclude_id: int | None = None,
) -> None:
    """Raise FlashSaleInvalid unless the sale is a real discount in a window of its own."""
    if sale_price is None or starts_at is None or ends_at is None:
        raise FlashSaleInvalid(
            "sale price, start and end are required", code="FLASH_SALE_INCOMPLETE"
        )
    if ends_at <= starts_at:
        raise FlashSaleInvalid("a flash sale must end after it starts", field="ends_at")
    if sale_price <= 0 or sale_price >= product.price:
        raise FlashSaleInvalid(
            f"the sale price must be above 0 and below the regular price {product.price}",
            field="sale_price",
        )
    overlapping = FlashSale.objects.filter(
        product=product, starts_at__lt=ends_at, ends_at__gt=starts_at
    )
    if exclude_id is not None:
        overlapping = overlapping.exclude(id=exclude_id)
    if overlapping.exists():
        raise FlashSaleInvalid(
            "another flash sale of this product overlaps this window", code="FLASH_SALE_OVERLAP"
        )


@transaction.atomic
def flash_sale_save(*, flash_sale: FlashSale) -> FlashSale:
    """Validate and save a flash sale, then republish the product's offer.

    The product row is locked so that two concurrent edits cannot both pass the overlap
    check (the one place this service takes a row lock).
    """
    product = Product.objects.select_for_update().get(id=flash_sale.product_id)
    flash_sale_validate(
        product=product,
        sale_price=flash_sale.sale_price,
        starts_at=flash_sale.starts_at,
        ends_at=flash_sale.ends_at,
        exclude_id=flash_sale.id,
    )
    flash_sale.full_clean()
    flash_sale.save()
    _publish_after_commit([product.id])
    return flash_sale


def flash_sale_create(
    *,
    product: Product,
    sale_price: Decimal,
    starts_at: datetime,
    ends_at: datetime,
    per_shopper_limit: int = 0,
) -> FlashSale:
    return flash_sale_save(
        flash_sale=FlashSale(
            product=product,
            sale_price=sale_price,
            starts_at=starts_at,
            ends_at=ends_at,
            per_shopper_limit=per_shopper_limit,
        )
    )


@transaction.atomic
def flash_sale_delete(*, flash_sale: FlashSale) -> None:
    product_id = flash_sale.product_id
    flash_sale.delete()
    _publish_after_commit([product_id])


# --- sale control (the admin's "start now", "end now", "extend"): ADR 0066 ----------------

SALE_EXTEND_MAX_MINUTES = 7 * 24 * 60


def _flash_sale_locked(flash_sale: FlashSale) -> FlashSale:
    """The sale as it is now in the database (another edit may have moved it), read under
    its product's row lock: the same lock, taken first, as every other sale write."""
    Product.objects.select_for_update().get(id=flash_sale.product_id)
    return FlashSale.objects.select_related("product").get(id=flash_sale.id)


@transaction.atomic
def flash_sale_start_now(*, flash_sale: FlashSale, now: datetime | None = None) -> FlashSale:
    """Open an upcoming sale at once (it keeps its end); the offer is republished."""
    now = now or timezone.now()
    sale = _flash_sale_locked(flash_sale)
    if sale.starts_at <= now:
        code = "FLASH_SALE_RUNNING" if sale.ends_at > now else "FLASH_SALE_ENDED"
        raise FlashSaleInvalid(
            "this sale has already started; extend it instead"
            if sale.ends_at > now
            else "this sale has ended; extend it to run it again",
            code=code,
        )
    sale.starts_at = now
    return flash_sale_save(flash_sale=sale)


@transaction.atomic
def flash_sale_end_now(*, flash_sale: FlashSale, now: datetime | None = None) -> FlashSale:
    """Close a running sale at once; the offer is republished (the sale price stops)."""
    now = now or timezone.now()
    sale = _flash_sale_locked(flash_sale)
    if not sale.is_active_at(now):
        raise FlashSaleInvalid(
            "only a running sale can be ended now", code="FLASH_SALE_NOT_RUNNING"
        )
    # ends_at must stay after starts_at (a constraint): a sale started this very microsecond
    # ends one microsecond later.
    sale.ends_at = max(now, sale.starts_at + timedelta(microseconds=1))
    return flash_sale_save(flash_sale=sale)


@transaction.atomic
def flash_sale_extend(
    *, flash_sale: FlashSale, minutes: int, now: datetime | None = None
) -> FlashSale:
    """Move the end ``minutes`` later (an ended sale reopens if the new end is ahead)."""
    if not 1 <= minutes <= SALE_EXTEND_MAX_MINUTES:
        raise FlashSaleInvalid(
            f"extend by 1 to {SALE_EXTEND_MAX_MINUTES} minutes", code="FLASH_SALE_EXTEND_RANGE"
        )
    now = now or timezone.now()
    sale = _flash_sale_locked(flash_sale)
    sale.ends_at = sale.ends_at + timedelta(minutes=minutes)
    if sale.ends_at <= now:
        raise FlashSaleInvalid(
            "the new end is still in the past; extend by more minutes",
            code="FLASH_SALE_ENDED",
        )
    return flash_sale_save(flash_sale=sale)
