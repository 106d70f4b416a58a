"""`manage.py fulfillment relay_outbox [--once] [--poll S]`: publish status events from the
outbox.

Every ``--poll`` seconds (default 0.2) it publishes unpublished events in confirmed batches
until none is left. Polling uses the partial index on unpublished rows, so an idle round
is one cheap query. (Waking up on ``NOTIFY`` was rejected: PostgreSQL serializes the
commits of all transactions that NOTIFY, WAL flush included, which would cap the workers'
concurrent commits; see docs/adr/0031.) Several relays may run (rows are taken with SKIP
LOCKED).

The loop serves its own Prometheus metrics on ``METRICS_PORT`` (when set): the fulfillment
outbox backlog and the age of its oldest unpublished event, refreshed every few seconds.
"""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from fulfillment_service.fulfillment.selectors import outbox_backlog
from fulfillment_service.fulfillment.services import outbox_publish
from shared.metrics import Every, metrics_server_start, outbox_gauges_set

BATCH = 500
METRICS_REFRESH = 5.0  # seconds between refreshes of the backlog gauges


class Command(BaseCommand):
    help = "Publish outbox events to the order service (at least once, confirmed batches)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="publish what is there, exit")
        parser.add_argument("--poll", type=float, default=0.2, help="seconds between rounds")

    def handle(self, *args, once, poll, **options):
        if once:
            self.stdout.write(f"relay: {self.publish_all()} event(s) published")
            return
        stopping: list[bool] = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        port = metrics_server_start()
        if port:
            self.stdout.write(f"relay: metrics on :{port}/metrics")
        self.stdout.write(f"relay: polling the outbox every {poll}s")
        total = 0
        refresh = Every(METRICS_REFRESH)
        while not stopping:
            close_old_connections()
            try:
                published = self.publish_all()
                if refresh.due():
                    pending, oldest_age = outbox_backlog()
                    outbox_gauges_set(
                        service="fulfillment", pending=pending, oldest_age_seconds=oldest_age
                    )
            except Exception as exc:  # noqa: BLE001 - database blip: the next round retries
                self.stderr.write(f"relay round failed: {type(exc).__name__}: {exc}")
                published = 0
            if published:
                total += published
                self.stdout.write(f"relay: {published} event(s) published ({total} in all)")
            deadline = time.monotonic() + poll
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(poll, 0.2))
        self.stdout.write(f"relay: stopped after publishing {total} event(s)")

    def publish_all(self) -> int:
        total = 0
        for _ in range(100):  # bounded: at most 100 batches per round
            published = outbox_publish(limit=BATCH)
            total += published
            if published < BATCH:
                break
        return total
