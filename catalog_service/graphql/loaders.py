"""Per-request batch loaders: the SQL count of a query does not grow with its page size.

graphene 3 runs synchronously here and has no promise-based DataLoader, so batching works
the other way round: a resolver that returns a list of products *registers* them with the
request's loaders first; the first time any field of any of those products needs reviews,
a rating, a flash sale or availability, the loader fetches it for every registered product
at once (one SQL query or one Redis MGET) and answers the rest from memory. See
docs/adr/0010-catalog-batch-loaders.md.

A loader lives for one request (it hangs off the GraphQL context) and is then dropped:
nothing is cached between requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from datetime import datetime
from typing import Any

import redis

from catalog_service.catalog import selectors
from catalog_service.catalog.models import Product

logger = logging.getLogger(__name__)

# Availability could not be read (Redis down): remembered for the whole page so that one
# outage costs one timeout per request, not one per product.
INVENTORY_UNAVAILABLE = object()


class _Batch:
    """Values by key, fetched for every pending key the first time one is asked for."""

    def __init__(self, fetch: Callable[[list[Any]], dict[Any, Any]], pending: Mapping[Any, Any]):
        self._fetch = fetch
        self._pending = pending  # shared with the loaders: every registered key
        self._values: dict[Hashable, Any] = {}

    def get(self, key: Hashable, item: Any) -> Any:
        if key not in self._values:
            todo = {k: v for k, v in self._pending.items() if k not in self._values}
            todo[key] = item
            self._values.update(self._fetch(list(todo.values())))
        return self._values[key]


class CatalogLoaders:
    def __init__(self, *, now: datetime):
        self.now = now
        self._products: dict[int, Product] = {}
        self._reviews: dict[tuple[int, int | None], _Batch] = {}
        self._rating = _Batch(self._fetch_rating, self._products)
        self._flash_sale = _Batch(self._fetch_flash_sale, self._products)
        self._next_flash_sale = _Batch(self._fetch_next_flash_sale, self._products)
        self._availability = _Batch(self._fetch_availability, self._products)

    def register(self, products: list[Product]) -> list[Product]:
        """Products whose related data should be fetched together; returns them."""
        for product in products:
            self._products.setdefault(product.id, product)
        return products

    # --- what resolvers call -------------------------------------------------------------
    def reviews(
        self, product: Product, first: int, after_id: int | None = None
    ) -> tuple[list[selectors.ReviewRow], bool]:
        batch = self._reviews.get((first, after_id))
        if batch is None:
            batch = self._reviews[(first, after_id)] = _Batch(
                lambda products: self._fetch_reviews(products, first, after_id), self._products
            )
        return batch.get(product.id, product)

    def rating(self, product: Product) -> selectors.Rating:
        return self._rating.get(product.id, product)

    def flash_sale(self, product: Product) -> selectors.SaleRow | None:
        return self._flash_sale.get(product.id, product)

    def next_flash_sale(self, product: Product) -> selectors.SaleRow | None:
        return self._next_flash_sale.get(product.id, product)

    def availability(self, product: Product) -> int | object | None:
        """Units, None when unknown, or INVENTORY_UNAVAILABLE when Redis did not answer."""
        return self._availability.get(product.id, product)

    # --- batch fetches -------------------------------------------------------------------
    @staticmethod
    def _fetch_reviews(products: list[Product], first: int, after_id: int | None) -> dict:
        ids = [p.id for p in products]
        if after_id is not None:
            return selectors.review_page_after(product_ids=ids, after_id=after_id, first=first)
        return selectors.review_newest_many(product_ids=ids, first=first)

    @staticmethod
    def _fetch_rating(products: list[Product]) -> dict[int, Any]:
        return selectors.rating_many(product_ids=[p.id for p in products])

    def _fetch_flash_sale(self, products: list[Product]) -> dict[int, Any]:
        found = selectors.flash_sale_active_many(product_ids=[p.id for p in products], now=self.now)
        return {p.id: found.get(p.id) for p in products}

    def _fetch_next_flash_sale(self, products: list[Product]) -> dict[int, Any]:
        found = selectors.flash_sale_next_many(product_ids=[p.id for p in products], now=self.now)
        return {p.id: found.get(p.id) for p in products}

    @staticmethod
    def _fetch_availability(products: list[Product]) -> dict[int, Any]:
        try:
            by_sku = selectors.availability_many(skus=[p.sku for p in products])
        except redis.RedisError:
            logger.exception("inventory read model unreachable; availability not served")
            return {p.id: INVENTORY_UNAVAILABLE for p in products}
        return {p.id: by_sku[p.sku] for p in products}
