"""`manage.py fulfillment relay_outbox [--once]`: publish status events from the outbox.

Wakes up on ``NOTIFY fulfillment_outbox`` (sent by each transaction that adds events) or
every ``--poll`` seconds, publishes unpublished events in confirmed batches until none is
left, and sleeps again. Several relays may run (rows are taken with SKIP LOCKED).
"""

import contextlib
import signal
import time

import psycopg
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from fulfillment_service.fulfillment.outbox import NOTIFY_CHANNEL
from fulfillment_service.fulfillment.services import outbox_publish

BATCH = 500


class Command(BaseCommand):
    help = "Publish outbox events to the order service (at least once, confirmed batches)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="publish what is there, exit")
        parser.add_argument("--poll", type=float, default=1.0, help="max seconds between rounds")

    def handle(self, *args, once, poll, **options):
        if once:
            total = self.publish_all()
            self.stdout.write(f"relay: {total} event(s) published")
            return
        stopping: list[bool] = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        listener = self.listen()
        self.stdout.write(f"relay: listening on {NOTIFY_CHANNEL}, polling every {poll}s")
        total = 0
        while not stopping:
            close_old_connections()
            try:
                published = self.publish_all()
            except Exception as exc:  # noqa: BLE001 - database blip: next round retries
                self.stderr.write(f"relay round failed: {type(exc).__name__}: {exc}")
                published = 0
                time.sleep(poll)
            if published:
                total += published
                self.stdout.write(f"relay: {published} event(s) published ({total} in all)")
            try:
                listener = self.wait(listener, poll, stopping)
            except psycopg.Error:
                listener = self.reconnect(listener, poll)
        listener.close()
        self.stdout.write(f"relay: stopped after publishing {total} event(s)")

    @staticmethod
    def wait(listener: psycopg.Connection, poll: float, stopping: list) -> psycopg.Connection:
        """Sleep until a transaction with new events commits (NOTIFY), the poll interval
        passes, or SIGTERM; in short slices so that a stop request is seen promptly."""
        deadline = time.monotonic() + poll
        while not stopping and (remaining := deadline - time.monotonic()) > 0:
            if list(listener.notifies(timeout=min(remaining, 0.5), stop_after=1)):
                break
        return listener

    def publish_all(self) -> int:
        total = 0
        for _ in range(100):  # bounded: at most 100 batches per wake-up
            published = outbox_publish(limit=BATCH)
            total += published
            if published < BATCH:
                break
        return total

    def listen(self) -> psycopg.Connection:
        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        listener = psycopg.connect(**params, autocommit=True)
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return listener

    def reconnect(self, old: psycopg.Connection, poll: float) -> psycopg.Connection:
        with contextlib.suppress(psycopg.Error):
            old.close()
        time.sleep(poll)
        try:
            return self.listen()
        except psycopg.Error:
            return old
