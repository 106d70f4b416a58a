"""Liveness (``/healthz``) and readiness (``/readyz``).

``/healthz`` answers 200 while the process can serve a request at all; it touches nothing.
``/readyz`` checks each dependency named in ``settings.READINESS_CHECKS`` (``database``,
``redis``, ``broker``; ``sale`` for the order service: the inventory counters are rebuilt,
ADR 0088) with a short timeout and answers 503 naming what is down, so a load
balancer stops sending traffic to an instance that cannot do its work. A dependency named in
``settings.READINESS_DEGRADED_OK`` is still checked and reported (``degraded``), but the
instance stays ready (200) without it: the order service accepts checkouts into its outbox
while RabbitMQ is down, so pulling it out of the pool would turn a broker outage into a
sales outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_redis() -> None:
    import redis

    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        socket_timeout=settings.REDIS_TIMEOUT,
    )
    try:
        client.ping()
    finally:
        client.close()


def check_sale() -> None:
    """Checkout sells (rather than answering SALE_PAUSED): Redis holds the marker that its
    availability counters were rebuilt from the systems of record (ADR 0088)."""
    import redis

    from shared.inventory import EPOCH_KEY

    client = redis.Redis.from_url(
        settings.INVENTORY_REDIS_URL,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
        socket_timeout=settings.REDIS_TIMEOUT,
    )
    try:
        if not client.exists(EPOCH_KEY):
            raise LookupError(f"{EPOCH_KEY} missing: availability not rebuilt yet, SALE_PAUSED")
    finally:
        client.close()


def check_broker() -> None:
    from kombu import Connection

    with Connection(
        settings.CELERY_BROKER_URL, connect_timeout=settings.BROKER_CONNECT_TIMEOUT
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=settings.BROKER_CONNECT_TIMEOUT)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
    "sale": check_sale,
}


def run_checks(names: list[str]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name in names:
        started = time.perf_counter()
        try:
            CHECKS[name]()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            results[name] = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
        else:
            results[name] = {"status": "ok"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", "service": settings.SERVICE_NAME})


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = run_checks(list(settings.READINESS_CHECKS))
    failing = sorted(name for name, result in checks.items() if result["status"] != "ok")
    tolerated = set(getattr(settings, "READINESS_DEGRADED_OK", ()))
    down = [name for name in failing if name not in tolerated]
    degraded = [name for name in failing if name in tolerated]
    status = "unavailable" if down else ("degraded" if degraded else "ok")
    body = {
        "status": status,
        "service": settings.SERVICE_NAME,
        "down": down,
        "degraded": degraded,
        "checks": checks,
    }
    return JsonResponse(body, status=503 if down else 200)
