"""`manage.py order outbox_relay [--once]`: publish what checkout could not (R4).

A long-running loop (a process in deploy/Procfile). Safe to run as several instances: each
batch is taken with SELECT ... FOR UPDATE SKIP LOCKED. Now and then it also deletes expired
idempotency keys and gives back reservations whose order was never written (a checkout
process killed between the Redis reservation and the database write). Stops cleanly on
SIGTERM/SIGINT after the current batch.
"""

from __future__ import annotations

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from order_service.orders.publisher import publisher
from order_service.orders.selectors import outbox_backlog
from order_service.orders.services import (
    idempotency_keys_expire,
    outbox_relay_batch,
    reservations_release_orphans,
)

CLEANUP_EVERY = 300.0  # seconds between idempotency-key clean-ups
REAP_EVERY = 60.0  # seconds between sweeps for reservations whose order was never written


class Command(BaseCommand):
    help = "Publish unpublished outbox messages to RabbitMQ (loop; --once for a single sweep)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="sweep until nothing is due")
        parser.add_argument("--batch", type=int, default=settings.OUTBOX_RELAY_BATCH)
        parser.add_argument("--interval", type=float, default=settings.OUTBOX_RELAY_INTERVAL)
        parser.add_argument(
            "--orphan-age",
            type=float,
            default=settings.ORPHAN_RESERVATION_AGE,
            help="seconds a reservation without an order must stay orphaned to be released",
        )

    def handle(self, *args, once: bool, batch: int, interval: float, orphan_age: float, **_):
        self.stopping = False
        if not once:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        backlog = outbox_backlog()
        self.stdout.write(f"outbox relay: {backlog.pending} message(s) waiting at start")
        total_published = total_failed = 0
        last_cleanup = 0.0
        last_reap = time.monotonic()
        orphans_seen: dict[str, float] = {}
        reservations_release_orphans(seen=orphans_seen, min_age=orphan_age)  # first sighting
        try:
            while not self.stopping:
                close_old_connections()
                result = outbox_relay_batch(limit=batch)
                total_published += result.published
                total_failed += result.failed
                if result.published or result.failed:
                    self.stdout.write(
                        f"outbox relay: published {result.published}, failed {result.failed}"
                    )
                if time.monotonic() - last_cleanup > CLEANUP_EVERY:
                    expired = idempotency_keys_expire()
                    if expired:
                        self.stdout.write(f"outbox relay: deleted {expired} expired key(s)")
                    last_cleanup = time.monotonic()
                if time.monotonic() - last_reap > min(REAP_EVERY, max(orphan_age, 1.0)):
                    released = reservations_release_orphans(seen=orphans_seen, min_age=orphan_age)
                    if released:
                        self.stdout.write(
                            f"outbox relay: released {released} orphan reservation(s)"
                        )
                    last_reap = time.monotonic()
                if once and (result.failed or result.published < batch):
                    break
                if result.published < batch:
                    time.sleep(interval)  # a full batch means more is due: go on at once
        finally:
            publisher.close()
        backlog = outbox_backlog()
        self.stdout.write(
            f"outbox relay: done - published {total_published}, failed {total_failed}, "
            f"{backlog.pending} still waiting"
        )
        if once and backlog.pending and total_failed:
            self.stderr.write(
                "some messages could not be published; is RabbitMQ up? "
                "check CELERY_BROKER_URL and `manage.py order outbox_relay` logs"
            )

    def _stop(self, *_):
        self.stopping = True
