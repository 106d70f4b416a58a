"""``manage.py catalog publish_offers [--watch SECONDS]``: republish every product's offer.

Run it after Redis lost its data, after a bulk change outside the services, or on a
schedule so that the next planned flash sale of a product replaces an ended one.

``--watch S`` (the Procfile's loop): after publishing, keep watching the offer read model
for ``S`` seconds and republish at once when its ``offer:epoch`` marker is gone (Redis came
back empty: checkout is paused until the offers are back, ADR 0088); then exit, so that
the schedule around it publishes again.
"""

from __future__ import annotations

import time

import redis
from django.core.management.base import BaseCommand, CommandError

from catalog_service.catalog import redis_clients
from catalog_service.catalog.services import offer_publish_many
from shared.offers import offers_epoch

WATCH_POLL = 0.25  # seconds between looks at the marker


class Command(BaseCommand):
    help = "Republish the offer (price, flash sale, per-shopper limit) of every product."

    def add_arguments(self, parser):
        parser.add_argument(
            "--watch",
            type=float,
            default=0.0,
            help="then watch for this many seconds, republishing when Redis comes back empty",
        )

    def handle(self, *args, watch: float, **options):
        self._publish(fatal=True)
        deadline = time.monotonic() + watch
        while time.monotonic() < deadline:
            time.sleep(WATCH_POLL)
            try:
                missing = offers_epoch(redis_clients.offers_client()) is None
            except redis.RedisError:
                continue  # Redis is restarting: look again
            if missing:
                self.stdout.write("offer read model empty (Redis restarted?): republishing")
                self._publish(fatal=False)

    def _publish(self, *, fatal: bool) -> None:
        started = time.monotonic()
        self.stdout.write("Publishing offers ...")
        try:
            count = offer_publish_many()
        except redis.RedisError as exc:
            if not fatal:
                self.stderr.write(f"Redis did not take the offers ({exc}); retrying")
                return
            raise CommandError(
                f"Redis did not take the offers ({exc}); check OFFERS_REDIS_URL and that "
                "Redis answers (`redis-cli ping`), then run this again"
            ) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Published {count} offers in {time.monotonic() - started:.1f}s.")
        )
