"""`manage.py order outbox_relay [--once]`: publish what checkout could not (R4).

A long-running loop (a process in deploy/Procfile). Safe to run as several instances: each
batch is taken with SELECT ... FOR UPDATE SKIP LOCKED. Now and then it also deletes expired
idempotency keys and gives back reservations whose order was never written (a checkout
process killed between the Redis reservation and the database write). Every round it also
looks whether Redis came back empty (no ``inv:epoch``) and, if so, writes back the
reservations of the orders accepted but not yet settled (orders/restore.py, ADR 0088), so
that fulfillment can rebuild availability and the sale resumes within seconds. Stops
cleanly on SIGTERM/SIGINT after the current batch.

The long-running loop serves its own Prometheus metrics on ``METRICS_PORT`` (when set):
the order outbox backlog and oldest age, the oldest order waiting for fulfillment
(refreshed every ``METRICS_REFRESH`` seconds) and, read at scrape time, the units left of
each sku on a live sale (docs/runbook.md, "Day of the sale").
"""

from __future__ import annotations

import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections
from redis.exceptions import RedisError

from order_service.orders import metrics
from order_service.orders.publisher import publisher
from order_service.orders.restore import inventory_reservations_restore
from order_service.orders.selectors import outbox_backlog
from order_service.orders.services import (
    idempotency_keys_expire,
    outbox_relay_batch,
    reservations_release_orphans,
)
from order_service.orders.stores import inventory, offers_client
from shared.metrics import Every, SaleAvailabilityCollector, metrics_server_start

CLEANUP_EVERY = 300.0  # seconds between idempotency-key clean-ups
REAP_EVERY = 60.0  # seconds between sweeps for reservations whose order was never written
METRICS_REFRESH = 5.0  # seconds between refreshes of the backlog gauges

logger = logging.getLogger(__name__)


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
        self.stdout.write("outbox relay: started" + ("" if once else " (Ctrl-C stops it)"))
        self.published = self.failed = 0
        self.orphans_seen: dict[str, float] = {}
        self.orphan_age = orphan_age
        last_cleanup = last_reap = 0.0
        outage = 0  # consecutive sweeps that failed on the database or Redis
        refresh = Every(METRICS_REFRESH)
        if not once:
            port = metrics_server_start(
                collectors=[SaleAvailabilityCollector(offers=offers_client, inventory=inventory)]
            )
            if port:
                self.stdout.write(f"outbox relay: metrics on :{port}/metrics")
        try:
            while not self.stopping:
                try:
                    close_old_connections()
                    if not once:
                        self._restore()
                    result = outbox_relay_batch(limit=batch)
                    if not once and refresh.due():
                        metrics.relay_gauges_refresh()
                    if time.monotonic() - last_cleanup > CLEANUP_EVERY:
                        self._cleanup()
                        last_cleanup = time.monotonic()
                    if time.monotonic() - last_reap > min(REAP_EVERY, max(orphan_age, 1.0)):
                        self._reap()
                        last_reap = time.monotonic()
                except (DatabaseError, RedisError) as exc:
                    if once:
                        raise CommandError(f"outbox relay: {exc}; is the database up?") from exc
                    # A long-running relay outlives a database or Redis outage: stopping
                    # here would take the whole process group (honcho) down with it.
                    outage += 1
                    wait = min(10.0, interval * 2**outage)
                    logger.error("outbox relay: %s; retrying in %.1f s", exc, wait)
                    time.sleep(wait)
                    continue
                outage = 0
                self.published += result.published
                self.failed += result.failed
                if result.published or result.failed:
                    self.stdout.write(
                        f"outbox relay: published {result.published}, failed {result.failed}"
                    )
                if once and (result.failed or result.published < batch):
                    break
                if result.published < batch:
                    time.sleep(interval)  # a full batch means more is due: go on at once
        finally:
            publisher.close()
        try:
            pending = outbox_backlog().pending
        except DatabaseError:
            pending = "unknown (database unreachable)"
        self.stdout.write(
            f"outbox relay: done - published {self.published}, failed {self.failed}, "
            f"{pending} still waiting"
        )
        if once and self.failed:
            self.stderr.write(
                "some messages could not be published; is RabbitMQ up? "
                "check CELERY_BROKER_URL and the relay's log"
            )

    def _cleanup(self) -> None:
        expired = idempotency_keys_expire()
        if expired:
            self.stdout.write(f"outbox relay: deleted {expired} expired idempotency key(s)")

    def _restore(self) -> None:
        restored = inventory_reservations_restore()
        if restored is not None:
            self.stdout.write(
                f"outbox relay: Redis came back empty; restored {restored.reservations} open "
                f"reservation(s) ({restored.units} units) and {restored.shopper_counters} "
                "shopper counter(s); fulfillment rebuilds availability next"
            )

    def _reap(self) -> None:
        released = reservations_release_orphans(seen=self.orphans_seen, min_age=self.orphan_age)
        if released:
            self.stdout.write(f"outbox relay: released {released} orphan reservation(s)")

    def _stop(self, *_):
        self.stopping = True
