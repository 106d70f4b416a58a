"""The outbox relay: status events written in the order's transaction are published to the
order service's queue from here, at least once.

The worker never waits on the broker: it commits the outbox rows with its transaction; the
relay process (``manage.py fulfillment relay_outbox``) polls every 0.2 s, takes a batch of
unpublished rows (``SELECT ... FOR UPDATE SKIP LOCKED``, so several relays never publish
the same row at once), publishes the batch on one channel in publisher-confirm mode, waits
for the broker's acks of the *whole batch* (pipelined confirms instead of one round trip
per message), and only then marks the rows published.

A crash after the publish and before the mark publishes those events again; the order
service applies events idempotently (later ``occurred_at`` wins). A broker that is down or
refuses (nack, e.g. queue full) leaves the rows unpublished for the next round.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from django.conf import settings
from kombu import Connection, Producer

from shared import messages
from shared.celery import PLATFORM_EXCHANGE, TASK_ROUTES, dead_letter_queue, service_queue

logger = logging.getLogger(__name__)


class PublishNotConfirmed(Exception):
    """The broker did not confirm every message of a batch (nack or timeout)."""


# Replaced by the one shared confirmed publisher (issue 11): not split here.
def publish_confirmed(  # noqa: C901
    items: list[tuple[str, dict]], *, broker_url: str | None = None, timeout: float = 10.0
) -> None:
    """Publish Celery task messages ``(task name, payload)`` persistently and return once
    the broker confirmed every one of them; raise otherwise."""
    if not items:
        return
    from fulfillment_service.config.celery_app import app

    url = broker_url or app.conf.broker_write_url or app.conf.broker_url
    with Connection(url, connect_timeout=settings.BROKER_CONNECT_TIMEOUT) as conn:
        # A pyamqp channel: close, events and confirm_select are missing from kombu's stubs.
        channel: Any = conn.channel()
        # The destination queue must exist before publishing: an unroutable message is
        # acked by the broker and silently dropped.
        service_queue(messages.ORDER_QUEUE)(channel).declare()
        dead_letter_queue(messages.ORDER_QUEUE)(channel).declare()
        acked: set[int] = set()
        nacked: set[int] = set()
        upto = {"ack": 0, "nack": 0}

        def on_ack(tag, multiple):
            if multiple:
                upto["ack"] = max(upto["ack"], tag)
            else:
                acked.add(tag)

        def on_nack(tag, multiple):
            if multiple:
                upto["nack"] = max(upto["nack"], tag)
            else:
                nacked.add(tag)

        channel.events["basic_ack"].add(on_ack)
        channel.events["basic_nack"].add(on_nack)
        channel.confirm_select()
        producer = Producer(channel, exchange=PLATFORM_EXCHANGE, auto_declare=False)
        for name, payload in items:
            message = app.amqp.as_task_v2(str(uuid.uuid4()), name, args=(payload,))
            producer.publish(
                message.body,
                routing_key=TASK_ROUTES[name]["routing_key"],
                headers=message.headers,
                serializer="json",
                delivery_mode=2,
                retry=False,
                **message.properties,
            )
        total = len(items)

        def confirmed(tag: int) -> bool:
            return tag <= upto["ack"] or tag in acked

        deadline = time.monotonic() + timeout
        while not all(confirmed(t) for t in range(1, total + 1)):
            if nacked or upto["nack"]:
                raise PublishNotConfirmed(
                    f"broker refused {len(nacked) or upto['nack']} message(s)"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PublishNotConfirmed(f"no confirm for a batch of {total} within {timeout}s")
            try:
                conn.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        if nacked or upto["nack"]:
            raise PublishNotConfirmed("broker refused a message")
        channel.close()
