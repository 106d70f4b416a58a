"""Redis clients of the order service (one connection pool per process, made on first use).

* the inventory read model (``INVENTORY_REDIS_URL``: shared.inventory) - reservations;
* the offer read model the catalog publishes (``OFFERS_REDIS_URL``: shared.offers);
* checkout's Idempotency-Key locks and replay markers live in the inventory Redis, taken
  in the reservation's own script (ADR 0097).
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings

from shared.inventory import Inventory


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        socket_timeout=settings.REDIS_TIMEOUT,
    )


@cache
def inventory() -> Inventory:
    return Inventory(_client(settings.INVENTORY_REDIS_URL))


@cache
def offers_client() -> redis.Redis:
    return _client(settings.OFFERS_REDIS_URL)
