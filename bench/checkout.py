#!/usr/bin/env python
"""Benchmark: the checkout accept path beside a bare Django JSON view, in one run.

    .venv/bin/python -m bench.checkout [--duration 10] [--workers 4] [--connections 16]

Starts one gunicorn of the order service on a free port (its database from
ORDER_DATABASE_URL, Redis from REDIS_URL) and a private RabbitMQ node (so accepted orders are
really published with confirms, but never reach a running platform's workers). Then wrk
(`apt-get install wrk`) drives, for --duration seconds each, in three alternating rounds:

  1. ``GET /healthz`` - the bare Django JSON view of the same gunicorn (middleware, no I/O);
  2. ``POST /api/orders`` - a new shopper buys 1 unit: rate-limit counters, offer read,
     Lua reservation, one PostgreSQL transaction (order, line, outbox, idempotency key),
     publish with confirm, new session written to Redis.

Prints requests/s, p50 and p99 for both and the ratio. Removes its orders, keys and the
private broker afterwards. Measures; asserts nothing about timings. Bounded: < 60 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

LUA = """
local counter = 0
local threads = {}
local CSRF = "benchcsrfbenchcsrfbenchcsrfbench"
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
request = function()
  counter = counter + 1
  local key = string.format("bench-%s-%d-%d", RUN, tid, counter)
  -- the order API's CSRF check: a token of the client's own, as cookie and header
  return wrk.format("POST", "/api/orders",
    {["Content-Type"] = "application/json", ["Idempotency-Key"] = key,
     ["Cookie"] = "csrftoken=" .. CSRF, ["X-CSRFToken"] = CSRF}, BODY)
end
"""


def say(text: str) -> None:
    print(f"[bench] {text}", flush=True)


def run_wrk(url: str, *, duration: int, connections: int, script: str | None) -> dict:
    args = ["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration}s", "--latency"]
    if script:
        args += ["-s", script]
    out = subprocess.run([*args, url], capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)

    def pct(p: str) -> float:
        value, unit = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
        "raw": out,
    }


def combine(runs: list[dict]) -> dict:
    """Rounds of equal length: mean rate, median p50, worst p99, summed failures."""
    p50s = sorted(r["p50"] for r in runs)
    return {
        "rps": sum(r["rps"] for r in runs) / len(runs),
        "p50": p50s[len(p50s) // 2],
        "p99": max(r["p99"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "socket_errors": "; ".join(r["socket_errors"] for r in runs if r["socket_errors"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=9, help="seconds per target (<= 18)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    opts = parser.parse_args()
    opts.duration = max(6, min(opts.duration, 18))
    if not shutil.which("wrk"):
        sys.exit("wrk not found; how to fix: apt-get install -y wrk")

    os.environ.setdefault("DJANGO_ENV", "local")
    os.environ["DJANGO_SETTINGS_MODULE"] = (
        f"order_service.config.settings.{os.environ['DJANGO_ENV']}"
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from flashops.processes import PrivateRabbitMQ, free_port, gunicorn_process, wait_for_port
    from order_service.orders.models import Order, OrderLine, OutboxMessage
    from shared.inventory import Inventory
    from shared.offers import Offer, offer_key, publish_offers

    workdir = Path(tempfile.mkdtemp(prefix="bench-checkout-"))
    run = uuid.uuid4().hex[:8]
    sku = f"BENCH-{run}"
    inventory = Inventory.from_url(settings.INVENTORY_REDIS_URL)
    started = time.monotonic()
    rabbit = gunicorn = None
    try:
        say(f"1/5 database {settings.DATABASES['default']['NAME']}: migrate")
        call_command("migrate", verbosity=0)
        say("2/5 private RabbitMQ node (~10 s)")
        rabbit = PrivateRabbitMQ(workdir / "rabbitmq").start()
        publish_offers(
            inventory.client,
            [Offer(sku=sku, name="bench", price="10.00", currency="EUR", per_shopper_limit=0)],
        )
        inventory.set_available(sku=sku, available=10_000_000)

        port = free_port()
        say(f"3/5 gunicorn, {opts.workers} workers on 127.0.0.1:{port}")
        env = {
            "SERVICE": "order",
            "CELERY_BROKER_URL": rabbit.url,
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",  # local settings default to DEBUG, which records queries
            "SESSION_COOKIE_AGE": "900",  # the bench's thousands of sessions expire soon
            "RATELIMIT_CHECKOUT_SHOPPER": "1000000/m",
            "RATELIMIT_CHECKOUT_IP": "1000000/m",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        gunicorn = gunicorn_process(
            "order_service.config.wsgi",
            port=port,
            root=ROOT,
            workers=opts.workers,
            env=env,
            log_path=workdir / "gunicorn.log",
        )
        wait_for_port(port, proc=gunicorn.proc)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)

        script = workdir / "checkout.lua"
        body = '{"items": [{"sku": "%s", "quantity": 1}]}' % sku  # noqa: UP031
        script.write_text(f"RUN = \"{run}\"\nBODY = '{body}'\n{LUA}")
        # Warm both paths (connections, imported code, prepared Lua script).
        run_wrk(f"{base}/healthz", duration=1, connections=4, script=None)
        run_wrk(base, duration=1, connections=4, script=str(script))

        # The machine is shared: alternate short rounds of both targets so that a burst of
        # someone else's load hits both alike, then aggregate.
        rounds = 3
        per_round = max(2, opts.duration // rounds)
        say(
            f"4/5 measuring: {rounds} rounds x ({per_round}s GET /healthz, "
            f"{per_round}s POST /api/orders)"
        )
        orders_before = OrderLine.objects.filter(sku=sku).count()
        stock_before = inventory.availability_many([sku])[sku]
        bare_runs, checkout_runs = [], []
        for n in range(rounds):
            bare_runs.append(
                run_wrk(
                    f"{base}/healthz", duration=per_round, connections=opts.connections, script=None
                )
            )
            checkout_runs.append(
                run_wrk(base, duration=per_round, connections=opts.connections, script=str(script))
            )
            say(
                f"   round {n + 1}: healthz {bare_runs[-1]['rps']:.0f} req/s, "
                f"checkout {checkout_runs[-1]['rps']:.0f} req/s"
            )
        bare, checkout = combine(bare_runs), combine(checkout_runs)
        say("5/5 checking what was accepted")
        sold = stock_before - inventory.availability_many([sku])[sku]
        orders = OrderLine.objects.filter(sku=sku).count() - orders_before
        time.sleep(1)  # the last requests' publishes
        unpublished = OutboxMessage.objects.filter(
            order__lines__sku=sku, published_at__isnull=True
        ).count()
    finally:
        if gunicorn:
            gunicorn.stop()
        if rabbit:
            rabbit.destroy()
        ids = list(OrderLine.objects.filter(sku=sku).values_list("order_id", flat=True))
        OutboxMessage.objects.filter(order_id__in=ids).delete()
        Order.objects.filter(id__in=ids).delete()
        for key in inventory.client.scan_iter(match=f"inv:{{{sku}}}*", count=1000):
            inventory.client.delete(key)
        inventory.client.delete(offer_key(sku))
        for key in inventory.client.scan_iter(match="inv:res:*", count=1000):
            if inventory.client.hexists(key, sku):
                inventory.client.delete(key)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'target':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in (("bare Django JSON view (/healthz)", bare), ("checkout accept path", checkout)):
        print(f"{name:<34}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
    print()
    print(f"checkout / bare ratio: {checkout['rps'] / bare['rps']:.2f}  (target >= 0.25)")
    print(
        f"orders accepted while measuring: {orders}, units reserved: {sold}, "
        f"outbox unpublished at the end: {unpublished}"
    )
    for r in (bare, checkout):
        if r["socket_errors"]:
            print(f"wrk: {r['socket_errors']}")
    print(
        f"settings: {opts.workers} gunicorn sync workers, wrk -t2 -c{opts.connections}, "
        f"{opts.duration}s per target in 3 alternating rounds; "
        f"total {time.monotonic() - started:.0f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
