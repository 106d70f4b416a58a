#!/usr/bin/env python
"""The I/O floor of a checkout: what its round trips cost this machine, with no Python logic.

    .venv/bin/python -m bench.checkout_floor [--calls 3000] [--bare-rps 2750]

A new shopper's accepted checkout makes 4 Redis round trips (three scripts and the
session's SET) and 1 PostgreSQL statement (the prepared order insert, ADR 0112). This
measures, for each kind, the CPU one round trip costs on both sides: the client thread
(``time.thread_time``: redis-py or psycopg plus the system calls) and the server process
(``/proc/<pid>/stat`` of redis-server and of the PostgreSQL backend). The Redis calls are
an ``EVALSHA`` of the checkout scripts' shape (8 keys, 12 arguments, a 3-element reply);
the statement is the checkout's own ``_ORDER_INSERT_SQL`` on ORDER_DATABASE_URL (its rows
are removed afterwards), sent by psycopg alone with parameters built here: the floor is the
round trip, not the service's Python around it (``services._order_insert`` through
``execute_prepared`` costs the client 0.38-0.41 ms instead of 0.13-0.20).

Then the floor: the machine time one checkout needs for its I/O alone, and what is left of
the budget a checkout has at 0.3x the bare view (2 cores / (0.3 x bare req/s), the bare
figure of ``python -m bench.checkout``, given with --bare-rps) for everything else: the bare
request's own cost and all of the checkout's Python. Measures; asserts nothing. Run it on a
quiet machine: the server CPU read includes any other client's work. Bounded: < 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORES = os.cpu_count() or 2


def say(text: str) -> None:
    print(f"[floor] {text}", flush=True)


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(call, *, calls: int, server_pid: int) -> tuple[float, float]:
    """(client ms, server ms) of CPU per call."""
    for _ in range(min(200, calls)):
        call()
    server, client = process_cpu(server_pid), time.thread_time()
    for _ in range(calls):
        call()
    return (
        (time.thread_time() - client) / calls * 1000,
        (process_cpu(server_pid) - server) / calls * 1000,
    )


def redis_round_trip(calls: int) -> tuple[float, float]:
    import redis

    client = redis.Redis.from_url(
        os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14"), decode_responses=True
    )
    pid = int(client.info("server")["process_id"])
    sha = client.script_load("return {ARGV[1], 'OK', KEYS[1]}")
    keys = [f"floor:{n}" for n in range(8)]
    args = [str(n) for n in range(12)]
    return measure(
        lambda: client.evalsha(sha, len(keys), *keys, *args), calls=calls, server_pid=pid
    )


def insert_params(run: str) -> dict:
    order_id = uuid.uuid4()
    now = datetime.now(UTC)
    body = {
        "order_id": str(order_id),
        "status": "accepted",
        "status_url": f"/api/orders/{order_id}",
    }
    line = {"sku": "SKU-000001", "quantity": 1, "unit_price": "19.99", "currency": "EUR"}
    payload = {"order_id": str(order_id), "shopper_id": f"floor-{run}", "lines": [line]}
    return {
        "order_id": order_id,
        "shopper_id": f"floor-{run}",
        "customer_id": None,
        "status": "accepted",
        "total": Decimal("19.99"),
        "currency": "EUR",
        "now": now,
        "skus": ["SKU-000001"],
        "quantities": [1],
        "prices": [Decimal("19.99")],
        "currencies": ["EUR"],
        "message_id": uuid.uuid4(),
        "task_name": "bench.floor",
        "queue": "bench-floor",
        "payload": json.dumps(payload),
        "key": f"floor-{order_id}",
        "fingerprint": "0" * 64,
        "body": json.dumps(body),
        "expires_at": now + timedelta(days=1),
    }


def insert_round_trip(calls: int) -> tuple[float, float]:
    import psycopg

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "order_service.config.settings.local")
    import django

    django.setup()
    from django.core.management import call_command

    from order_service.orders.services import _ORDER_INSERT_SQL

    call_command("migrate", verbosity=0)
    run = uuid.uuid4().hex[:8]
    url = os.environ.get("ORDER_DATABASE_URL", "postgres://orders:orders@127.0.0.1:5432/orders")
    with psycopg.connect(url, autocommit=True) as conn:
        pid = conn.info.backend_pid
        cursor = conn.cursor()
        try:
            return measure(
                lambda: cursor.execute(_ORDER_INSERT_SQL, insert_params(run), prepare=True),
                calls=calls,
                server_pid=pid,
            )
        finally:
            shopper = [f"floor-{run}"]
            conn.execute("DELETE FROM orders_idempotencykey WHERE shopper_id = %s", shopper)
            conn.execute("DELETE FROM orders_outboxmessage WHERE task_name = 'bench.floor'")
            conn.execute(
                "DELETE FROM orders_orderline WHERE order_id IN "
                "(SELECT id FROM orders_order WHERE shopper_id = %s)",
                shopper,
            )
            conn.execute("DELETE FROM orders_order WHERE shopper_id = %s", shopper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--bare-rps", type=float, default=2750.0)
    opts = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    say(f"load average {os.getloadavg()[0]:.2f}; {opts.calls} calls of each kind")
    r_client, r_server = redis_round_trip(opts.calls)
    say(f"Redis EVALSHA: client {r_client:.3f} ms, redis-server {r_server:.3f} ms")
    p_client, p_server = insert_round_trip(opts.calls)
    say(f"order insert (prepared): client {p_client:.3f} ms, backend {p_server:.3f} ms")
    floor = 4 * (r_client + r_server) + p_client + p_server
    budget = CORES / (0.3 * opts.bare_rps) * 1000
    bare = CORES / opts.bare_rps * 1000
    print()
    alone = CORES / (bare + floor) * 1000
    print(f"I/O floor of one checkout (4 Redis + 1 SQL, both sides): {floor:.2f} ms of CPU")
    print(f"one bare request ({CORES} cores / {opts.bare_rps:.0f} req/s): {bare:.2f} ms")
    print(f"budget of one checkout at 0.3x the bare view: {budget:.2f} ms")
    print(
        f"left of it for all of the checkout's Python and the rest: {budget - bare - floor:.2f} ms"
    )
    print(f"a checkout that were its I/O alone: {alone:.0f} req/s = {alone / opts.bare_rps:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
