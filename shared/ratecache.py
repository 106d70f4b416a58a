"""A cache backend for django-ratelimit's counters: one Redis round trip per counter.

django-ratelimit counts a hit with ``cache.add(key, 1, period)`` and, when the window's
counter already exists (every hit but the first), ``cache.incr(key)``: two round trips per
counter, two counters per request (shopper and IP). This backend fuses them: ``add(key, 1)``
runs one script that either creates the counter or increments it, and the ``incr(key)``
that follows in the same thread answers from that result instead of asking Redis again.
Redis ends in the same state and django-ratelimit sees the same counts as with two calls
(ADR 0098); it is the ``ratelimit`` alias only (RATELIMIT_USE_CACHE), not a general cache:
anything but ``add(key, 1)`` followed by ``incr(key)`` behaves exactly as django-redis.
"""

from __future__ import annotations

import threading
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django_prometheus.cache.backends.redis import RedisCache
from redis.commands.core import Script

# -1: created with ARGV[1]; else the incremented count
_ADD_OR_INCR = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return -1 end
return redis.call('INCRBY', KEYS[1], ARGV[1])
"""


class RateCounterCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._script: Script | None = None
        self._counted = threading.local()

    def add(
        self,
        key: str,
        value: Any,
        timeout: Any = DEFAULT_TIMEOUT,
        version: int | None = None,
        client: Any = None,
    ) -> bool:
        self._counted.last = None
        fused = value == 1 and not isinstance(value, bool) and client is None
        seconds = self.default_timeout if timeout is DEFAULT_TIMEOUT else timeout
        if not fused or seconds is None or int(seconds) < 1:
            return super().add(key, value, timeout=timeout, version=version, client=client)
        full_key = self.client.make_key(key, version=version)
        redis_client = self.client.get_client(write=True)
        if self._script is None:
            self._script = redis_client.register_script(_ADD_OR_INCR)
        count = int(self._script(keys=[full_key], args=[1, int(seconds)], client=redis_client))
        if count == -1:
            return True
        self._counted.last = (full_key, count)  # the incr django-ratelimit sends next
        return False

    def incr(
        self,
        key: str,
        delta: int = 1,
        version: int | None = None,
        client: Any = None,
        ignore_key_check: bool = False,
    ) -> int:
        last = getattr(self._counted, "last", None)
        self._counted.last = None
        if (
            last is not None
            and delta == 1
            and last[0] == self.client.make_key(key, version=version)
        ):
            return last[1]
        return super().incr(
            key, delta=delta, version=version, client=client, ignore_key_check=ignore_key_check
        )
