"""The outbox's shared test suite: the same tests against each service's table (ADR 0091).

Each service's test module (tests/order/test_outbox_shared.py,
tests/fulfillment/test_outbox_shared.py) imports these tests and defines the ``outbox_case``
fixture (:class:`OutboxCase`): its outbox, the queue its messages go to, and the
environment of its child processes. Real PostgreSQL, Redis and RabbitMQ (the test vhost);
relays are real ``manage.py <service> outbox_relay`` processes.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from kombu import Connection

from flashops.processes import ManagedProcess, free_port
from shared.celery import service_queue
from shared.outbox.relay import Outbox

from .writers import rows_write

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class OutboxCase:
    service: str
    outbox: Outbox
    queue: str  # where this outbox's messages go
    env: Callable[..., dict[str, str]]  # environment of the service's child processes

    def write(self, n: int) -> list[str]:
        """``n`` rows written and committed in this process (the relay woken); task ids."""
        return rows_write(service=self.service, n=n)

    def relay(self, tmp_path: Path, *args: str, name: str = "relay", **env: str):
        return ManagedProcess(
            [sys.executable, str(REPO / "manage.py"), self.service, "outbox_relay", *args],
            env=self.env(**env),
            cwd=REPO,
            log_path=tmp_path / f"{self.service}-{name}.log",
        ).start()

    def unpublished(self) -> list[str]:
        model = self.outbox.model
        return sorted(
            str(pk)
            for pk in model.objects.filter(published_at__isnull=True).values_list("pk", flat=True)
        )

    def rows(self, ids: list[str]):
        return self.outbox.model.objects.filter(pk__in=ids).order_by("pk")


class QueueTap:
    """The messages on one queue of the test vhost: counted, or taken (acked)."""

    def __init__(self, name: str):
        self.name = name

    def _queue(self, conn):
        queue = service_queue(self.name)(conn.default_channel)
        queue.declare()
        return queue

    def count(self) -> int:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
            return self._queue(conn).queue_declare(passive=True).message_count

    def purge(self) -> None:
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
            self._queue(conn).purge()

    def take(self) -> list[tuple[str, dict]]:
        """Every message now on the queue as (task id, payload), acknowledged."""
        out = []
        with Connection(settings.CELERY_BROKER_URL, connect_timeout=5) as conn:
            queue = self._queue(conn)
            while (message := queue.get(no_ack=False)) is not None:
                body = (
                    json.loads(message.body)
                    if isinstance(message.body, str | bytes)
                    else message.body
                )
                out.append((message.headers["id"], body[0][0]))
                message.ack()
        return out


@pytest.fixture
def tap(outbox_case) -> QueueTap:
    tap = QueueTap(outbox_case.queue)
    tap.purge()
    yield tap
    tap.purge()


def wait_for(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def log_published(log: str) -> int:
    return sum(
        int(line.split("published ")[1].split(",")[0])
        for line in log.splitlines()
        if line.startswith("outbox relay: published ")
    )


def test_the_relay_delivers_what_a_killed_process_left_exactly_once(outbox_case, tap, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.support.outbox.write_then_die",
            outbox_case.service,
            "3",
        ],
        env=outbox_case.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert "committed; dying before the relay is woken" in proc.stdout
    left = outbox_case.unpublished()
    assert len(left) == 3  # committed, never published, nobody woken
    assert tap.count() == 0

    relay = outbox_case.relay(tmp_path, "--interval", "0.2")
    try:
        wait_for(
            lambda: not outbox_case.unpublished(), timeout=30, what=f"the relay:\n{relay.log()}"
        )
        time.sleep(1.0)  # several more sweeps: nothing goes out again
    finally:
        relay.stop()
    delivered = tap.take()
    assert sorted(task_id for task_id, _ in delivered) == left
    assert [row.attempts for row in outbox_case.rows(left)] == [1, 1, 1]
    assert relay.proc.returncode == 0, relay.log()
    assert "outbox relay: done - published 3, failed 0, 0 still waiting" in relay.log()


def test_a_commit_wakes_the_relay_at_once(outbox_case, tap, tmp_path):
    # Polling every 60 s: only the wake-up after the commit can explain a prompt delivery.
    relay = outbox_case.relay(tmp_path, "--interval", "60")
    try:
        wait_for(lambda: "outbox relay: started" in relay.log(), timeout=30, what="the relay")
        time.sleep(0.5)  # subscribed (the first sweep runs before the first wait)
        ids = outbox_case.write(2)
        written = time.monotonic()
        wait_for(lambda: tap.count() == 2, timeout=5, what=f"the woken relay:\n{relay.log()}")
        took = time.monotonic() - written
    finally:
        relay.stop()
    assert took < 5
    assert sorted(task_id for task_id, _ in tap.take()) == sorted(ids)
    assert outbox_case.unpublished() == []


def test_a_returned_message_is_failed_backed_off_and_published_when_due(outbox_case, tap):
    outbox = outbox_case.outbox
    first = outbox_case.write(1)
    assert outbox.relay_batch(limit=10).published == 1
    # An operator deletes the queue: the next publish has no route and comes back.
    with Connection(settings.CELERY_BROKER_URL) as conn:
        service_queue(outbox_case.queue)(conn.default_channel).delete()
    second = outbox_case.write(2)
    before = timezone.now()
    result = outbox.relay_batch(limit=10)
    assert (result.published, result.failed) == (0, 2)
    rows = list(outbox_case.rows(second))
    assert [(r.published_at, r.attempts) for r in rows] == [(None, 1), (None, 1)]
    assert all("NO_ROUTE" in r.last_error for r in rows)
    # Backoff with jitter after one failure: 0.5 s +-20 %.
    for r in rows:
        assert timedelta(seconds=0.39) < r.next_attempt_at - before < timedelta(seconds=0.7)
    assert outbox.relay_batch(limit=10).published == 0  # not due yet

    time.sleep(0.7)
    # Due again; the retry declares the queue again and publishes both.
    assert outbox.relay_batch(limit=10).published == 2
    assert [r.attempts for r in outbox_case.rows(second)] == [2, 2]
    assert sorted(task_id for task_id, _ in tap.take()) == sorted(second)
    assert outbox_case.rows(first).get().attempts == 1
    outbox.publisher.close()


def test_a_broker_outage_backs_off_and_parks_nothing(outbox_case, tap):
    down = Outbox(
        model=outbox_case.outbox.model,
        app=outbox_case.outbox.app,
        service=outbox_case.service,
        broker_url=f"amqp://guest:guest@127.0.0.1:{free_port()}//",
    )
    ids = outbox_case.write(3)
    delays = []
    for attempt in range(1, 5):
        outbox_case.outbox.model.objects.update(next_attempt_at=timezone.now())
        before = timezone.now()
        result = down.relay_batch(limit=10)
        assert (result.published, result.failed) == (0, 3)
        rows = list(outbox_case.rows(ids))
        assert [r.attempts for r in rows] == [attempt] * 3
        assert all("Connection refused" in r.last_error for r in rows)
        delays.append(min(r.next_attempt_at - before for r in rows).total_seconds())
    # 0.5, 1, 2, 4 s (+-20 %): growing, capped at 5 s, never given up.
    assert [round(d / (0.25 * 2**a)) for a, d in enumerate(delays, start=1)] == [1, 1, 1, 1]
    assert tap.count() == 0

    outbox_case.outbox.model.objects.update(next_attempt_at=timezone.now())
    assert outbox_case.outbox.relay_batch(limit=10).published == 3
    assert sorted(task_id for task_id, _ in tap.take()) == sorted(ids)
    assert [r.attempts for r in outbox_case.rows(ids)] == [5, 5, 5]
    outbox_case.outbox.publisher.close()


def test_concurrent_relays_publish_each_message_exactly_once(outbox_case, tap, tmp_path):
    ids = outbox_case.write(300)
    relays = [
        outbox_case.relay(tmp_path, "--batch", "10", "--interval", "0.05", name=f"r{i}")
        for i in range(3)
    ]
    try:
        wait_for(lambda: not outbox_case.unpublished(), timeout=90, what="the relays")
    finally:
        for relay in relays:
            relay.stop()
    delivered = tap.take()
    assert len(delivered) == 300
    assert sorted(task_id for task_id, _ in delivered) == sorted(ids)
    # Each relay took part (SKIP LOCKED shares the work instead of serialising it).
    published = [log_published(r.log()) for r in relays]
    assert sum(published) == 300
    assert sum(1 for n in published if n > 0) >= 2, published
