"""Automatic persisted queries, exactly as Apollo's APQ protocol defines them.

A client sends only ``extensions={"persistedQuery":{"version":1,"sha256Hash":"<hex>"}}``
(by GET, so the edge and a CDN can cache the answer). Unknown hash -> the standard
``PersistedQueryNotFound`` error; the client then sends the query with the hash once, we
check that the hash really is the query's sha256 and keep it in the default cache (Redis,
shared by every instance) for GRAPHQL_APQ_TTL seconds.
"""

from __future__ import annotations

import hashlib
import re
from typing import TypeGuard

from django.conf import settings
from django.core.cache import cache

APQ_VERSION = 1
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def query_hash(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


def is_valid_hash(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and bool(_HEX64.match(value))


def _key(sha256_hash: str) -> str:
    return f"apq:v{APQ_VERSION}:{sha256_hash}"


def persisted_query_get(*, sha256_hash: str) -> str | None:
    return cache.get(_key(sha256_hash))


def persisted_query_register(*, sha256_hash: str, query: str) -> None:
    """Keep ``query`` under its hash; the caller has checked that the hash matches."""
    cache.set(_key(sha256_hash), query, timeout=settings.GRAPHQL_APQ_TTL)
