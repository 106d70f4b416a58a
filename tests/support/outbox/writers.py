"""Outbox rows written through each service's own write path, committed, the relay woken
after the commit as the service does. Imported only under that service's settings."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from shared import messages


def rows_write(*, service: str, n: int) -> list[str]:
    """Write ``n`` outbox rows of ``service`` in one transaction; their task ids."""
    return {"order": _order_rows, "fulfillment": _fulfillment_rows}[service](n)


def _order_rows(n: int) -> list[str]:
    from order_service.orders.models import Order, OutboxMessage
    from order_service.orders.outbox import outbox_wake

    ids = []
    with transaction.atomic():
        for i in range(n):
            order = Order.objects.create(
                id=uuid.uuid4(),
                shopper_id=f"anon:outbox-{i}",
                total=Decimal("1.00"),
                currency="EUR",
            )
            payload = messages.OrderAccepted(
                order_id=str(order.id),
                shopper_id=order.shopper_id,
                lines=(messages.OrderLine(sku="X", quantity=1, unit_price="1.00", currency="EUR"),),
                total="1.00",
                currency="EUR",
                accepted_at=timezone.now().isoformat(),
            ).to_dict()
            message = OutboxMessage.objects.create(
                order=order,
                task_name=messages.PROCESS_ORDER_TASK,
                queue=messages.FULFILLMENT_QUEUE,
                payload=payload,
            )
            ids.append(str(message.id))
        transaction.on_commit(outbox_wake)
    return ids


def _fulfillment_rows(n: int) -> list[str]:
    from fulfillment_service.fulfillment.models import OutboxEvent
    from fulfillment_service.fulfillment.outbox import outbox_add_many

    with transaction.atomic():
        before = set(OutboxEvent.objects.values_list("pk", flat=True))
        now = timezone.now()
        outbox_add_many(
            events=[(uuid.uuid4(), messages.OrderStatus.PAID, now, "") for _ in range(n)]
        )
        pks = sorted(set(OutboxEvent.objects.values_list("pk", flat=True)) - before)
    return [str(pk) for pk in pks]
