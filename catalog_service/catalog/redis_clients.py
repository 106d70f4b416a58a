"""Redis clients for the read models, one connection pool per URL and process.

Pools are reused across requests (opening a connection per request would cost more than
the MGET itself); they hold no application state, so any instance can serve any request.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings

from shared.inventory import Inventory


@cache
def _client(url: str) -> redis.Redis:
    timeout = getattr(settings, "REDIS_TIMEOUT", 1.0)
    return redis.Redis.from_url(
        url, decode_responses=True, socket_timeout=timeout, socket_connect_timeout=timeout
    )


@cache
def _inventory(url: str) -> Inventory:
    return Inventory(_client(url))


def inventory() -> Inventory:
    """The availability read model (catalog only reads it: fulfillment owns stock)."""
    return _inventory(settings.INVENTORY_REDIS_URL)


def offers_client() -> redis.Redis:
    """The Redis that holds ``offer:{SKU}`` hashes for the order service."""
    return _client(settings.OFFERS_REDIS_URL)
