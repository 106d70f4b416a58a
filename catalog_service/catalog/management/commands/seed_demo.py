"""``manage.py catalog seed_demo``: load the storefront's demo data (idempotent)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from catalog_service.catalog.demo import demo_seed
from shared.demo import DEMO_PRODUCT_COUNT


class Command(BaseCommand):
    help = (
        "Load demo categories, products (with pictures), reviews and an active flash sale; "
        "publish offers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=DEMO_PRODUCT_COUNT)
        parser.add_argument("--reviews-min", type=int, default=10)
        parser.add_argument("--reviews-max", type=int, default=40)

    def handle(self, *args, products, reviews_min, reviews_max, **options):
        if products < 1 or not (0 <= reviews_min <= reviews_max):
            raise CommandError("need --products >= 1 and 0 <= --reviews-min <= --reviews-max")
        started = time.monotonic()
        self.stdout.write(f"Seeding the catalog demo: {products} products ...")
        summary = demo_seed(
            products=products,
            reviews_min=reviews_min,
            reviews_max=reviews_max,
            progress=lambda msg: self.stdout.write(f"  {msg}"),
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Catalog demo ready in {time.monotonic() - started:.1f}s: "
                f"{summary.products_total} products ({summary.products_created} new), "
                f"{summary.categories_created} new categories, "
                f"{summary.reviews_created} new reviews, "
                f"{summary.flash_sales_created} new flash sales, "
                f"{summary.images_written} images drawn, "
                f"{summary.offers_published} offers published."
            )
        )
