"""The base of every service's ``manage.py <service> outbox_relay [--once]`` (ADR 0093).

A long-running loop (a process in deploy/Procfile): sweep (:meth:`Outbox.relay_batch`),
and when the sweep was not a full batch wait for a wake-up or ``--interval`` seconds
(the poll fallback). Safe to run as several instances (``SKIP LOCKED``). It outlives a
database or Redis outage (retrying with a capped backoff; an exit would stop every process
of ``make up``), serves its Prometheus metrics on ``METRICS_PORT`` when set (the outbox
backlog and oldest age, ``outbox_backlog_messages`` / ``outbox_oldest_age_seconds`` with the
service's label) and stops cleanly on SIGTERM/SIGINT after the current sweep. ``--once``
sweeps until nothing is due (or a publish failed) and exits; 1 if the database is away.

A service's command sets :attr:`outbox` and may add periodic chores (:meth:`chores`),
metric collectors (:meth:`collectors`) and gauges (:meth:`gauges_refresh`).
"""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, close_old_connections
from django.utils import timezone
from redis.exceptions import RedisError

from shared.metrics import Every, metrics_server_start, outbox_gauges_set
from shared.outbox.relay import Outbox

METRICS_REFRESH = 5.0  # seconds between refreshes of the backlog gauges

logger = logging.getLogger(__name__)


class OutboxRelayCommand(BaseCommand):
    help = "Publish unpublished outbox messages to RabbitMQ (loop; --once for a single sweep)."
    outbox: Outbox

    # --- what a service may add ----------------------------------------------------------
    def collectors(self) -> list[Any]:
        """Extra Prometheus collectors served beside the backlog gauges."""
        return []

    def gauges_refresh(self) -> None:
        pending, oldest = self.outbox.backlog()
        outbox_gauges_set(
            service=self.outbox.service,
            pending=pending,
            oldest_age_seconds=(timezone.now() - oldest).total_seconds() if oldest else None,
        )

    def chores(self) -> None:
        """Called after every sweep; database or Redis errors are handled like the sweep's."""

    # --- the loop ------------------------------------------------------------------------
    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="sweep until nothing is due")
        parser.add_argument("--batch", type=int, default=settings.OUTBOX_RELAY_BATCH)
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.OUTBOX_RELAY_INTERVAL,
            help="seconds between sweeps when no wake-up comes (the poll fallback)",
        )

    def handle(self, *args: Any, once: bool, batch: int, interval: float, **options: Any) -> None:
        self.stopping = False
        self.once = once
        self.published = self.failed = 0
        if not once:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
            port = metrics_server_start(collectors=self.collectors())
            if port:
                self.stdout.write(f"outbox relay: metrics on :{port}/metrics")
        listener = self.outbox.listener()
        self.stdout.write(
            "outbox relay: started"
            + ("" if once else f" (woken on {listener.channel}, polling every {interval}s)")
        )
        outage = 0  # consecutive sweeps that failed on the database or Redis
        refresh = Every(METRICS_REFRESH)
        try:
            while not self.stopping:
                try:
                    close_old_connections()
                    result = self.outbox.relay_batch(limit=batch)
                    if not once and refresh.due():
                        self.gauges_refresh()
                    self.chores()
                except (DatabaseError, RedisError) as exc:
                    if once:
                        raise CommandError(f"outbox relay: {exc}; is the database up?") from exc
                    outage += 1
                    wait = min(10.0, interval * 2**outage)
                    logger.error("outbox relay: %s; retrying in %.1f s", exc, wait)
                    time.sleep(wait)
                    continue
                outage = 0
                self._count(result)
                if once and (result.failed or result.published < batch):
                    break
                if result.published < batch:  # a full batch means more is due: go on at once
                    listener.wait(interval)
        finally:
            listener.close()
            self.outbox.publisher.close()
        self._report()

    def _report(self) -> None:
        """The last lines: what was published, what is still waiting, and what to check."""
        try:
            pending: int | str = self.outbox.backlog()[0]
        except DatabaseError:
            pending = "unknown (database unreachable)"
        self.stdout.write(
            f"outbox relay: done - published {self.published}, failed {self.failed}, "
            f"{pending} still waiting"
        )
        if self.once and self.failed:
            self.stderr.write(
                "some messages could not be published; is RabbitMQ up? "
                "check CELERY_BROKER_URL and the relay's log"
            )

    def _count(self, result: Any) -> None:
        self.published += result.published
        self.failed += result.failed
        if result.published or result.failed:
            self.stdout.write(f"outbox relay: published {result.published}, failed {result.failed}")

    def _stop(self, *_: object) -> None:
        self.stopping = True
