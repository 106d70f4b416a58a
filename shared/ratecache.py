"""A cache backend for django-ratelimit's counters: one Redis round trip per counter.

django-ratelimit counts a hit with ``cache.add(key, 1, period)`` and, when the window's
counter already exists (every hit but the first), ``cache.incr(key)``: two round trips per
counter, two counters per request (shopper and IP). This backend fuses them: ``add(key, 1)``
runs one script that either creates the counter or increments it, and the ``incr(key)``
that follows in the same thread answers from that result instead of asking Redis again.
Redis ends in the same state and django-ratelimit sees the same counts as with two calls
(ADR 0098); it is the ``ratelimit`` alias only (RATELIMIT_USE_CACHE), not a general cache:
anything but ``add(key, 1)`` followed by ``incr(key)`` behaves exactly as django-redis.

:meth:`RateCounterCache.count_many` goes further for a request checked against several
limits (ADR 0107): it runs the caller's django-ratelimit calls once to learn their counter
keys (answering nothing to Redis), counts every key in one script, then runs the calls
again answering each ``add`` from that script's result: one round trip for all counters.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django_prometheus.cache.backends.redis import RedisCache
from redis.commands.core import Script

# Per key: -1 when created with ARGV[1] (expiring after ARGV[i + 1] s); else its new count.
_ADD_OR_INCR = """
local out = {}
for i = 1, #KEYS do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'EX', ARGV[i + 1]) then
    out[i] = -1
  else
    out[i] = redis.call('INCRBY', KEYS[i], ARGV[1])
  end
end
return out
"""

T = TypeVar("T")


class RateCounterCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._script: Script | None = None
        self._counted = threading.local()
        # count_many's passes: keys to learn ("record") or counts to answer from ("answer").
        self._batch = threading.local()

    def count_many(self, calls: Callable[[], T]) -> T:
        """Run ``calls`` (django-ratelimit's ``get_usage`` calls of one request) with one
        Redis round trip for all their counters. A key the second pass did not see in the
        first (a window boundary crossed in between) is counted on its own, as ``add``."""
        self._batch.record, self._batch.answer = [], None
        try:
            calls()  # learns the keys; every add() answers "created" without Redis
            recorded: list[tuple[str, int]] = self._batch.record
            self._batch.record = None
            if recorded:
                keys = [key for key, _ in recorded]
                counts = self._run(keys=keys, seconds=[seconds for _, seconds in recorded])
                self._batch.answer = dict(zip(keys, counts, strict=True))
            return calls()
        finally:
            self._batch.record = self._batch.answer = None

    def _run(self, *, keys: list[str], seconds: list[int]) -> list[int]:
        redis_client = self.client.get_client(write=True)
        if self._script is None:
            self._script = redis_client.register_script(_ADD_OR_INCR)
        result = self._script(keys=keys, args=[1, *seconds], client=redis_client)
        return [int(count) for count in result]

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
        record = getattr(self._batch, "record", None)
        if record is not None:
            record.append((full_key, int(seconds)))
            return True
        answer = getattr(self._batch, "answer", None)
        if answer is not None and full_key in answer:
            count = answer.pop(full_key)
        else:
            count = self._run(keys=[full_key], seconds=[int(seconds)])[0]
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
