"""``manage.py catalog publish_offers``: republish every product's offer to Redis.

Run it after Redis lost its data, after a bulk change outside the services, or on a
schedule so that the next planned flash sale of a product replaces an ended one.
"""

from __future__ import annotations

import time

import redis
from django.core.management.base import BaseCommand, CommandError

from catalog_service.catalog.services import offer_publish_many


class Command(BaseCommand):
    help = "Republish the offer (price, flash sale, per-shopper limit) of every product."

    def handle(self, *args, **options):
        started = time.monotonic()
        self.stdout.write("Publishing offers ...")
        try:
            count = offer_publish_many()
        except redis.RedisError as exc:
            raise CommandError(
                f"Redis did not take the offers ({exc}); check OFFERS_REDIS_URL and that "
                "Redis answers (`redis-cli ping`), then run this again"
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Published {count} offers in {time.monotonic() - started:.1f}s.")
        )
