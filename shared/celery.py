"""Celery application factory with at-least-once delivery set explicitly.

Celery's defaults can lose messages (no publisher confirms; a task that raises is acked),
so every service's Celery app starts from these settings:

* publisher confirms (``confirm_publish``) and persistent messages;
* durable **quorum** queues (RabbitMQ replicates them and supports delivery limits);
* ``acks_late`` + ``reject_on_worker_lost`` + prefetch 1: a message is acked only after the
  task body finished, and one whose worker died is redelivered (fulfillment's worker takes
  a larger window and acks each message after its batch committed, ADR 0094);
* a task that fails for good is *rejected*, not acked, so the queue's dead-letter exchange
  keeps it (``task_acks_on_failure_or_timeout = False``);
* the request id of the publishing request travels in the message headers and is bound
  again in the worker (see :mod:`shared.logging`);
* message bodies are decoded within :mod:`shared.jsonbounds`' nesting and element bounds,
  and a body that cannot be decoded is *rejected* (dead-lettered), never acked away and
  never a crashed worker (Celery's default consumer acks it: the message would be lost).
"""

from __future__ import annotations

import os
from contextvars import Token
from typing import Any

from celery import Celery, signals
from celery.utils.log import get_logger
from celery.worker.consumer import Consumer
from kombu import Exchange, Queue
from kombu.serialization import register
from kombu.utils import json as kombu_json

from shared import jsonbounds, messages
from shared.logging import clean_request_id, get_request_id, reset_request_id, set_request_id

REQUEST_ID_HEADER = "request_id"

# A topic exchange: Celery's native delayed delivery (retries with a countdown on quorum
# queues) needs one; on a direct exchange a worker would block until the ETA.
PLATFORM_EXCHANGE = Exchange("flashsale", type="topic", durable=True)
DEAD_LETTER_EXCHANGE = Exchange("flashsale.dlx", type="topic", durable=True)
# Deliveries after which RabbitMQ dead-letters a message that keeps failing or crashing.
DELIVERY_LIMIT = 5


def service_queue(name: str) -> Queue:
    """A consuming service's queue: durable quorum queue with a delivery limit whose
    dead letters go, at least once, to ``<name>.dead``. Producers and consumers declare it
    with these exact arguments (RabbitMQ refuses a redeclaration that differs)."""
    return Queue(
        name,
        exchange=PLATFORM_EXCHANGE,
        routing_key=name,
        durable=True,
        queue_arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": DELIVERY_LIMIT,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE.name,
            "x-dead-letter-routing-key": f"{name}.dead",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        },
    )


def dead_letter_queue(name: str) -> Queue:
    return Queue(
        f"{name}.dead",
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key=f"{name}.dead",
        durable=True,
        queue_arguments={"x-queue-type": "quorum"},
    )


def platform_queues() -> list[Queue]:
    names = [messages.FULFILLMENT_QUEUE, messages.ORDER_QUEUE]
    return [service_queue(n) for n in names] + [dead_letter_queue(n) for n in names]


TASK_ROUTES = {
    messages.PROCESS_ORDER_TASK: {
        "queue": messages.FULFILLMENT_QUEUE,
        "routing_key": messages.FULFILLMENT_QUEUE,
    },
    messages.ORDER_STATUS_TASK: {
        "queue": messages.ORDER_QUEUE,
        "routing_key": messages.ORDER_QUEUE,
    },
}


def _bounded_json_loads(data: str | bytes | memoryview) -> Any:
    """kombu's JSON decoder behind the platform's bounds: a body past them (or not JSON)
    raises, kombu reports a ``DecodeError`` and :class:`DeadLetteringConsumer` rejects it."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    jsonbounds.loads(data)
    return kombu_json.loads(data)


# Replaces kombu's "json" serializer (same content type and encoding) for every consumer.
register(
    "json",
    kombu_json.dumps,
    _bounded_json_loads,
    content_type="application/json",
    content_encoding="utf-8",
)

_consumer_logger = get_logger("shared.celery.consumer")


class DeadLetteringConsumer(Consumer):
    """Celery's consumer, except that an undecodable message is rejected without requeue,
    so RabbitMQ dead-letters it to ``<queue>.dead`` (Celery's own acks it, and it is gone)."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        _consumer_logger.error(
            "undecodable message dead-lettered: %s (content type %s, %d bytes)",
            exc,
            message.content_type,
            len(message.body or b""),
        )
        message.reject(requeue=False)


def make_celery(name: str, settings_module: str) -> Celery:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    app = Celery(name)
    app.conf.update(AT_LEAST_ONCE)
    # Each service consumes its own queue; nothing lands on a shared "celery" queue.
    app.conf.task_default_queue = name
    app.conf.update(
        task_default_exchange=PLATFORM_EXCHANGE.name,
        task_default_exchange_type=PLATFORM_EXCHANGE.type,
        task_default_routing_key=name,
    )
    app.conf.task_queues = platform_queues()
    app.conf.task_routes = TASK_ROUTES
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app


AT_LEAST_ONCE = {
    "broker_transport_options": {"confirm_publish": True},
    "broker_connection_retry_on_startup": True,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "task_acks_on_failure_or_timeout": False,
    "worker_prefetch_multiplier": 1,
    "task_default_delivery_mode": "persistent",
    "task_default_queue_type": "quorum",
    "worker_detect_quorum_queues": True,
    "task_serializer": "json",
    "accept_content": ["json"],
    "result_backend": None,
    "task_ignore_result": True,
    "worker_send_task_events": True,
    "task_send_sent_event": True,
    "worker_hijack_root_logger": False,
    "worker_consumer": "shared.celery:DeadLetteringConsumer",
    "task_time_limit": 120,
    "task_soft_time_limit": 100,
}


@signals.worker_init.connect
def _declare_platform_queues(sender: Any = None, **_: Any) -> None:
    """Declare every platform exchange and queue before the worker starts consuming.

    Celery's native delayed delivery binds *all* configured queues to its delay exchanges
    when a worker starts; on a fresh vhost a queue (or the dead-letter exchange) that no one
    declared yet makes that fail, and retries with a countdown would then block the worker.
    Declaring is idempotent, with the same arguments everywhere (``service_queue``)."""
    app = getattr(sender, "app", None)
    if app is None or not app.conf.task_queues:
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=3)
        channel = conn.default_channel
        for queue in app.conf.task_queues:
            queue(channel).declare()


@signals.before_task_publish.connect
def _add_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = get_request_id()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


_tokens: dict[str, Token[str | None]] = {}


@signals.task_prerun.connect
def _bind_request_id(task_id: Any = None, task: Any = None, **_: Any) -> None:
    # A worker merges message headers into the request; an eager apply keeps them apart.
    request = task.request
    request_id = clean_request_id(
        getattr(request, REQUEST_ID_HEADER, None)
        or (getattr(request, "headers", None) or {}).get(REQUEST_ID_HEADER)
    )
    _tokens[task_id] = set_request_id(request_id or task_id)


@signals.task_postrun.connect
def _unbind_request_id(task_id: Any = None, **_: Any) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        reset_request_id(token)
