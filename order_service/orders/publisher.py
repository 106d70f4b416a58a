"""Publishing outbox messages to RabbitMQ with proof of delivery to a queue.

A message counts as handed off only when RabbitMQ confirmed it (publisher confirms, set in
shared/celery.py) and did not return it as unroutable (``mandatory=True``: a message no queue
is bound for comes back instead of vanishing). Anything else raises :class:`PublishError`
and the outbox row stays unpublished for the relay.

One connection per process, opened on first use and dropped after any error so that the
next attempt reconnects (e.g. after RabbitMQ restarted). After a failure the request path
stops trying for ``OUTBOX_INLINE_BACKOFF`` seconds, so a broker outage does not slow
checkouts down: the relay publishes what they left behind.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from django.conf import settings

from order_service.config.celery_app import app

if TYPE_CHECKING:
    from kombu import Connection, Producer

logger = logging.getLogger(__name__)


class PublishError(Exception):
    """The broker did not take responsibility for the message."""


class Unroutable(PublishError):
    pass


class Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._returned: list[str] = []
        self._failed_at = 0.0

    # --- state of the inline path ----------------------------------------------------------
    def backing_off(self) -> bool:
        return time.monotonic() - self._failed_at < settings.OUTBOX_INLINE_BACKOFF

    # --- publishing ------------------------------------------------------------------------
    def publish(self, *, task_name: str, queue: str, payload: dict[str, Any], task_id: str):
        with self._lock:
            try:
                producer = self._get_producer()
                self._returned.clear()
                # app.send_task would also publish a "task-sent" event and wait for its
                # confirm: a second round trip per order that nobody needs (Flower still
                # sees the task when a worker receives it).
                message = app.amqp.create_task_message(
                    task_id,
                    task_name,
                    [payload],
                    {},
                    create_sent_event=False,
                    # What Flower and worker logs show; saves a saferepr of the payload.
                    argsrepr=f"[{payload.get('type', '')} {payload.get('order_id', '')}]",
                    kwargsrepr="{}",
                )
                app.amqp.send_task_message(
                    producer,
                    task_name,
                    message,
                    queue=queue,
                    mandatory=True,
                    retry=False,
                    confirm_timeout=settings.OUTBOX_CONFIRM_TIMEOUT,
                    timeout=settings.OUTBOX_CONFIRM_TIMEOUT,
                )
            except Exception as exc:
                self._failed_at = time.monotonic()
                self._reset()
                raise PublishError(f"{type(exc).__name__}: {exc}") from exc
            if self._returned:
                # No queue was bound (e.g. deleted by hand). A fresh connection declares the
                # queue again on the next publish (kombu remembers declarations per
                # connection), so the relay's retry can succeed.
                self._failed_at = time.monotonic()
                self._reset()
                raise Unroutable(f"returned by the broker: {self._returned[0]}")
            self._failed_at = 0.0

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        self._returned.append(f"{exc} (exchange={exchange!r}, routing_key={routing_key!r})")

    def _get_producer(self):
        if self._producer is None:
            connection = app.connection_for_write(
                connect_timeout=settings.BROKER_CONNECT_TIMEOUT,
            )
            connection.ensure_connection(max_retries=1, timeout=settings.BROKER_CONNECT_TIMEOUT)
            self._connection = connection
            self._producer = app.amqp.Producer(
                connection.default_channel, on_return=self._on_return
            )
        return self._producer

    def _reset(self) -> None:
        connection, self._connection, self._producer = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # it is being thrown away anyway
                logger.debug("closing a broken broker connection failed", exc_info=True)

    def close(self) -> None:
        with self._lock:
            self._reset()


publisher = Publisher()
