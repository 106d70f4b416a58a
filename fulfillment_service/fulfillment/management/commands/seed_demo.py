"""`manage.py fulfillment seed_demo`: stock for the demo skus (shared.demo), and Redis
availability to match. Idempotent: existing stock rows are kept; Redis counters that are
missing are rebuilt and drifting ones repaired from PostgreSQL."""

import time

from django.core.management.base import BaseCommand

from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import Stock, StockReceipt
from fulfillment_service.fulfillment.stock import inventory_client
from shared.demo import demo_skus, demo_stock

BATCH = 500


class Command(BaseCommand):
    help = "Create stock for the demo skus and set Redis availability to match."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=None, help="number of demo skus")

    def handle(self, *args, count, **options):
        started = time.monotonic()
        skus = demo_skus() if count is None else demo_skus(count)
        existing = set(Stock.objects.filter(sku__in=skus).values_list("sku", flat=True))
        created = 0
        for start in range(0, len(skus), BATCH):
            batch = [
                (sku, demo_stock(i))
                for i, sku in enumerate(skus[start : start + BATCH], start=start + 1)
                if sku not in existing
            ]
            Stock.objects.bulk_create(
                [Stock(sku=sku, on_hand=n, received=n) for sku, n in batch],
                ignore_conflicts=True,
            )
            StockReceipt.objects.bulk_create(
                [StockReceipt(sku_id=sku, quantity=n, source="seed_demo") for sku, n in batch]
            )
            created += len(batch)
            self.stdout.write(f"  stock: {min(start + BATCH, len(skus))}/{len(skus)} skus")
        report = stock_invariant_check(
            inventory=inventory_client(), skus=skus, samples=1, repair=True
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"seed_demo: {created} stock rows created, {len(skus) - created} already there; "
                f"Redis: {len(report.unknown)} counters rebuilt, {len(report.drifting)} repaired "
                f"({time.monotonic() - started:.1f}s)"
            )
        )
