"""Celery task consuming OrderAccepted (``fulfillment.process_order`` on queue
``fulfillment``), at least once.

The task is transport only: it calls :func:`services.order_process` and decides what the
broker should do with the message:

* processed (fulfilled, failed or duplicate): acked;
* transient error (provider down, database or Redis blip): retried with exponential
  backoff and jitter (``self.retry`` publishes a delayed copy through Celery's native
  delayed delivery on the topic exchange, then the original is acked); after
  ``FULFILLMENT_MAX_RETRIES`` the error is raised;
* any raised error: the message is *rejected* without requeue, so the quorum queue
  dead-letters it to ``fulfillment.dead`` (``task_acks_on_failure_or_timeout = False``);
* the worker child dies mid-task: the message is requeued (``reject_on_worker_lost``);
  RabbitMQ's delivery limit dead-letters a message that keeps killing workers.
"""

from __future__ import annotations

import logging
import random

import redis
from celery import signals
from django import db
from django.conf import settings
from django.db import InterfaceError, OperationalError

from fulfillment_service.config.celery_app import app
from fulfillment_service.fulfillment import services
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


@app.task(
    name=messages.PROCESS_ORDER_TASK,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=90,
    soft_time_limit=75,
)
def process_order(self, payload: dict) -> dict:
    try:
        result = services.order_process(payload=payload)
    except messages.ContractError:
        logger.exception("poison message (not an OrderAccepted); dead-lettering it")
        raise
    except TRANSIENT_ERRORS as exc:
        # Connections are reused across tasks (celery_app.py): one that failed is dropped
        # so that the retry, in this process, starts on a fresh one.
        db.connections.close_all()
        retries = self.request.retries
        if retries >= settings.FULFILLMENT_MAX_RETRIES:
            logger.error("giving up after %s retries: %s; dead-lettering", retries, exc)
            raise
        countdown = retry_countdown(retries)
        logger.warning("transient error (%s); retry %s in %ss", exc, retries + 1, countdown)
        raise self.retry(exc=exc, countdown=countdown, max_retries=None) from exc
    logger.info("order %s: %s %s", result.order_id, result.outcome, result.reason)
    return {"order_id": result.order_id, "outcome": result.outcome, "reason": result.reason}


@signals.worker_ready.connect
def declare_dead_letter_queue(sender=None, **_):
    """The worker only declares the queue it consumes; the dead-letter queue must exist
    before the first message is dead-lettered, or RabbitMQ would drop it."""
    with app.connection_for_write() as conn:
        dead_letter_queue(messages.FULFILLMENT_QUEUE)(conn.default_channel).declare()
