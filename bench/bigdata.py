#!/usr/bin/env python
"""Fill one database per service with 100x the demo data, fast, for the 100x benchmarks.

    source <your env>; .venv/bin/python -m bench.bigdata [--size 100x] [--only catalog,order]
    .venv/bin/python -m bench.bigdata --explain      # EXPLAIN ANALYZE of the hot paths
    .venv/bin/python -m bench.bigdata --drop         # drop the three databases again

The databases are ``<name>_bench100x`` beside each ``<SERVICE>_DATABASE_URL`` (never the
platform's own databases). Each is dropped, created (owned by the service's role), migrated
with ``manage.py <service> migrate``, then filled by set-based SQL (``generate_series``, one
INSERT ... SELECT per table, run as the PostgreSQL superuser with
``session_replication_role = replica`` so foreign-key and ledger triggers do not fire row by
row: the rows are consistent by construction, and the checks at the end prove the ledger
balances and no foreign key dangles), then ``VACUUM ANALYZE``.

At 100x (the demo is 2 000 products, 12 categories, ~50 000 reviews, 20 flash sales):

  catalog      1 200 categories, 200 000 products, 5 000 000 reviews, 2 000 flash sales
  order        1 000 000 orders (+ 1 line, 1 idempotency key, 1 published outbox row each)
  fulfillment  200 000 stock rows, 250 000 settled orders: payments, simulated charges,
               processed markers, shipments, sale ledger transactions with 4 entries each
               (1 000 000 ledger entries), published outbox events

Skus are the demo's (``SKU-000001`` ...), so the storefront, offers and stock agree.
Prints progress per table and a summary (rows, seconds, database sizes). Minutes, not hours.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SUFFIX = "_bench100x"
ADMIN_URL = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")

DEFAULT_URLS = {
    "catalog": "postgres://catalog:catalog@127.0.0.1:5432/catalog",
    "order": "postgres://orders:orders@127.0.0.1:5432/orders",
    "fulfillment": "postgres://fulfillment:fulfillment@127.0.0.1:5432/fulfillment",
}

# Multiples of the demo (shared.demo.DEMO_PRODUCT_COUNT = 2000, 12 categories, 20 sales).
SIZES = {
    "100x": {
        "categories": 1_200,
        "products": 200_000,
        "reviews_per_product": 25,
        "flash_sales": 2_000,
        "orders": 1_000_000,
        "settled": 250_000,  # fulfillment: 4 ledger entries each -> 1 000 000 entries
    },
    # A quick size for trying the script itself (seconds).
    "1x": {
        "categories": 12,
        "products": 2_000,
        "reviews_per_product": 25,
        "flash_sales": 20,
        "orders": 10_000,
        "settled": 2_500,
    },
}


def say(text: str) -> None:
    print(text, flush=True)


def service_url(service: str) -> str:
    return os.environ.get(f"{service.upper()}_DATABASE_URL", DEFAULT_URLS[service])


def bench_url(service: str) -> str:
    """``<SERVICE>_DATABASE_URL`` with ``_bench100x`` appended to the database name."""
    parts = urlsplit(service_url(service))
    return urlunsplit(parts._replace(path=f"{parts.path}{SUFFIX}"))


def superuser_url(url: str) -> str:
    admin = urlsplit(ADMIN_URL)
    return urlunsplit(admin._replace(path=urlsplit(url).path))


def db_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def recreate(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = db_name(url)
    if not name.endswith(SUFFIX):  # never anything but a bench database
        raise SystemExit(f"refusing to recreate {name!r}: not a {SUFFIX} database")
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(urlsplit(url).username)
            )
        )


def drop(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = db_name(url)
    if not name.endswith(SUFFIX):
        raise SystemExit(f"refusing to drop {name!r}: not a {SUFFIX} database")
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def migrate(service: str, url: str) -> None:
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        f"{service.upper()}_DATABASE_URL": url,
    }
    subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), service, "migrate", "--noinput", "-v0"],
        env=env,
        cwd=ROOT,
        check=True,
        timeout=300,
    )


def database_size(url: str) -> int:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        return int(admin.execute("SELECT pg_database_size(%s)", [db_name(url)]).fetchone()[0])


# --- the SQL, per service ---------------------------------------------------------------
# Every statement is one INSERT ... SELECT over generate_series; %(name)s are the size's
# numbers. Spread over the last 180 days, deterministic (no random(): a re-run is the same).

CATALOG_SQL = [
    (
        "catalog_category",
        """
        INSERT INTO catalog_category (slug, name, created_at, updated_at)
        SELECT 'category-' || g, 'Category ' || lpad(g::text, 5, '0'), now(), now()
        FROM generate_series(1::bigint, %(categories)s) g
        """,
    ),
    (
        "catalog_product",
        """
        INSERT INTO catalog_product (sku, slug, name, description, images, attributes, price,
                                     currency, category_id, is_active, created_at, updated_at)
        SELECT 'SKU-' || lpad(g::text, 6, '0'),
               'product-' || g || '-sku-' || lpad(g::text, 6, '0'),
               'Product ' || g,
               'The product ' || g || ': a generated product for the 100x benchmarks.',
               jsonb_build_array('/media/products/SKU-' || lpad(g::text, 6, '0') || '-1.svg',
                                 '/media/products/SKU-' || lpad(g::text, 6, '0') || '-2.svg'),
               jsonb_build_object('colour', (ARRAY['black','white','red','blue'])[g %% 4 + 1],
                                  'warranty_years', g %% 3 + 1),
               (999 + (g * 7919) %% 99000) / 100.0,
               'EUR',
               (SELECT min(id) FROM catalog_category) + g %% %(categories)s,
               g %% 50 <> 0,  -- one in fifty inactive, like products taken off sale
               now() - interval '1 minute' * (g %% 259200),
               now()
        FROM generate_series(1::bigint, %(products)s) g
        """,
    ),
    (
        "catalog_review",
        """
        INSERT INTO catalog_review (product_id, rating, title, body, author_name, created_at)
        SELECT p.id, 1 + (p.id * 31 + n * 17) %% 5, 'Review ' || n,
               'Review ' || n || ' of product ' || p.id || ': generated.',
               'Shopper ' || ((p.id * 13 + n) %% 5000),
               now() - interval '1 minute' * ((p.id * 101 + n * 7919) %% 259200)
        FROM catalog_product p, generate_series(1::bigint, %(reviews_per_product)s) n
        """,
    ),
    (
        "catalog_flashsale",
        # The first sku's sale is on now (like the demo's), the others alternate: past,
        # running, to come; one sale per product, so no two overlap.
        """
        INSERT INTO catalog_flashsale (product_id, sale_price, starts_at, ends_at,
                                       per_shopper_limit, created_at, updated_at)
        SELECT p.id, round(p.price * 0.7, 2) + 0.01,
               now() + interval '1 day' * ((p.id %% 3 - 1) * 2) - interval '1 hour',
               now() + interval '1 day' * ((p.id %% 3 - 1) * 2) + interval '1 day',
               2, now(), now()
        FROM catalog_product p
        ORDER BY p.id
        LIMIT %(flash_sales)s
        """,
    ),
]

ORDER_SQL = [
    (
        "orders_order",
        # 90 % fulfilled, 8 % failed, 2 % still accepted (the oldest accepted keep the
        # maintain sweep and the admin's status filter honest).
        """
        INSERT INTO orders_order (id, shopper_id, customer_id, status, failure_reason, total,
                                  currency, created_at, status_changed_at)
        SELECT md5('order-' || g)::uuid,
               'shopper-' || (g %% 400000),
               CASE WHEN g %% 10 = 0 THEN g %% 50000 END,
               CASE WHEN g %% 50 = 0 THEN 'accepted'
                    WHEN g %% 12 = 0 THEN 'failed' ELSE 'fulfilled' END,
               CASE WHEN g %% 50 <> 0 AND g %% 12 = 0 THEN 'payment_declined' ELSE '' END,
               (999 + (g * 7919) %% 99000) / 100.0,
               'EUR',
               now() - make_interval(secs => (%(orders)s - g) * 15),
               now() - make_interval(secs => (%(orders)s - g) * 15 - 2)
        FROM generate_series(1::bigint, %(orders)s) g
        """,
    ),
    (
        "orders_orderline",
        """
        INSERT INTO orders_orderline (order_id, sku, quantity, unit_price, currency)
        SELECT md5('order-' || g)::uuid, 'SKU-' || lpad((1 + g %% %(products)s)::text, 6, '0'),
               1, (999 + (g * 7919) %% 99000) / 100.0, 'EUR'
        FROM generate_series(1::bigint, %(orders)s) g
        """,
    ),
    (
        "orders_idempotencykey",
        """
        INSERT INTO orders_idempotencykey (shopper_id, key, fingerprint, order_id,
                                           response_status, response_body, created_at,
                                           expires_at)
        SELECT 'shopper-' || (g %% 400000), 'key-' || g, md5('body-' || g) || md5('x' || g),
               md5('order-' || g)::uuid, 201,
               jsonb_build_object('id', md5('order-' || g)::uuid, 'status', 'accepted'),
               now() - make_interval(secs => (%(orders)s - g) * 15),
               now() - make_interval(secs => (%(orders)s - g) * 15) + interval '24 hours'
        FROM generate_series(1::bigint, %(orders)s) g
        """,
    ),
    (
        "orders_outboxmessage",
        """
        INSERT INTO orders_outboxmessage (id, order_id, task_name, queue, payload, created_at,
                                          published_at, attempts, next_attempt_at, last_error)
        SELECT md5('outbox-' || g)::uuid, md5('order-' || g)::uuid,
               'fulfillment.process_order', 'fulfillment',
               jsonb_build_object('order_id', md5('order-' || g)::uuid),
               now() - make_interval(secs => (%(orders)s - g) * 15),
               now() - make_interval(secs => (%(orders)s - g) * 15 - 1),
               1,
               now() - make_interval(secs => (%(orders)s - g) * 15),
               ''
        FROM generate_series(1::bigint, %(orders)s) g
        """,
    ),
]

FULFILLMENT_SQL = [
    (
        "fulfillment_stock",
        """
        INSERT INTO fulfillment_stock (sku, on_hand, received, updated_at)
        SELECT 'SKU-' || lpad(g::text, 6, '0'), 1000000, 1000000, now()
        FROM generate_series(1::bigint, %(products)s) g
        """,
    ),
    (
        "fulfillment_stockreceipt",
        """
        INSERT INTO fulfillment_stockreceipt (sku_id, quantity, source, created_at)
        SELECT 'SKU-' || lpad(g::text, 6, '0'), 1000000, 'bench100x', now()
        FROM generate_series(1::bigint, %(products)s) g
        """,
    ),
    (
        "fulfillment_processedmessage",
        """
        INSERT INTO fulfillment_processedmessage (order_id, outcome, reason, detail,
                                                  processed_at)
        SELECT md5('order-' || g)::uuid, 'fulfilled', '', '',
               now() - make_interval(secs => (%(settled)s - g) * 60)
        FROM generate_series(1::bigint, %(settled)s) g
        """,
    ),
    (
        "fulfillment_simulatedcharge",
        """
        INSERT INTO fulfillment_simulatedcharge (idempotency_key, reference, amount, currency,
                                                 status, decline_code, refunded, created_at)
        SELECT 'pay-' || md5('order-' || g)::uuid, 'sim-' || g, 10.00, 'EUR', 'approved', '',
               false, now() - make_interval(secs => (%(settled)s - g) * 60)
        FROM generate_series(1::bigint, %(settled)s) g
        """,
    ),
    (
        "fulfillment_payment",
        """
        INSERT INTO fulfillment_payment (order_id, idempotency_key, amount, currency, status,
                                         provider, provider_reference, decline_code,
                                         created_at, updated_at)
        SELECT md5('order-' || g)::uuid, 'pay-' || md5('order-' || g)::uuid, 10.00, 'EUR',
               'captured', 'simulated', 'sim-' || g, '',
               now() - make_interval(secs => (%(settled)s - g) * 60),
               now() - make_interval(secs => (%(settled)s - g) * 60)
        FROM generate_series(1::bigint, %(settled)s) g
        """,
    ),
    (
        "fulfillment_ledgertransaction",
        """
        INSERT INTO fulfillment_ledgertransaction (id, order_id, kind, reverses_id,
                                                   description, created_at)
        SELECT g, md5('order-' || g)::uuid, 'sale', NULL, 'bench100x sale',
               now() - make_interval(secs => (%(settled)s - g) * 60)
        FROM generate_series(1::bigint, %(settled)s) g
        """,
    ),
    (
        "fulfillment_ledgerentry",
        # The sale's four legs, as services.py writes them: money in, revenue, units out.
        """
        INSERT INTO fulfillment_ledgerentry (transaction_id, account, sku, currency, amount,
                                             quantity)
        SELECT g, e.account,
               CASE WHEN e.units THEN 'SKU-' || lpad((1 + g %% %(products)s)::text, 6, '0')
                    ELSE '' END,
               CASE WHEN e.units THEN '' ELSE 'EUR' END, e.amount, e.quantity
        FROM generate_series(1::bigint, %(settled)s) g,
             (VALUES ('payments_receivable', false, 10.00, 0),
                     ('sales_revenue', false, -10.00, 0),
                     ('units_sold', true, 0, 1),
                     ('inventory', true, 0, -1)) AS e(account, units, amount, quantity)
        ORDER BY g
        """,
    ),
    (
        "fulfillment_shipment",
        """
        INSERT INTO fulfillment_shipment (order_id, status, lines, created_at, updated_at)
        SELECT md5('order-' || g)::uuid, CASE WHEN g %% 5 = 0 THEN 'pending' ELSE 'shipped' END,
               jsonb_build_array(jsonb_build_object(
                   'sku', 'SKU-' || lpad((1 + g %% %(products)s)::text, 6, '0'), 'quantity', 1)),
               now() - make_interval(secs => (%(settled)s - g) * 60),
               now() - make_interval(secs => (%(settled)s - g) * 60)
        FROM generate_series(1::bigint, %(settled)s) g
        """,
    ),
    (
        "fulfillment_outboxevent",
        """
        INSERT INTO fulfillment_outboxevent (order_id, task_name, queue, payload, created_at,
                                             published_at, attempts, next_attempt_at,
                                             last_error)
        SELECT md5('order-' || g)::uuid, 'order.apply_status', 'order',
               jsonb_build_object('order_id', md5('order-' || g)::uuid, 'status', 'fulfilled'),
               now() - make_interval(secs => (%(settled)s - g) * 60),
               now() - make_interval(secs => (%(settled)s - g) * 60 - 1), 1,
               now() - make_interval(secs => (%(settled)s - g) * 60), ''
        FROM generate_series(1::bigint, %(settled)s) g
        """,
    ),
]

# Sequences the explicit ids above bypassed; and the checks that prove consistency.
AFTER_SQL = {
    "catalog": [],
    "order": [],
    "fulfillment": [
        "SELECT setval(pg_get_serial_sequence('fulfillment_ledgertransaction', 'id'), "
        "(SELECT max(id) FROM fulfillment_ledgertransaction))",
        # on_hand = received - units sold, as the ledger says
        "UPDATE fulfillment_stock s SET on_hand = s.received - sold.n FROM ("
        " SELECT sku, sum(quantity) AS n FROM fulfillment_ledgerentry"
        " WHERE account = 'units_sold' GROUP BY sku) sold WHERE sold.sku = s.sku",
    ],
}
CHECKS = {
    "catalog": [
        (
            "reviews without a product",
            "SELECT count(*) FROM catalog_review r LEFT JOIN catalog_product p "
            "ON p.id = r.product_id WHERE p.id IS NULL",
        ),
        (
            "products without a category",
            "SELECT count(*) FROM catalog_product p LEFT JOIN catalog_category c "
            "ON c.id = p.category_id WHERE c.id IS NULL",
        ),
    ],
    "order": [
        (
            "lines without an order",
            "SELECT count(*) FROM orders_orderline l LEFT JOIN orders_order o "
            "ON o.id = l.order_id WHERE o.id IS NULL",
        ),
        (
            "unpublished outbox rows",
            "SELECT count(*) FROM orders_outboxmessage WHERE published_at IS NULL",
        ),
    ],
    "fulfillment": [
        (
            "unbalanced ledger transactions",
            "SELECT count(*) FROM (SELECT transaction_id FROM fulfillment_ledgerentry "
            "GROUP BY transaction_id, currency, sku "
            "HAVING sum(amount) <> 0 OR sum(quantity) <> 0) t",
        ),
        (
            "entries on skus without stock",
            "SELECT count(*) FROM fulfillment_ledgerentry e LEFT JOIN fulfillment_stock s "
            "ON s.sku = e.sku WHERE e.sku <> '' AND s.sku IS NULL",
        ),
    ],
}
STATEMENTS = {"catalog": CATALOG_SQL, "order": ORDER_SQL, "fulfillment": FULFILLMENT_SQL}


def fill(service: str, url: str, numbers: dict[str, int]) -> dict[str, int]:
    import psycopg

    rows: dict[str, int] = {}
    with psycopg.connect(superuser_url(url), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # no per-row FK/ledger triggers
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '256MB'")
        for table, statement in STATEMENTS[service]:
            started = time.perf_counter()
            cursor = conn.execute(statement, numbers)
            rows[table] = cursor.rowcount
            took = time.perf_counter() - started
            say(f"      {table:<32} {cursor.rowcount:>10,} rows {took:6.1f}s")
        for statement in AFTER_SQL[service]:
            conn.execute(statement)
        conn.execute("SET session_replication_role = origin")
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        say(f"      VACUUM ANALYZE {time.perf_counter() - started:6.1f}s")
        for label, query in CHECKS[service]:
            found = conn.execute(query).fetchone()[0]
            say(f"      check: {label}: {found}")
            if found:
                raise SystemExit(f"{service}: {found} {label}")
    return rows


def generate(services: list[str], size: str) -> int:
    numbers = SIZES[size]
    started = time.monotonic()
    summary = []
    for n, service in enumerate(services, start=1):
        url = bench_url(service)
        t0 = time.monotonic()
        say(f"[{n}/{len(services)}] {service}: {db_name(url)} (drop, create, migrate, fill)")
        recreate(url)
        migrate(service, url)
        rows = fill(service, url, numbers)
        summary.append((service, db_name(url), sum(rows.values()), time.monotonic() - t0, url))
    say("\nSUMMARY (size %s)" % size)  # noqa: UP031
    total_bytes = 0
    for service, name, rows, seconds, url in summary:
        size_bytes = database_size(url)
        total_bytes += size_bytes
        say(
            f"  {service:<12} {name:<34} {rows:>11,} rows {seconds:6.0f}s "
            f"{size_bytes / 2**20:8.0f} MiB"
        )
    say(
        f"  total {total_bytes / 2**20:.0f} MiB on disk, {time.monotonic() - started:.0f}s; "
        f"load average {os.getloadavg()[0]:.2f} (shared 2-core machine). "
        f"Drop with: bench/bigdata.py --drop"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="100x")
    parser.add_argument("--only", default="catalog,order,fulfillment")
    parser.add_argument("--drop", action="store_true", help="drop the bench databases")
    parser.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE the hot paths (bench/explain)"
    )
    args = parser.parse_args()
    services = [s for s in args.only.split(",") if s]
    for service in services:
        if service not in DEFAULT_URLS:
            raise SystemExit(f"unknown service {service!r}")
    if args.drop:
        for service in services:
            drop(bench_url(service))
            say(f"dropped {db_name(bench_url(service))}")
        return 0
    if args.explain:
        from bench.bigdata_explain import explain_all

        return explain_all({s: superuser_url(bench_url(s)) for s in services})
    return generate(services, args.size)


if __name__ == "__main__":
    sys.exit(main())
