#!/usr/bin/env python
"""Benchmark: commit-to-queue handoff of the order outbox, the candidates side by side.

    DJANGO_ENV=test .venv/bin/python -m bench.outbox_handoff [--count 400] [--rate 333]

The relay (`manage.py order outbox_relay`, a real process) is the only publisher; the
checkout (``services.order_checkout``, from ``--procs`` forked processes at ``--rate``
checkouts/s in all: 333/s is the sale's target rate) only commits and, in the ``wake``
mode, wakes it. For each mode it prints p50 / p99 / max of the time from a checkout's
return (its commit) to the message's arrival on the fulfillment queue (a consumer in a
process of its own; CLOCK_MONOTONIC is the same in every process), and the cost of the
wake-up itself on the request path:

  wake        Redis PUBLISH after commit, relay polls every 5 s (what ships, ADR 0092)
  poll 0.05   no wake-up, relay polls every 50 ms (a short poll alone)
  poll 0.2    no wake-up, relay polls every 200 ms (fulfillment's old relay)

(NOTIFY is not a candidate: PostgreSQL serializes the commits of notifying transactions,
ADR 0031.) A throw-away database ``bench_handoff_<ORDER_DATABASE_URL's name>`` is created
and dropped; Redis from REDIS_URL (its own skus), RabbitMQ from CELERY_BROKER_URL (use a
vhost no worker consumes, e.g. the tests' own). Bounded: about 10 s per mode. Measures; asserts
nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MODES = {"wake": ("5", True), "poll 0.05": ("0.05", False), "poll 0.2": ("0.2", False)}


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=400, help="checkouts per mode")
    parser.add_argument("--rate", type=float, default=333.0, help="checkouts per second")
    parser.add_argument("--procs", type=int, default=2, help="checkout processes")
    args = parser.parse_args()

    import django

    from shared.settings import settings_module

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module("order_service"))
    django.setup()

    import redis
    from django.conf import settings
    from django.db import connection, connections

    from order_service.orders.outbox import outbox
    from shared.inventory import Inventory
    from shared.offers import Offer, publish_offers

    say(f"load average at start: {os.getloadavg()}")
    old_name = connection.settings_dict["NAME"]
    # Not the tests' test_<name>: a test run may be using that one.
    connection.settings_dict["TEST"]["NAME"] = f"bench_handoff_{old_name}"
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    db = connection.settings_dict
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    db_url = f"postgres://{db['USER']}:{db['PASSWORD']}@{host}/{test_name}"
    client = redis.Redis.from_url(settings.INVENTORY_REDIS_URL)
    sku = f"HANDOFF-{uuid.uuid4().hex[:8].upper()}"
    now = datetime.now(UTC)
    publish_offers(
        client,
        [
            Offer(
                sku=sku, name="handoff", price="20.00", currency="EUR", sale_price="9.99",
                starts_at=(now - timedelta(hours=1)).isoformat(),
                ends_at=(now + timedelta(hours=1)).isoformat(), per_shopper_limit=0, active=True,
            )
        ],
    )  # fmt: skip
    Inventory(client).set_available(sku=sku, available=args.count * len(MODES) + 10)
    wake_url = settings.OUTBOX_WAKE_REDIS_URL
    results: dict[str, list[float]] = {}
    try:
        for mode, (interval, wake) in MODES.items():
            settings.OUTBOX_WAKE_REDIS_URL = wake_url if wake else "redis://127.0.0.1:1/0"
            results[mode] = run_mode(
                mode=mode, interval=interval, args=args, sku=sku, db_url=db_url
            )
        settings.OUTBOX_WAKE_REDIS_URL = wake_url
        costs = []
        for _ in range(2000):
            started = time.perf_counter()
            outbox.wake()
            costs.append(time.perf_counter() - started)
    finally:
        for alias in connections:
            connections[alias].close()
        connection.creation.destroy_test_db(old_name, verbosity=0)

    print()
    print(f"commit -> queue, {args.count} checkouts per mode at {args.rate:.0f}/s "
          f"({args.procs} processes), relay the only publisher:")  # fmt: skip
    for mode, values in results.items():
        print(
            f"  {mode:<10} p50 {percentile(values, 0.5) * 1000:7.1f} ms   "
            f"p99 {percentile(values, 0.99) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms   "
            f"mean {statistics.mean(values) * 1000:6.1f} ms"
        )
    print(
        f"the wake-up on the request path (Redis PUBLISH, 2000 calls): "
        f"p50 {percentile(costs, 0.5) * 1e6:.0f} us, p99 {percentile(costs, 0.99) * 1e6:.0f} us"
    )
    print(f"load average at the end: {os.getloadavg()}")
    return 0


def _consume(conn_end, ready, stopping) -> None:
    """A process of its own: the arrival times are not delayed by the shoppers' GIL."""
    from django.conf import settings
    from kombu import Connection, Consumer

    from shared import messages
    from shared.celery import service_queue

    arrived: dict[str, float] = {}

    def on_message(body, message):
        arrived.setdefault(body[0][0]["order_id"], time.monotonic())
        message.ack()

    with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
        queue = service_queue(messages.FULFILLMENT_QUEUE)(conn.default_channel)
        queue.declare()
        queue.purge()
        with Consumer(conn, [queue], callbacks=[on_message], accept=["json"]):
            ready.set()
            while not stopping.is_set():
                try:
                    conn.drain_events(timeout=0.1)
                except TimeoutError:
                    continue
    conn_end.send(arrived)


def _shop(conn_end, *, mode: str, n_proc: int, count: int, gap: float, sku: str) -> None:
    """A process of its own: checkouts at a steady pace; when each one committed."""
    from order_service.orders.cart import Shopper
    from order_service.orders.services import order_checkout
    from shared.outbox import relay

    relay._clients.clear()  # the parent's Redis sockets are not this process's
    committed: dict[str, float] = {}
    next_at = time.monotonic()
    for n in range(count):
        result = order_checkout(
            shopper=Shopper(shopper_id=f"anon:bench-{mode}-{n_proc}-{n}"),
            items={sku: 1},
            idempotency_key=f"k-{n_proc}-{n}",
            fingerprint="f",
        )
        committed[str(result.order_id)] = time.monotonic()
        next_at += gap
        time.sleep(max(0.0, next_at - time.monotonic()))
    conn_end.send(committed)


def run_mode(*, mode: str, interval: str, args, sku: str, db_url: str) -> list[float]:
    import multiprocessing

    from django.db import connections

    fork = multiprocessing.get_context("fork")
    connections.close_all()  # never share a database socket with a child
    ready, stopping = fork.Event(), fork.Event()
    consumer_end, consumer_child = fork.Pipe()
    consumer = fork.Process(target=_consume, args=(consumer_child, ready, stopping))
    consumer.start()
    ready.wait(10)
    env = {
        **os.environ,
        "ORDER_DATABASE_URL": db_url,
        "DATABASE_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }
    relay = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "order", "outbox_relay", "--interval", interval],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert relay.stdout is not None
    relay.stdout.readline()  # "outbox relay: started ..."
    time.sleep(0.5)
    shoppers = []
    for n_proc in range(args.procs):
        end, child = fork.Pipe()
        kwargs = {
            "mode": mode,
            "n_proc": n_proc,
            "count": args.count // args.procs,
            "gap": args.procs / args.rate,
            "sku": sku,
        }
        process = fork.Process(target=_shop, args=(child,), kwargs=kwargs)
        process.start()
        shoppers.append((process, end))
    committed: dict[str, float] = {}
    for process, end in shoppers:
        committed.update(end.recv())
        process.join(30)
    time.sleep(3)  # what is still on its way
    relay.terminate()
    relay.wait(15)
    stopping.set()
    arrived = consumer_end.recv()
    consumer.join(10)
    missing = set(committed) - set(arrived)
    if missing:
        say(f"{mode}: {len(missing)} message(s) did not arrive within 3 s")
    return [arrived[o] - committed[o] for o in committed if o in arrived]


if __name__ == "__main__":
    sys.exit(main())
