"""One service's outbox: the relay's sweep, its backoff, and the wake-up after commit.

:class:`Outbox` binds the shared mechanism to a service's concrete table
(:class:`shared.outbox.models.OutboxBase`) and Celery app (message format, broker URL):

* :meth:`Outbox.relay_batch` - one sweep: the due unpublished rows, oldest first, taken
  with ``SELECT ... FOR UPDATE SKIP LOCKED`` (several relays share the work and never
  publish one row at the same time), published as one confirmed batch
  (:mod:`shared.outbox.publisher`), then marked in two statements: published, or failed
  with ``attempts`` + 1, the error and a next attempt after a capped exponential backoff
  with jitter (:func:`retry_delay`). Nothing is ever parked: a row is retried until the
  broker takes it (ADR 0091).
* :meth:`Outbox.wake` - after the commit of a transaction that wrote rows, a Redis
  ``PUBLISH`` on the outbox's channel wakes the relay at once (ADR 0092). A lost wake-up
  (Redis down, relay busy) only costs the relay's poll interval: the relay sweeps every
  ``OUTBOX_RELAY_INTERVAL`` seconds anyway. ``NOTIFY`` was not used: PostgreSQL serializes
  the commits of every transaction that notifies (ADR 0031).
* :class:`WakeListener` - the relay's side: waits for a wake-up or the poll interval.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import redis
from celery import Celery
from django.conf import settings
from django.db import connections, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone
from redis.exceptions import RedisError

from shared.outbox.models import OutboxBase
from shared.outbox.publisher import BatchPublisher, Outgoing

logger = logging.getLogger(__name__)

# Seconds the request path stops waking after a failed PUBLISH (Redis down): the relay's
# poll catches up meanwhile, and the checkout does not pay a timeout per request.
WAKE_BACKOFF = 1.0
# Seconds a relay waits before it subscribes again after losing its wake channel.
LISTEN_RETRY = 2.0


def retry_delay(attempts: int) -> timedelta:
    """Backoff before the next attempt of a row that failed ``attempts`` times: 0.5 s,
    1 s, 2 s, 4 s, then 5 s at most, each +-20 % (jitter, so that rows failed together do
    not come back together). Short and capped: an outage is caught up seconds after it."""
    return timedelta(seconds=min(5.0, 0.25 * 2**attempts) * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class RelayResult:
    published: int
    failed: int


class Outbox:
    def __init__(
        self,
        *,
        model: type[OutboxBase],
        app: Celery,
        service: str,
        using: str = "default",
        broker_url: str | None = None,
    ) -> None:
        self.model = model
        self.app = app
        self.service = service
        self.using = using
        self.broker_url = broker_url
        self._wake_failed_at = -WAKE_BACKOFF

    @cached_property
    def publisher(self) -> BatchPublisher:
        return BatchPublisher(
            app=self.app,
            connect_timeout=settings.BROKER_CONNECT_TIMEOUT,
            confirm_timeout=settings.OUTBOX_CONFIRM_TIMEOUT,
            broker_url=self.broker_url,
        )

    # --- the relay's sweep -----------------------------------------------------------------
    def relay_batch(self, *, limit: int, where: Q | None = None) -> RelayResult:
        """Publish up to ``limit`` due unpublished rows (and only those matching ``where``);
        see the module docstring."""
        now = timezone.now()
        with transaction.atomic(using=self.using):
            # Losing a "published" mark (PostgreSQL crash right after) only means publishing
            # those messages again, which the consumers absorb: no need to wait for the WAL
            # flush on the relay's commits.
            with connections[self.using].cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            rows = self.model._default_manager.using(self.using).filter(
                published_at__isnull=True, next_attempt_at__lte=now
            )
            if where is not None:
                rows = rows.filter(where)
            batch = list(
                rows.select_for_update(skip_locked=True)
                .order_by("next_attempt_at", "created_at")
                .values_list("pk", "task_name", "queue", "payload", "attempts")[:limit]
            )
            if not batch:
                return RelayResult(published=0, failed=0)
            failures = self.publisher.publish(
                [
                    Outgoing(task_id=str(pk), task_name=task, queue=queue, payload=payload)
                    for pk, task, queue, payload, _ in batch
                ]
            )
            published = [pk for pk, *_ in batch if str(pk) not in failures]
            if published:
                self.model._default_manager.using(self.using).filter(pk__in=published).update(
                    published_at=timezone.now(), attempts=F("attempts") + 1
                )
            if failures:
                self._failures_record(batch=batch, failures=failures)
        return RelayResult(published=len(published), failed=len(failures))

    def _failures_record(self, *, batch: list[tuple], failures: dict[str, str]) -> None:
        now = timezone.now()
        failed = []
        for pk, _, _, _, attempts in batch:
            if str(pk) in failures:
                row = self.model(
                    attempts=attempts + 1,
                    last_error=failures[str(pk)][:2000],
                    next_attempt_at=now + retry_delay(attempts + 1),
                )
                row.pk = pk  # the concrete model's primary key
                failed.append(row)
        self.model._default_manager.using(self.using).bulk_update(
            failed, ["attempts", "last_error", "next_attempt_at"]
        )
        logger.warning(
            "outbox %s: %s of %s message(s) not published: %s",
            self.service,
            len(failed),
            len(batch),
            next(iter(failures.values())),
        )

    def backlog(self) -> tuple[int, datetime | None]:
        """How many rows wait to be published, and when the oldest was written (None when
        none waits): one query on the partial index of unpublished rows."""
        agg = (
            self.model._default_manager.using(self.using)
            .filter(published_at__isnull=True)
            .aggregate(pending=Count("pk"), oldest=Min("created_at"))
        )
        return agg["pending"], agg["oldest"]

    # --- waking the relay ------------------------------------------------------------------
    def wake_channel(self) -> str:
        """Per table and database: platforms and test runs sharing one Redis (pub/sub
        channels ignore the Redis database number) never wake each other's relays."""
        database = connections[self.using].settings_dict["NAME"]
        return f"outbox:{self.service}:{database}:{self.model._meta.db_table}"

    def wake(self) -> None:
        """Tell the relay that rows were committed. Never raises: a lost wake-up only
        delays the message by the relay's poll interval."""
        if time.monotonic() - self._wake_failed_at < WAKE_BACKOFF:
            return
        try:
            _wake_client(settings.OUTBOX_WAKE_REDIS_URL).publish(self.wake_channel(), b"1")
        except RedisError as exc:
            self._wake_failed_at = time.monotonic()
            logger.warning("outbox %s: relay not woken (%s); it polls", self.service, exc)

    def wake_on_commit(self) -> None:
        """Wake the relay after the current transaction commits (at once in autocommit)."""
        transaction.on_commit(self.wake, using=self.using, robust=True)

    def listener(self) -> WakeListener:
        return WakeListener(url=settings.OUTBOX_WAKE_REDIS_URL, channel=self.wake_channel())


_clients: dict[str, redis.Redis] = {}


def _wake_client(url: str) -> redis.Redis:
    client = _clients.get(url)
    if client is None:
        # Short timeouts: this runs on the request path, after the commit.
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=0.25, socket_connect_timeout=0.25
        )
    return client


class WakeListener:
    """The relay's wait: returns when a wake-up arrives or after ``timeout`` seconds.

    Wake-ups that arrived while the relay was sweeping are waiting in the subscription and
    are taken together: one sweep answers any number of them. Without Redis it sleeps the
    timeout (polling) and subscribes again every ``LISTEN_RETRY`` seconds."""

    def __init__(self, *, url: str, channel: str, sleep: Callable[[float], None] = time.sleep):
        self.url = url
        self.channel = channel
        self._sleep = sleep
        self._pubsub: redis.client.PubSub | None = None
        self._retry_at = 0.0
        self.wakeups = 0

    def wait(self, timeout: float) -> bool:
        """True when woken, False when the timeout passed."""
        if self._pubsub is None and time.monotonic() >= self._retry_at:
            self._subscribe()
        if self._pubsub is None:
            self._sleep(timeout)
            return False
        try:
            message = self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout)
            if message is None:
                return False
            while self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0):
                pass
        except RedisError as exc:
            logger.warning("outbox relay: wake channel lost (%s); polling", exc)
            self.close()
            self._retry_at = time.monotonic() + LISTEN_RETRY
            return False
        self.wakeups += 1
        return True

    def _subscribe(self) -> None:
        try:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=1.0)
            pubsub = client.pubsub()
            pubsub.subscribe(self.channel)
        except RedisError as exc:
            logger.warning("outbox relay: cannot subscribe to wake-ups (%s); polling", exc)
            self._retry_at = time.monotonic() + LISTEN_RETRY
            return
        self._pubsub = pubsub

    def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except RedisError:
                logger.debug("closing the wake subscription failed", exc_info=True)
