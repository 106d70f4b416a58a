#!/usr/bin/env python
"""Benchmark: the checkout accept path beside a bare Django JSON view, in one run.

    .venv/bin/python -m bench.checkout [--duration 9] [--workers 4] [--threads 1]
        [--connections 16] [--rate 100]
        [--size demo|100x|both]   # 100x: ORDER_DATABASE_URL + _bench100x (bench/bigdata.py)

Starts one gunicorn of the order service on a free port (its database from
ORDER_DATABASE_URL, Redis from REDIS_URL) and a private RabbitMQ node (its readiness checks
the broker; no relay runs, so accepted orders stay in the outbox and never reach a running
platform's workers). Then wrk
(`apt-get install wrk`) drives, for --duration seconds each, in three alternating rounds:

  1. ``GET /healthz`` - the bare Django JSON view of the same gunicorn (middleware, no I/O);
  2. ``POST /api/orders`` - a new shopper buys 1 unit: the rate-limit counters (one script),
     the reservation script (lock, marker, waiting-room guard, offers, stock), one
     PostgreSQL statement (order, line, outbox, idempotency key), the script ending the
     guard and waking the relay, the new session written to Redis (ADR 0107).

Then a fixed-rate, open-loop run of checkouts at --rate (default 100 req/s: the edge's
ORDER_RATE, what reaches the app at most) for p50/p99 at the admitted rate.

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
CSRF = "benchcsrfbenchcsrfbenchcsrfbench"


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


def paced_checkouts(
    *, host: str, port: int, rate: float, duration: float, body: str, run: str
) -> dict:
    """Open-loop load at a fixed ``rate`` (what the edge admits): each request is due at its
    slot and its latency counts from that slot, so a stalled server is not hidden by a
    client that waits for it (no coordinated omission). Keep-alive connections, one per
    sender thread; a new shopper (no session cookie) and key per request."""
    import http.client
    import queue
    import threading

    slots: queue.Queue[float | None] = queue.Queue()
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    headers = {
        "Content-Type": "application/json",
        "Cookie": "csrftoken=" + CSRF,
        "X-CSRFToken": CSRF,
    }

    def sender(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        count = 0
        while (due := slots.get()) is not None:
            time.sleep(max(0.0, due - time.monotonic()))
            count += 1
            try:
                conn.request(
                    "POST",
                    "/api/orders",
                    body=body,
                    headers={**headers, "Idempotency-Key": f"paced-{run}-{n}-{count}"},
                )
                response = conn.getresponse()
                response.read()
                ok = response.status == 202
            except OSError as exc:
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
                ok, response = False, exc
            elapsed = (time.monotonic() - due) * 1000
            with lock:
                latencies.append(elapsed)
                if not ok:
                    failures.append(str(getattr(response, "status", response)))
        conn.close()

    threads = [threading.Thread(target=sender, args=(n,), daemon=True) for n in range(32)]
    for thread in threads:
        thread.start()
    start = time.monotonic() + 0.05
    total = int(rate * duration)
    for i in range(total):
        slots.put(start + i / rate)
    for _ in threads:
        slots.put(None)
    for thread in threads:
        thread.join(timeout=duration + 30)
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")

    return {
        "rate": rate,
        "sent": total,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": ordered[-1] if ordered else float("nan"),
        "failed": len(failures),
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
    parser.add_argument(
        "--threads", type=int, default=1, help="threads per worker (> 1: gthread workers)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="fixed rate (req/s) for the latency run: the edge's default ORDER_RATE",
    )
    from bench import sizes

    sizes.add_size_option(parser)
    opts = parser.parse_args()
    if opts.size == "both":
        return sizes.run_both(sys.argv[1:], _figures, script=__file__)
    if opts.size == "100x":  # the orders database bench/bigdata.py filled (1M orders)
        say(
            f"size 100x: {sizes.use_100x('order', 'postgres://orders:orders@127.0.0.1:5432/orders')}"
        )
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

    from bench.benchsale import bench_sale_open, bench_sale_remove
    from flashops.processes import PrivateRabbitMQ, free_port, gunicorn_process, wait_for_port
    from order_service.orders.models import OrderLine, OutboxMessage
    from shared.inventory import Inventory

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
        bench_sale_open(inventory, sku=sku)

        port = free_port()
        say(f"3/5 gunicorn, {opts.workers} workers on 127.0.0.1:{port}")
        env = {
            "SERVICE": "order",
            "CELERY_BROKER_URL": rabbit.url,
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "false",  # local settings default to DEBUG, which records queries
            "WEB_THREADS": str(opts.threads),
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
        # wrk stops with requests in flight: let gunicorn finish them, or an order reserved
        # before stock_before is read could be committed after orders_before is counted.
        time.sleep(1)
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
        say(f"   paced: {opts.rate:.0f} req/s for {per_round * 2}s (the rate the edge admits)")
        paced = paced_checkouts(
            host="127.0.0.1",
            port=port,
            rate=opts.rate,
            duration=per_round * 2,
            body=body,
            run=run,
        )
        say("5/5 checking what was accepted")
        time.sleep(1)  # the same for the paced run's last requests
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
        bench_sale_remove(inventory, sku=sku)
        shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'target':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
    for name, r in (("bare Django JSON view (/healthz)", bare), ("checkout accept path", checkout)):
        print(f"{name:<34}{r['rps']:>10.0f}{r['p50']:>10.2f}{r['p99']:>10.2f}{r['non2xx']:>10}")
    print()
    print(f"checkout / bare ratio: {checkout['rps'] / bare['rps']:.2f}  (target >= 0.3)")
    print(
        f"checkout at a fixed {paced['rate']:.0f} req/s ({paced['sent']} sent, open loop): "
        f"p50 {paced['p50']:.2f} ms, p99 {paced['p99']:.2f} ms, max {paced['max']:.2f} ms, "
        f"not 202: {paced['failed']}  (target p99 <= 50 ms)"
    )
    print(
        f"orders accepted while measuring: {orders}, units reserved: {sold}, "
        f"outbox unpublished at the end: {unpublished}"
    )
    for r in (bare, checkout):
        if r["socket_errors"]:
            print(f"wrk: {r['socket_errors']}")
    print(
        f"settings: {opts.workers} gunicorn workers x {opts.threads} threads "
        f"({'gthread' if opts.threads > 1 else 'sync'}), wrk -t2 -c{opts.connections}, "
        f"{opts.duration}s per target in 3 alternating rounds; "
        f"total {time.monotonic() - started:.0f}s"
    )
    return 0


def _figures(text: str) -> dict[str, float]:
    """The figures --size both puts side by side."""
    from bench import sizes

    return sizes.numbers(
        text,
        {
            "bare /healthz req/s": r"^bare Django JSON view \(/healthz\)\s+([\d.]+)",
            "checkout req/s": r"^checkout accept path\s+([\d.]+)",
            "checkout p99 ms": r"^checkout accept path\s+\S+\s+\S+\s+([\d.]+)",
            "checkout / bare": r"^checkout / bare ratio: ([\d.]+)",
        },
    )


if __name__ == "__main__":
    sys.exit(main())
