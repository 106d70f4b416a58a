#!/usr/bin/env python
"""Profile of one checkout in process: CPU, Redis round trips and SQL statements per request.

    .venv/bin/python -m bench.checkout_profile [--requests 300] [--top 25]

Runs the order service's WSGI application in this process (every middleware, the real
Redis of REDIS_URL and the database of ORDER_DATABASE_URL, migrated here) and sends
``POST /api/orders`` for a new shopper each time, as bench/checkout.py does over HTTP.
Prints, per checkout: wall and CPU time, Redis round trips (a pipeline or a script is
one) by command, SQL statements; then cProfile's top functions by cumulative CPU time. The
same figures for ``GET /healthz`` (the bare view) are printed beside them.

Checkout publishes nothing itself (the outbox relay does, ADR 0092). Measures; asserts
nothing. Removes its orders and keys afterwards.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CSRF = "benchcsrfbenchcsrfbenchcsrfbench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=25)
    opts = parser.parse_args()

    os.environ.setdefault("DJANGO_ENV", "local")
    os.environ["DJANGO_SETTINGS_MODULE"] = (
        f"order_service.config.settings.{os.environ['DJANGO_ENV']}"
    )
    os.environ.setdefault("DJANGO_DEBUG", "false")
    for name in ("RATELIMIT_CHECKOUT_SHOPPER", "RATELIMIT_CHECKOUT_IP"):
        os.environ[name] = "1000000/m"
    import django

    django.setup()
    import redis.connection
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.db import connection

    from bench.benchsale import bench_sale_open, bench_sale_remove
    from shared.inventory import Inventory

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    sku = f"PROF-{run}"
    inventory = Inventory.from_url(settings.INVENTORY_REDIS_URL)
    bench_sale_open(inventory, sku=sku)

    redis_calls: collections.Counter[str] = collections.Counter()
    sql: list[str] = []
    send = redis.connection.AbstractConnection.send_packed_command

    def counting_send(self, command, check_health=True):
        first = command[0] if isinstance(command, list | tuple) else command
        if isinstance(first, bytes | memoryview):
            parts = bytes(first).split(b"\r\n")
            name = parts[2].decode() if len(parts) > 2 else "?"
            redis_calls[name.upper()] += 1
        return send(self, command, check_health)

    def counting_execute(execute, statement, params, many, context):
        sql.append(statement.split()[0].upper())
        return execute(statement, params, many, context)

    app = WSGIHandler()
    body = b'{"items": [{"sku": "%s", "quantity": 1}]}' % sku.encode()

    def environ(path: str, method: str, key: str | None) -> dict:
        env = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body if method == "POST" else b""),
            "wsgi.errors": sys.stderr,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_COOKIE": f"csrftoken={CSRF}",
        }
        if method == "POST":
            env.update(
                CONTENT_TYPE="application/json",
                CONTENT_LENGTH=str(len(body)),
                HTTP_X_CSRFTOKEN=CSRF,
                HTTP_IDEMPOTENCY_KEY=key,
            )
        return env

    statuses: collections.Counter[str] = collections.Counter()
    plain: dict[str, float] = {}

    def start_response(status, headers, exc_info=None):
        statuses[status.split()[0]] += 1

    def one(path: str, method: str, n: int) -> None:
        key = f"prof-{run}-{n}"
        b"".join(app(environ(path, method, key), start_response))

    def measure(label: str, path: str, method: str) -> None:
        for n in range(20):  # warm: imports, connections, prepared scripts
            one(path, method, -n - 1)
        # First without the profiler: the CPU a request costs (the ratio is what to compare;
        # on a shared machine both sides slow down alike).
        cpu = time.process_time()
        for n in range(opts.requests):
            one(path, method, opts.requests + n)
        plain[label] = (time.process_time() - cpu) / opts.requests * 1000
        redis_calls.clear()
        sql.clear()
        statuses.clear()
        redis.connection.AbstractConnection.send_packed_command = counting_send
        profiler = cProfile.Profile(time.process_time)  # CPU: the machine is shared
        with connection.execute_wrapper(counting_execute):
            wall, cpu = time.perf_counter(), time.process_time()
            profiler.enable()
            for n in range(opts.requests):
                one(path, method, n)
            profiler.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        redis.connection.AbstractConnection.send_packed_command = send
        n = opts.requests
        print(f"\n=== {label}: {n} requests, statuses {dict(statuses)}")
        print(
            f"per request: wall {wall / n * 1000:.2f} ms, CPU {cpu / n * 1000:.2f} ms "
            f"(with the profiler on), Redis round trips {sum(redis_calls.values()) / n:.2f}, "
            f"SQL statements {len(sql) / n:.2f}"
        )
        print("  redis: " + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(redis_calls.items())))
        print(
            "  sql: " + ", ".join(f"{k} {v / n:.2f}" for k, v in collections.Counter(sql).items())
        )
        out = io.StringIO()
        order = os.environ.get("PROFILE_SORT", "cumulative")  # or tottime
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(opts.top)
        print(out.getvalue())

    try:
        measure("GET /healthz (bare view)", "/healthz", "GET")
        measure("POST /api/orders (checkout)", "/api/orders", "POST")
        bare, checkout = plain.values()
        print(
            f"CPU per request without the profiler: bare {bare:.2f} ms, checkout "
            f"{checkout:.2f} ms: checkout costs {checkout / bare:.1f}x the bare view "
            f"(the HTTP ratio can be at best about {bare / checkout:.2f}x)"
        )
    finally:
        bench_sale_remove(inventory, sku=sku)
    return 0


if __name__ == "__main__":
    sys.exit(main())
