"""Celery task consuming OrderAccepted (``fulfillment.process_order`` on queue
``fulfillment``), at least once, in batches (ADR 0094).

The worker's main process gathers the messages of its prefetch window into batches
(:class:`BatchTask`, up to ``FULFILLMENT_BATCH_SIZE``) and a pool process runs each batch
through :func:`process_order_batch` (services in :mod:`.drain`: one database transaction
for the batch). The task layer is transport only: it decides what the broker should do
with each message, once its batch came back:

* processed (fulfilled, failed or duplicate): acked (after the batch's commit);
* transient error of an order (provider down, database or Redis blip): a delayed copy of
  that message is published with exponential backoff and jitter (Celery's native delayed
  delivery on the topic exchange, ``retries`` + 1, same task id), then the original is
  acked; after ``FULFILLMENT_MAX_RETRIES`` it is rejected (dead-lettered);
* not an OrderAccepted (``ContractError``), or any other error of that order: *rejected*
  without requeue, so the quorum queue dead-letters it to ``fulfillment.dead``;
* the pool process dies mid-batch (kill -9, OOM, hard time limit): nothing of the batch is
  acked; a batch of several is run again one message at a time, and a single message is
  rejected with requeue; RabbitMQ's delivery limit dead-letters a message that keeps
  killing workers.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from celery import Task, signals
from django import db
from django.conf import settings
from django.db import InterfaceError, OperationalError

from fulfillment_service.config.celery_app import app
from fulfillment_service.fulfillment import drain, services
from fulfillment_service.fulfillment.errors import TransientError
from shared import messages
from shared.celery import dead_letter_queue

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (
    TransientError,
    OperationalError,
    InterfaceError,
    redis.ConnectionError,
    redis.TimeoutError,
)


def retry_countdown(retries: int) -> int:
    """Exponential backoff with jitter, in whole seconds (native delayed delivery has a
    one-second resolution): between half and all of ``base * 2**retries``, capped."""
    ceiling = min(
        settings.FULFILLMENT_RETRY_MAX_SECONDS,
        settings.FULFILLMENT_RETRY_BASE_SECONDS * 2**retries,
    )
    return max(1, round(random.uniform(ceiling / 2, ceiling)))  # jitter


def process_order_batch(payloads: list[dict], task_ids: list[str], retries: list[int]) -> list[str]:
    """Run in a pool process: the batch flow, then what the broker should do with each
    message: ``"ack"`` (processed, or a retry was published) or ``"reject"`` (dead-letter).

    A transient error of one order publishes a delayed copy of that message only (native
    delayed delivery, retries + 1, same task id) and acks the original; a transient error
    of the whole batch (database down) does that for every message."""
    started = time.monotonic()
    try:
        items = drain.order_process_batch(payloads=payloads)
    except TRANSIENT_ERRORS as exc:
        db.connections.close_all()
        items = [drain.BatchItem(error=exc)] * len(payloads)
    runtime = time.monotonic() - started
    decisions = []
    for payload, task_id, tries, item in zip(payloads, task_ids, retries, items, strict=True):
        decisions.append(_decide(payload, task_id, tries, item, runtime))
    return decisions


def _decide(
    payload: dict, task_id: str, retries: int, item: drain.BatchItem, runtime: float
) -> str:
    name = messages.PROCESS_ORDER_TASK
    exc = item.error
    if exc is None:
        result = item.result
        assert result is not None  # no error: the batch gave a result
        logger.info("order %s: %s %s", result.order_id, result.outcome, result.reason)
        logger.info("Task %s[%s] succeeded in %.3fs: %s", name, task_id, runtime, result.outcome)
        return "ack"
    if isinstance(exc, messages.ContractError):
        logger.error(
            "poison message %s (not an OrderAccepted: %s); dead-lettering it", task_id, exc
        )
        return "reject"
    if not isinstance(exc, TRANSIENT_ERRORS):
        logger.error("task %s failed: %r; dead-lettering it", task_id, exc, exc_info=exc)
        return "reject"
    if isinstance(exc, OperationalError | InterfaceError):
        # Connections are reused across tasks (celery_app.py): one that failed is dropped
        # so that the retry, in this process, starts on a fresh one.
        db.connections.close_all()
    if retries >= settings.FULFILLMENT_MAX_RETRIES:
        logger.error("giving up on %s after %s retries: %s; dead-lettering", task_id, retries, exc)
        return "reject"
    countdown = retry_countdown(retries)
    # Confirmed publish (confirm_publish) before the original is acked: a crash between
    # the two leaves both, and the marker makes the second one a duplicate.
    app.send_task(name, args=[payload], task_id=task_id, countdown=countdown, retries=retries + 1)
    logger.warning("transient error (%s); retry %s in %ss", exc, retries + 1, countdown)
    return "ack"


class BatchTask(Task):
    """A task whose messages the worker's main process gathers into batches (the prefetch
    window, ``worker_prefetch_multiplier``) and hands to a pool process as one call of
    :func:`process_order_batch`; each message is acked or rejected only once the batch
    came back, i.e. after its transaction committed (ADR 0094). Modelled on
    celery-batches' strategy, with what at-least-once needs and it lacks:

    * a batch whose pool process dies (kill -9, OOM, hard time limit) is not acked: a batch
      of several is run again one message at a time in this worker (so a message that
      kills its process cannot take the others' delivery counts with it), and a single
      message is rejected with requeue, so RabbitMQ redelivers it and its delivery limit
      dead-letters it if it keeps killing workers;
    * an undecodable body is rejected without requeue (dead-lettered).

    ``FULFILLMENT_BATCH_SIZE`` messages at most per batch; a batch goes out when full or
    ``FULFILLMENT_BATCH_LINGER_MS`` after its first message."""

    # Celery's strategy protocol: one closure over the consumer state, as
    # celery.worker.strategy.default is.
    def Strategy(self, task, app, consumer, **kwargs):  # type: ignore[override]  # noqa: C901
        pool = consumer.pool
        timer = consumer.timer
        errors = consumer.connection_errors
        size = max(1, settings.FULFILLMENT_BATCH_SIZE)
        linger = settings.FULFILLMENT_BATCH_LINGER_MS / 1000
        buffer: list[_Delivery] = []
        armed = {"tref": None}

        def dispatch(batch: list[_Delivery]) -> None:
            def on_return(decisions: list[str]) -> None:
                for delivery, decision in zip(batch, decisions, strict=True):
                    if decision == "ack":
                        delivery.ack(logger, errors)
                    else:
                        delivery.reject(logger, errors, False)

            def on_error(info) -> None:
                exc = getattr(info, "exception", info)
                exc = getattr(exc, "exc", exc)  # billiard's ExceptionWithTraceback
                logger.error(
                    "batch of %d (%s) lost: %r", len(batch), ",".join(d.task_id for d in batch), exc
                )
                if len(batch) > 1:
                    for delivery in batch:
                        dispatch([delivery])
                else:
                    batch[0].reject(logger, errors, True)

            pool.apply_async(
                process_order_batch,
                args=(
                    [d.payload for d in batch],
                    [d.task_id for d in batch],
                    [d.retries for d in batch],
                ),
                # The pool learns which process runs the job from the accept: without it a
                # dead process is matched to its job only by a later sweep (seconds).
                accept_callback=lambda *_: None,
                callback=on_return,
                error_callback=on_error,
                soft_timeout=task.soft_time_limit,
                timeout=task.time_limit,
            )

        def flush() -> None:
            armed["tref"] = None
            while buffer:
                batch = buffer[:size]
                del buffer[:size]
                dispatch(batch)

        def handler(message, body, ack, reject, callbacks, **_):
            try:
                args, _kwargs, _embed = message.decode()
                payload = args[0]
            except Exception as exc:  # noqa: BLE001 - undecodable or not a task body
                consumer.on_decode_error(message, exc)
                return
            headers = message.headers or {}
            buffer.append(
                _Delivery(
                    payload=payload,
                    task_id=str(headers.get("id", "")),
                    retries=int(headers.get("retries") or 0),
                    ack=ack,
                    reject=reject,
                )
            )
            if len(buffer) >= size:
                if armed["tref"] is not None:
                    armed["tref"].cancel()
                flush()
            elif armed["tref"] is None:
                armed["tref"] = timer.call_after(linger, flush)

        return handler


@dataclass
class _Delivery:
    payload: dict
    task_id: str
    retries: int
    ack: Callable[..., None]
    reject: Callable[..., None]


@app.task(
    name=messages.PROCESS_ORDER_TASK,
    base=BatchTask,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=90,
    soft_time_limit=75,
)
def process_order(self, payload: dict) -> dict:
    """Called directly (eagerly, in a test): one order, errors raised. A worker never runs
    this body: :class:`BatchTask` sends its messages to :func:`process_order_batch`."""
    result = services.order_process(payload=payload)
    return {"order_id": result.order_id, "outcome": result.outcome, "reason": result.reason}


@signals.worker_ready.connect
def declare_dead_letter_queue(sender=None, **_):
    """The worker only declares the queue it consumes; the dead-letter queue must exist
    before the first message is dead-lettered, or RabbitMQ would drop it."""
    with app.connection_for_write() as conn:
        dead_letter_queue(messages.FULFILLMENT_QUEUE)(conn.default_channel).declare()
