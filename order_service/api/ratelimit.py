"""App-level rate limits (a second layer behind NGINX's limit_req), per shopper and per IP.

django-ratelimit counts in the ``default`` cache (Redis, shared by every instance). The
client IP is :func:`shared.clientip.client_ip` (X-Forwarded-For only from the edge).
"""

from __future__ import annotations

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import get_usage

from order_service.api.errors import RateLimited
from order_service.orders import metrics
from order_service.orders.cart import SHOPPER_KEY
from shared.clientip import client_ip

__all__ = ["client_ip"]


def _ip_key(group, request) -> str:
    return client_ip(request)


def _shopper_key(group, request) -> str:
    shopper = request.session.get(SHOPPER_KEY) if hasattr(request, "session") else None
    return f"s:{shopper}" if shopper else f"ip:{client_ip(request)}"


def ratelimit_check(request, *, scope: str) -> None:
    """Count this request against its shopper's and its IP's limits; 429 when over either."""
    rates = {
        "checkout": (settings.RATELIMIT_CHECKOUT_SHOPPER, settings.RATELIMIT_CHECKOUT_IP),
        "api": (settings.RATELIMIT_API_SHOPPER, settings.RATELIMIT_API_IP),
    }[scope]
    limits = (("shopper", _shopper_key, rates[0]), ("ip", _ip_key, rates[1]))

    def usages() -> list[dict | None]:
        return [
            get_usage(request, group=f"order.{scope}.{kind}", key=key, rate=rate, increment=True)
            for kind, key, rate in limits
        ]

    # Both counters in one Redis round trip (shared/ratecache.py, ADR 0107).
    cache = caches[settings.RATELIMIT_USE_CACHE]
    counted = cache.count_many(usages) if hasattr(cache, "count_many") else usages()
    for (kind, _, _), usage in zip(limits, counted, strict=True):
        if usage is not None and usage["should_limit"]:
            if scope == "checkout":
                metrics.checkout_record(outcome="rate_limited")
            raise RateLimited(retry_after=int(usage["time_left"]) + 1, scope=f"{scope}:{kind}")
