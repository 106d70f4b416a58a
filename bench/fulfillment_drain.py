#!/usr/bin/env python
"""How fast fulfillment drains a backlog of OrderAccepted messages, beside pgbench running
the equivalent raw SQL transaction on the same machine, in one run.

    source /work/briefs/env-fulfillment.sh   # or any *_DATABASE_URL / TEST_CELERY_BROKER_URL
    .venv/bin/python -m bench.fulfillment_drain [--orders 10000] [--concurrency 4]
        [--size demo|100x|both]   # 100x: <FULFILLMENT_DATABASE_URL>_bench100x, kept, not truncated

1. a database of its own (``<FULFILLMENT_DATABASE_URL>_bench``, migrated), a private Redis
   (free port) and the test RabbitMQ vhost (``TEST_CELERY_BROKER_URL``, queues purged);
2. stock for 50 skus, every order reserved in Redis as the order service would;
3. the backlog is published (persistent, publisher confirms) with no worker running;
4. real ``celery worker`` processes start; the clock runs from "ready" until every order
   has its processed marker, or ``--deadline`` passes (default 30 s, to stay bounded on
   a shared machine): then the rate is that of what drained, and the rest is purged;
5. checks: one payment and one ledger transaction per order, ledger sums to zero;
6. pgbench (``/usr/lib/postgresql/15/bin/pgbench``) runs the same database work as raw SQL
   (stock UPDATE ... WHERE on_hand >= n, ledger transaction + 4 entries through the same
   balance triggers, in one transaction) with as many clients as worker processes, once
   before and once after the drain (the machine is shared: the mean of the two is the
   reference).

Measures; asserts nothing about timings. Bounded: ``--deadline`` for the drain,
``--pgbench-seconds`` for pgbench.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flashops.processes import ManagedProcess, PrivateRedis

ROOT = Path(__file__).resolve().parents[1]


PGBENCH = os.environ.get("PGBENCH", "/usr/lib/postgresql/15/bin/pgbench")
SKUS = 50

PGBENCH_SCRIPT = """
\\set n random(1, {skus})
BEGIN;
UPDATE fulfillment_stock SET on_hand = on_hand - 1
    WHERE sku = 'BENCH-' || lpad(:n::text, 6, '0') AND on_hand >= 1;
WITH t AS (
    INSERT INTO fulfillment_ledgertransaction (order_id, kind, description, created_at)
    VALUES (gen_random_uuid(), 'sale', 'pgbench', now()) RETURNING id
)
INSERT INTO fulfillment_ledgerentry (transaction_id, account, sku, currency, amount, quantity)
SELECT t.id, e.account, e.sku, e.currency, e.amount, e.quantity FROM t, (VALUES
    ('payments_receivable', '', 'EUR', 10.00, 0),
    ('sales_revenue', '', 'EUR', -10.00, 0),
    ('units_sold', 'BENCH-' || lpad(:n::text, 6, '0'), '', 0, 1),
    ('inventory', 'BENCH-' || lpad(:n::text, 6, '0'), '', 0, -1)
) AS e(account, sku, currency, amount, quantity);
COMMIT;
"""


def say(text: str) -> None:
    print(text, flush=True)


def bench_database_url(size: str = "demo") -> str:
    base = os.environ.get(
        "FULFILLMENT_DATABASE_URL",
        "postgres://fulfillment:fulfillment@127.0.0.1:5432/fulfillment",
    )
    parts = urlsplit(base)
    # --size 100x: the database bench/bigdata.py filled (250k settled orders, 1M entries)
    return urlunsplit(
        parts._replace(path=f"{parts.path}{'_bench100x' if size == '100x' else '_bench'}")
    )


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = parts._replace(path="/postgres")
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(admin), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=4, help="worker pool processes")
    parser.add_argument("--deadline", type=float, default=30.0, help="max drain seconds")
    parser.add_argument("--pgbench-seconds", type=int, default=6)
    parser.add_argument(
        "--batch-size", type=int, default=100, help="FULFILLMENT_BATCH_SIZE (1: one per txn)"
    )
    parser.add_argument(
        "--charge-concurrency",
        type=int,
        default=8,
        help="FULFILLMENT_CHARGE_CONCURRENCY (1: provider calls one after the other)",
    )
    parser.add_argument("--payment-latency-ms", type=float, default=0.0)
    from bench import sizes

    sizes.add_size_option(parser)
    args = parser.parse_args()
    if args.size == "both":
        return sizes.run_both(sys.argv[1:], _figures, script=__file__)

    db_url = bench_database_url(args.size)
    broker_url = os.environ.get(
        "TEST_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/flashsale_test"
    )
    workdir = Path(tempfile.mkdtemp(prefix="fulfillment-bench-"))
    redis = PrivateRedis(workdir / "redis").start()
    env = {
        "DJANGO_ENV": "test",
        "LOG_LEVEL": "WARNING",
        "FULFILLMENT_DATABASE_URL": db_url,
        "REDIS_URL": redis.url(0),
        "CELERY_BROKER_URL": broker_url,
        "PAYMENT_LATENCY_MS": str(args.payment_latency_ms),
        "FULFILLMENT_BATCH_SIZE": str(args.batch_size),
        "FULFILLMENT_CHARGE_CONCURRENCY": str(args.charge_concurrency),
    }
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "fulfillment_service.config.settings.test"
    try:
        return run(args, env, db_url, broker_url, workdir)
    finally:
        redis.stop()


def run(args, env, db_url, broker_url, workdir) -> int:
    started = time.monotonic()
    db_name = urlsplit(db_url).path.lstrip("/")
    say(f"[1/6] database {db_name}, private Redis :{urlsplit(env['REDIS_URL']).port}")
    ensure_database(db_url)
    subprocess.run(
        [sys.executable, "manage.py", "fulfillment", "migrate", "-v0"],
        cwd=ROOT,
        env={**os.environ},
        check=True,
    )
    import django

    django.setup()
    from django.db import connection

    from fulfillment_service.config.celery_app import app
    from fulfillment_service.fulfillment.models import (
        LedgerTransaction,
        Payment,
        ProcessedMessage,
        Stock,
    )
    from fulfillment_service.fulfillment.outbox import publish_confirmed
    from fulfillment_service.fulfillment.selectors import ledger_totals
    from fulfillment_service.fulfillment.stock import inventory_client
    from shared import messages
    from shared.celery import dead_letter_queue, service_queue
    from shared.inventory import EPOCH_KEY, ReserveLine

    if args.size == "demo":  # at 100x the data stays; counts below are relative to it
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE fulfillment_ledgerentry, fulfillment_ledgertransaction, "
                "fulfillment_payment, fulfillment_processedmessage, fulfillment_shipment, "
                "fulfillment_outboxevent, fulfillment_simulatedcharge, "
                "fulfillment_simulatedrequest, fulfillment_stockreceipt, fulfillment_stock"
            )
    skus = [f"BENCH-{i:06d}" for i in range(1, SKUS + 1)]
    units = 10_000_000
    Stock.objects.bulk_create(
        [Stock(sku=s, on_hand=units, received=units) for s in skus],
        update_conflicts=True,
        unique_fields=["sku"],
        update_fields=["on_hand", "received"],
    )
    base = {  # 0 at demo size (truncated); the 100x data otherwise
        "processed": ProcessedMessage.objects.count(),
        "payments": Payment.objects.count(),
        "sales": LedgerTransaction.objects.exclude(description="pgbench").count(),
    }
    inventory = inventory_client()
    inventory.set_available_many(dict.fromkeys(skus, units))
    # The bench's own sale on counters it just set: open it, as the rebuild would (ADR 0088).
    inventory.client.set(EPOCH_KEY, "bench", nx=True)
    tps_before = pgbench(args, db_url, workdir)
    if tps_before is None:
        return 1
    say(f"      pgbench before the drain: {tps_before:.0f} tps")

    say(f"[2/6] {args.orders} orders reserved in Redis")
    payloads = []
    for i in range(args.orders):
        sku = skus[i % SKUS]
        payload = messages.OrderAccepted(
            order_id=str(uuid.uuid4()),
            shopper_id=f"bench-{i}",
            lines=(messages.OrderLine(sku=sku, quantity=1, unit_price="10.00", currency="EUR"),),
            total="10.00",
            currency="EUR",
            accepted_at="2026-11-25T12:00:00+00:00",
        ).to_dict()
        inventory.reserve(
            reservation_id=payload["order_id"],
            shopper_id=payload["shopper_id"],
            lines=[ReserveLine(sku=sku, quantity=1)],
        )
        payloads.append(payload)

    with app.connection_for_write(broker_url) as conn:
        for name in (messages.FULFILLMENT_QUEUE, messages.ORDER_QUEUE):
            service_queue(name)(conn.default_channel).declare()
            service_queue(name)(conn.default_channel).purge()
            dead_letter_queue(name)(conn.default_channel).declare()
    t0 = time.perf_counter()
    for start in range(0, len(payloads), 1000):
        publish_confirmed(
            [(messages.PROCESS_ORDER_TASK, p) for p in payloads[start : start + 1000]],
            timeout=60,
        )
    publish_s = time.perf_counter() - t0
    say(
        f"[3/6] backlog published: {args.orders} messages in {publish_s:.1f}s "
        f"({args.orders / publish_s:.0f} msg/s, persistent, confirmed in batches of 1000)"
    )

    worker = ManagedProcess(
        [
            str(Path(sys.executable).parent / "celery"),
            "-A",
            "fulfillment_service.config.celery_app",
            "worker",
            "--queues",
            messages.FULFILLMENT_QUEUE,
            "--concurrency",
            str(args.concurrency),
            "--hostname",
            f"bench-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        env={**env, "LOG_LEVEL": "INFO", "LOG_FORMAT": "console"},
        cwd=ROOT,
        log_path=workdir / "worker.log",
    ).start()
    try:
        deadline = time.monotonic() + 60
        while " ready." not in worker.log():
            if time.monotonic() > deadline or not worker.alive():
                say(worker.log()[-3000:])
                return 1
            time.sleep(0.1)
        t0 = time.perf_counter()
        drain_deadline = time.monotonic() + args.deadline
        done = 0
        last_report = t0
        while done < args.orders and time.monotonic() < drain_deadline:
            time.sleep(0.25)
            done = ProcessedMessage.objects.count() - base["processed"]
            if time.perf_counter() - last_report >= 5:
                last_report = time.perf_counter()
                say(f"      drained {done}/{args.orders} ({done / (last_report - t0):.0f}/s)")
        drain_s = time.perf_counter() - t0
    finally:
        worker.stop(timeout=30)
        with app.connection_for_write(broker_url) as conn:  # leave no backlog behind
            for name in (messages.FULFILLMENT_QUEUE, messages.ORDER_QUEUE):
                service_queue(name)(conn.default_channel).purge()
    rate = done / drain_s
    note = "" if done == args.orders else f" (deadline hit: {done} of {args.orders})"
    say(
        f"[4/6] drained {done} orders in {drain_s:.1f}s with {args.concurrency} worker "
        f"processes, batches of {args.batch_size}, charges {args.charge_concurrency} at a "
        f"time, provider latency {args.payment_latency_ms:g} ms: {rate:.0f} orders/s{note}"
    )

    totals = ledger_totals()
    final = ProcessedMessage.objects.count() - base["processed"]  # in flight at the deadline too
    payments = Payment.objects.count() - base["payments"]
    sales = LedgerTransaction.objects.exclude(description="pgbench").count() - base["sales"]
    ok = payments == sales == final and totals == {"amount": 0, "quantity": 0}
    say(
        f"[5/6] checks: {final} orders processed, {payments} payments, {sales} ledger "
        f"transactions, ledger totals "
        f"{totals['amount']} EUR / {totals['quantity']} units -> {'OK' if ok else 'WRONG'}"
    )

    tps_after = pgbench(args, db_url, workdir)
    if tps_after is None:
        return 1
    tps = (tps_before + tps_after) / 2
    say(
        f"[6/6] pgbench after the drain: {tps_after:.0f} tps; mean of before/after "
        f"{tps:.0f} tps ({args.concurrency} clients, {args.pgbench_seconds}s each)"
    )
    say(
        f"\nSUMMARY orders={done} drain={rate:.0f} orders/s pgbench={tps:.0f} tps "
        f"ratio={rate / tps:.3f} (target >= 0.3) batch={args.batch_size} "
        f"publish={args.orders / publish_s:.0f} msg/s "
        f"load={os.getloadavg()[0]:.1f} (1-min load average of the shared 2-core machine) "
        f"total={time.monotonic() - started:.0f}s"
    )
    return 0 if ok else 1


def pgbench(args, db_url: str, workdir: Path) -> float | None:
    """tps of the raw SQL transaction with as many clients as worker processes."""
    script = workdir / "txn.sql"
    script.write_text(PGBENCH_SCRIPT.format(skus=SKUS))
    parts = urlsplit(db_url)
    result = subprocess.run(
        [
            PGBENCH,
            "-h",
            parts.hostname or "127.0.0.1",
            "-p",
            str(parts.port or 5432),
            "-U",
            parts.username or "fulfillment",
            "-n",
            "-f",
            str(script),
            "-c",
            str(args.concurrency),
            "-j",
            str(min(args.concurrency, os.cpu_count() or 1)),
            "-T",
            str(args.pgbench_seconds),
            parts.path.lstrip("/"),
        ],
        env={**os.environ, "PGPASSWORD": parts.password or ""},
        capture_output=True,
        text=True,
        timeout=args.pgbench_seconds + 60,
    )
    tps_lines = [ln for ln in result.stdout.splitlines() if ln.startswith("tps")]
    if result.returncode != 0 or not tps_lines:
        say(f"pgbench failed:\n{result.stdout}\n{result.stderr}")
        return None
    return float(tps_lines[0].split("=")[1].split()[0])


def _figures(text: str) -> dict[str, float]:
    """The figures --size both puts side by side."""
    from bench import sizes

    return sizes.numbers(
        text,
        {
            "drain orders/s": r"^SUMMARY .*drain=([\d.]+)",
            "pgbench tps": r"^SUMMARY .*pgbench=([\d.]+)",
            "drain / pgbench": r"^SUMMARY .*ratio=([\d.]+)",
        },
    )


if __name__ == "__main__":
    sys.exit(main())
