"""`manage.py fulfillment maintain [--once]`: the periodic process beside the workers.

Every ``FULFILLMENT_MAINTAIN_INTERVAL`` seconds: re-publish outbox events that were not
published right after their commit (broker blip, crash), then check the stock invariant
and export the drift as Prometheus gauges. ``--repair`` also repairs drift. Between rounds
it looks twice a second whether Redis came back empty (no ``inv:epoch``) and, once the
order service has restored its open reservations, rebuilds every counter and resumes the
sale at once (invariants.stock_availability_rebuild, ADR 0088). The loop serves
its gauges itself on ``METRICS_PORT`` (when set; they are written to its own
``PROMETHEUS_MULTIPROC_DIR`` when it has one, and read from there).
"""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from fulfillment_service.fulfillment.invariants import (
    stock_availability_rebuild,
    stock_invariant_check,
)
from fulfillment_service.fulfillment.services import outbox_publish
from fulfillment_service.fulfillment.stock import inventory_client
from shared.metrics import metrics_server_start

REBUILD_POLL = 0.25  # seconds between looks for an empty Redis (ADR 0088)


class Command(BaseCommand):
    help = "Periodic outbox relay sweep and stock invariant check (Ctrl-C stops)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true")
        parser.add_argument("--repair", action="store_true")
        parser.add_argument("--interval", type=float, default=None)

    def handle(self, *args, once, repair, interval, **options):
        interval = interval or settings.FULFILLMENT_MAINTAIN_INTERVAL
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        if not once:
            port = metrics_server_start()
            if port:
                self.stdout.write(f"maintain: metrics on :{port}/metrics")
        while True:
            close_old_connections()
            try:
                self.run_once(repair=repair)
            except Exception as exc:  # noqa: BLE001 - keep looping; the next round retries
                self.stderr.write(f"maintenance round failed: {type(exc).__name__}: {exc}")
            if once or stopping:
                return
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not stopping:
                time.sleep(REBUILD_POLL)
                if repair:
                    self.rebuild_if_needed()
            if stopping:
                return

    def rebuild_if_needed(self) -> None:
        try:
            close_old_connections()
            result = stock_availability_rebuild(inventory=inventory_client())
        except Exception as exc:  # noqa: BLE001 - Redis restarting: look again shortly
            self.stderr.write(f"rebuild check failed: {type(exc).__name__}: {exc}")
            return
        if result.state == "rebuilt":
            self.stdout.write(
                f"stock: Redis came back empty; {result.skus} counters rebuilt "
                f"({result.held_units} units held by accepted orders); sale resumed"
            )

    def run_once(self, *, repair: bool) -> None:
        if repair:
            self.rebuild_if_needed()
        published = outbox_publish(older_than=settings.FULFILLMENT_OUTBOX_GRACE_SECONDS)
        report = stock_invariant_check(inventory=inventory_client(), repair=repair)
        self.stdout.write(
            f"outbox: {published} re-published; stock: {report.checked} skus, "
            f"{len(report.drifting)} drifting, {len(report.unknown)} unknown"
            + (f", {report.repaired} repaired" if repair else "")
        )
