"""Celery tasks of the order service: fulfillment's status events (queue ``order``).

At-least-once delivery (shared/celery.py): the task is idempotent (order_status_apply never
moves an order backwards). A payload that breaks the contract, or names an order that does
not exist, is rejected without requeue: the queue dead-letters it to ``order.dead``.
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import Reject

from order_service.orders import errors
from order_service.orders.services import order_status_apply
from shared import messages

logger = logging.getLogger(__name__)


@shared_task(name=messages.ORDER_STATUS_TASK, time_limit=30, soft_time_limit=25)
def apply_status(payload: dict) -> bool:
    try:
        event = messages.OrderStatusChanged.from_dict(payload)
        return order_status_apply(event=event)
    except (messages.ContractError, ValueError) as exc:
        logger.error("rejecting malformed status event: %s", exc)
        raise Reject(str(exc), requeue=False) from exc
    except errors.OrderNotFound as exc:
        logger.error("rejecting status event for unknown order %s", payload.get("order_id"))
        raise Reject("unknown order", requeue=False) from exc
