"""Inspect and replay dead letters of the ``fulfillment`` queue (``fulfillment.dead``).

A message lands there when it was rejected for good (poison payload, retries exhausted) or
crashed workers ``DELIVERY_LIMIT`` times. Listing takes messages without acking them and
closes the channel, which returns them to the queue untouched. Replaying republishes the
message unchanged (same body, task id and headers, minus RabbitMQ's delivery bookkeeping) to
the ``fulfillment`` queue with publisher confirms, and only then acks the dead letter:
a crash in between duplicates the message, which the idempotent consumer absorbs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from kombu import Connection, Producer

from shared import jsonbounds, messages
from shared.celery import PLATFORM_EXCHANGE, dead_letter_queue, service_queue

DEAD_QUEUE = f"{messages.FULFILLMENT_QUEUE}.dead"
_STRIPPED_HEADERS = {
    "x-delivery-count",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
}


@dataclass
class DeadLetter:
    task_id: str
    task: str
    order_id: str
    reason: str  # rejected | delivery_limit | expired | ...
    deaths: int
    payload: Any
    headers: dict = field(repr=False, default_factory=dict)


def _connection(broker_url: str | None = None) -> Connection:
    return Connection(
        broker_url or settings.CELERY_BROKER_URL,
        connect_timeout=settings.BROKER_CONNECT_TIMEOUT,
        transport_options={"confirm_publish": True},
    )


def _describe(message) -> DeadLetter:
    headers = dict(message.headers or {})
    try:
        # Bounded: a dead letter may be the parser bomb that was dead-lettered for it.
        raw = message.body
        body = jsonbounds.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError:
        body = message.body if len(message.body or b"") <= 200 else message.body[:200]
    payload = body[0][0] if isinstance(body, list) and body and body[0] else body
    order_id = payload.get("order_id", "") if isinstance(payload, dict) else ""
    deaths = headers.get("x-death") or []
    reason = headers.get("x-first-death-reason") or (deaths[0].get("reason") if deaths else "")
    return DeadLetter(
        task_id=str(headers.get("id", "")),
        task=str(headers.get("task", "")),
        order_id=str(order_id),
        reason=str(reason),
        deaths=sum(int(d.get("count", 1)) for d in deaths) if deaths else 0,
        payload=payload,
        headers=headers,
    )


def dead_letter_list(*, limit: int = 100, broker_url: str | None = None) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, left in the queue."""
    found: list[DeadLetter] = []
    with _connection(broker_url) as conn:
        channel: Any = conn.channel()  # pyamqp's: kombu's stubs lack its close()
        queue = dead_letter_queue(messages.FULFILLMENT_QUEUE)(channel)
        queue.declare()
        for _ in range(limit):
            message = queue.get(no_ack=False)
            if message is None:
                break
            found.append(_describe(message))
        channel.close()  # unacked messages go back to the queue
    return found


def dead_letter_replay(
    *, task_ids: list[str] | None = None, limit: int = 1000, broker_url: str | None = None
) -> list[DeadLetter]:
    """Republish dead letters (all, or those whose task id is in ``task_ids``) to the
    ``fulfillment`` queue; returns what was replayed."""
    wanted = set(task_ids) if task_ids else None
    replayed: list[DeadLetter] = []
    with _connection(broker_url) as conn:
        channel: Any = conn.channel()  # pyamqp's: kombu's stubs lack its close()
        queue = dead_letter_queue(messages.FULFILLMENT_QUEUE)(channel)
        queue.declare()
        service_queue(messages.FULFILLMENT_QUEUE)(channel).declare()
        producer = Producer(channel, exchange=PLATFORM_EXCHANGE)
        for _ in range(limit):
            message = queue.get(no_ack=False)
            if message is None:
                break
            letter = _describe(message)
            if wanted is not None and letter.task_id not in wanted:
                continue  # stays unacked; returned to the queue when the channel closes
            headers = {
                k: v
                for k, v in letter.headers.items()
                if k not in _STRIPPED_HEADERS and k != "x-death"
            }
            headers["replayed_from"] = DEAD_QUEUE
            producer.publish(
                message.body,
                routing_key=messages.FULFILLMENT_QUEUE,
                headers=headers,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                delivery_mode=2,
                correlation_id=message.properties.get("correlation_id"),
                reply_to=message.properties.get("reply_to"),
                # kombu-stubs type properties as dict[str, str]; priority is an int
                priority=message.properties.get("priority"),  # type: ignore[arg-type]
            )
            message.ack()
            replayed.append(letter)
        channel.close()
    return replayed
