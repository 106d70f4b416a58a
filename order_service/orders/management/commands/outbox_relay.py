"""`manage.py order outbox_relay [--once]`: publish accepted orders from the outbox (R4).

The shared relay loop (shared/outbox/command.py: woken after each checkout's commit, polls
as a fallback, SKIP LOCKED batches, backoff, outlives database outages). Now and then it
also deletes expired idempotency keys and gives back reservations whose order was never
written (a checkout process killed between the Redis reservation and the database write).
Every round it also looks whether Redis came back empty (no ``inv:epoch``) and, if so,
writes back the reservations of the orders accepted but not yet settled
(orders/restore.py, ADR 0088), so that fulfillment can rebuild availability and the sale
resumes within seconds. It also mirrors the waiting rooms to Redis again, so an emptied
Redis gets its rooms (and their skus' guards) back within a round (waitingroom, ADR 0104).

Its metrics (``METRICS_PORT``): the order outbox backlog and oldest age, the oldest order
waiting for fulfillment and, read at scrape time, the units left of each sku on a live sale
(docs/runbook.md, "Day of the sale").
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from order_service.orders import metrics
from order_service.orders.outbox import outbox
from order_service.orders.restore import inventory_reservations_restore
from order_service.orders.services import idempotency_keys_expire, reservations_release_orphans
from order_service.orders.stores import inventory, offers_client
from order_service.waitingroom.services import rooms_publish
from shared.metrics import SaleAvailabilityCollector
from shared.outbox.command import OutboxRelayCommand

CLEANUP_EVERY = 300.0  # seconds between idempotency-key clean-ups
REAP_EVERY = 60.0  # seconds between sweeps for reservations whose order was never written
ROOMS_EVERY = 5.0  # seconds between re-mirrors of the waiting rooms


class Command(OutboxRelayCommand):
    outbox = outbox

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--orphan-age",
            type=float,
            default=settings.ORPHAN_RESERVATION_AGE,
            help="seconds a reservation without an order must stay orphaned to be released",
        )

    def handle(self, *args: Any, once: bool, batch: int, interval: float, **options: Any) -> None:
        orphan_age: float = options.pop("orphan_age")
        self.orphans_seen: dict[str, float] = {}
        self.orphan_age = orphan_age
        self.last_cleanup = self.last_reap = self.last_rooms = 0.0
        super().handle(*args, once=once, batch=batch, interval=interval, **options)

    def collectors(self):
        return [SaleAvailabilityCollector(offers=offers_client, inventory=inventory)]

    def gauges_refresh(self) -> None:
        metrics.relay_gauges_refresh()

    def _restore(self) -> None:
        restored = inventory_reservations_restore()
        if restored is not None:
            self.stdout.write(
                f"outbox relay: Redis came back empty; restored {restored.reservations} open "
                f"reservation(s) ({restored.units} units) and {restored.shopper_counters} "
                "shopper counter(s); fulfillment rebuilds availability next"
            )

    def chores(self) -> None:
        if not self.once:
            self._restore()
        if time.monotonic() - self.last_rooms > ROOMS_EVERY:
            rooms_publish()
            self.last_rooms = time.monotonic()
        if time.monotonic() - self.last_cleanup > CLEANUP_EVERY:
            expired = idempotency_keys_expire()
            if expired:
                self.stdout.write(f"outbox relay: deleted {expired} expired idempotency key(s)")
            self.last_cleanup = time.monotonic()
        if time.monotonic() - self.last_reap > min(REAP_EVERY, max(self.orphan_age, 1.0)):
            released = reservations_release_orphans(seen=self.orphans_seen, min_age=self.orphan_age)
            if released:
                self.stdout.write(f"outbox relay: released {released} orphan reservation(s)")
            self.last_reap = time.monotonic()
