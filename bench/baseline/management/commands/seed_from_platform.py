"""``python -m bench.baseline.manage seed_from_platform``: the platform's demo data, copied.

Reads the rows the platform's ``seed_demo`` wrote (catalog: categories, products, reviews,
flash sales; fulfillment: stock) from the databases named by CATALOG_DATABASE_URL and
FULFILLMENT_DATABASE_URL, and writes them into the monolith's one database, so both serve
the same products, prices, sale windows and stock (as received: before any sale). Replaces
what was there.
"""

from __future__ import annotations

import os

import psycopg
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from psycopg.types.json import Jsonb

from bench.baseline.models import Category, FlashSale, Product, Review, Stock

COPIES = [
    ("catalog", Category, "SELECT id, slug, name FROM catalog_category"),
    (
        "catalog",
        Product,
        "SELECT id, sku, slug, name, description, images, attributes, price, currency, "
        "category_id, is_active FROM catalog_product",
    ),
    (
        "catalog",
        Review,
        "SELECT id, product_id, rating, title, body, author_name, created_at FROM catalog_review",
    ),
    (
        "catalog",
        FlashSale,
        "SELECT id, product_id, sale_price, starts_at, ends_at, per_shopper_limit "
        "FROM catalog_flashsale",
    ),
    # the stock as received: the platform may have sold some in this run already
    ("fulfillment", Stock, "SELECT sku, received AS on_hand, received FROM fulfillment_stock"),
]


class Command(BaseCommand):
    help = "Copy the platform's demo catalog and stock into the monolith's database."

    def handle(self, *args, **options):
        sources = {
            "catalog": os.environ["CATALOG_DATABASE_URL"],
            "fulfillment": os.environ["FULFILLMENT_DATABASE_URL"],
        }
        counts = {}
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE monolith_ledgerentry, monolith_payment, monolith_idempotencykey, "
                "monolith_orderline, monolith_order, monolith_stock, monolith_flashsale, "
                "monolith_review, monolith_product, monolith_category, django_session"
            )
            for source, model, select in COPIES:
                with psycopg.connect(sources[source]) as src:
                    rows = src.execute(select).fetchall()
                    columns = [d.name for d in src.execute(select + " LIMIT 0").description]
                table = model._meta.db_table
                columns_sql = ", ".join(columns)
                with (
                    cursor.connection.cursor() as raw,
                    raw.copy(f"COPY {table} ({columns_sql}) FROM STDIN") as copy,
                ):
                    for row in rows:
                        copy.write_row([Jsonb(v) if isinstance(v, list | dict) else v for v in row])
                counts[table] = len(rows)
            for model in (Category, Product, Review, FlashSale):
                table = model._meta.db_table
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )
        self.stdout.write(", ".join(f"{t}: {n}" for t, n in counts.items()))
