"""One confirmed batch publisher for every outbox (ADR 0091).

A batch of Celery task messages goes out on one channel in publisher-confirm mode, each
``mandatory`` and persistent; :meth:`BatchPublisher.publish` returns once the broker
answered for *every* message of the batch (confirms are pipelined: one wait for the whole
batch, not a round trip per message). What it returns is the failures, by task id:

* a message the broker returned as unroutable (``mandatory``: no queue is bound for it, e.g.
  the queue was deleted by hand) - RabbitMQ sends the ``basic.return`` before its ack, so
  it is known by the time the batch is confirmed;
* a message the broker refused (``basic.nack``, e.g. a full queue with ``reject-publish``);
* every message of the batch when the connection failed or the confirms did not come within
  ``confirm_timeout`` (the broker is down: nothing of this batch counts as published).

One connection per process, opened on first use and dropped after any error, so the next
batch reconnects (e.g. after RabbitMQ restarted). It is a plain AMQP connection: the Celery
app's ``confirm_publish`` option would make every publish wait for its own confirm. The
destination queues are declared (shared.celery.service_queue, same arguments everywhere)
once per connection and again after a message came back unroutable.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu import Connection, Producer

from shared.celery import PLATFORM_EXCHANGE, dead_letter_queue, service_queue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """One Celery task message: its id, task, destination queue and single argument."""

    task_id: str
    task_name: str
    queue: str
    payload: dict[str, Any]


class BatchPublisher:
    def __init__(
        self,
        *,
        app: Celery,
        connect_timeout: float,
        confirm_timeout: float,
        broker_url: str | None = None,
    ) -> None:
        self.app = app
        self.connect_timeout = connect_timeout
        self.confirm_timeout = confirm_timeout
        self._broker_url = broker_url
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._url: str | None = None
        self._channel: Any = None
        self._producer: Producer | None = None
        self._declared: set[str] = set()
        self._tag = 0  # delivery tags of this channel handed out so far
        self._outstanding: set[int] = set()  # tags of this batch the broker has not answered
        self._nacked: set[int] = set()
        self._returned: dict[str, str] = {}

    def broker_url(self) -> str:
        conf = self.app.conf
        return self._broker_url or conf.broker_write_url or conf.broker_url

    # --- publishing ----------------------------------------------------------------------
    def publish(self, batch: Sequence[Outgoing]) -> dict[str, str]:
        """Publish ``batch``; return ``{task_id: error}`` for every message not confirmed as
        delivered to a queue (empty: the whole batch is the broker's responsibility now)."""
        if not batch:
            return {}
        with self._lock:
            try:
                return self._publish(batch)
            except Exception as exc:  # noqa: BLE001 - any failure leaves the rows for later
                self._reset()
                error = f"{type(exc).__name__}: {exc}"
                return dict.fromkeys((m.task_id for m in batch), error)

    def _publish(self, batch: Sequence[Outgoing]) -> dict[str, str]:
        producer = self._get_producer()
        for queue in sorted({m.queue for m in batch} - self._declared):
            service_queue(queue)(self._channel).declare()
            dead_letter_queue(queue)(self._channel).declare()
            self._declared.add(queue)
        self._outstanding.clear()
        self._nacked.clear()
        self._returned.clear()
        tags: dict[int, str] = {}
        for outgoing in batch:
            message = self.app.amqp.as_task_v2(
                outgoing.task_id,
                outgoing.task_name,
                args=(outgoing.payload,),
                kwargs={},
                # What Flower and worker logs show; spares a saferepr of the payload.
                argsrepr=(
                    f"[{outgoing.payload.get('type', '')} {outgoing.payload.get('order_id', '')}]"
                ),
                kwargsrepr="{}",
            )
            producer.publish(
                message.body,
                routing_key=outgoing.queue,
                headers=message.headers,
                serializer="json",
                delivery_mode=2,
                mandatory=True,
                retry=False,
                **message.properties,
            )
            self._tag += 1
            tags[self._tag] = outgoing.task_id
            self._outstanding.add(self._tag)
        self._wait_for_confirms(size=len(batch))
        failed = dict(self._returned)
        for tag in self._nacked:
            failed.setdefault(tags[tag], "refused by the broker (basic.nack)")
        if self._returned:
            # The queue is gone (deleted by hand?): declare it again before the next batch.
            self._declared.clear()
        return failed

    def _wait_for_confirms(self, *, size: int) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.confirm_timeout
        while self._outstanding:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"no confirm for {len(self._outstanding)} of {size} message(s) within "
                    f"{self.confirm_timeout}s"
                )
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue

    # --- broker events -------------------------------------------------------------------
    # Confirms come in order; ``multiple`` answers every outstanding tag up to ``tag``.
    def _answered(self, tag: int, multiple: bool) -> set[int]:
        if multiple:
            answered = {t for t in self._outstanding if t <= tag}
        else:
            answered = {tag} & self._outstanding
        self._outstanding -= answered
        return answered

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._answered(tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._nacked |= self._answered(tag, multiple)

    def _on_return(self, exc: Exception, exchange: Any, routing_key: str, message: Any) -> None:
        task_id = message.properties.get("correlation_id") or ""
        self._returned[task_id] = (
            f"returned by the broker: {exc} (exchange={exchange!r}, routing_key={routing_key!r})"
        )

    # --- the connection ------------------------------------------------------------------
    def _get_producer(self) -> Producer:
        url = self.broker_url()
        if self._producer is not None and url == self._url:
            return self._producer
        self._reset()
        connection = Connection(url, connect_timeout=self.connect_timeout, heartbeat=0)
        # One try, no retry: a sweep against a broker that is down fails at once (the
        # relay's backoff decides when to try again), instead of kombu's 2 s retry sleep.
        connection.ensure_connection(max_retries=0, timeout=math.ceil(self.connect_timeout))
        # A pyamqp channel: events and confirm_select are missing from kombu's stubs.
        channel: Any = connection.channel()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.confirm_select()
        self._connection, self._url, self._channel = connection, url, channel
        self._producer = Producer(
            channel, exchange=PLATFORM_EXCHANGE, auto_declare=False, on_return=self._on_return
        )
        self._tag = 0
        return self._producer

    def _reset(self) -> None:
        connection = self._connection
        self._connection = self._channel = self._producer = self._url = None
        self._declared.clear()
        self._tag = 0
        if connection is not None:
            try:
                connection.close()
            except Exception:
                logger.debug("closing a broken broker connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._reset()
