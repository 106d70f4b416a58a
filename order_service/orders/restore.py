"""After Redis came back empty: give it back what only the order service knows (ADR 0088).

Redis keeps nothing on disk here. A restart loses the availability counters (fulfillment
rebuilds them from its stock) and the reservations of orders accepted but not yet settled,
which exist nowhere else but in this service's database. Rebuilding availability without
them would sell those units a second time (issue 12: 100 units shown while all 100 were
promised). So, while Redis has no ``inv:epoch`` (checkout answers ``SALE_PAUSED``):

1. wait ``RESTORE_GRACE`` seconds, so that a checkout that reserved on the old Redis just
   before it went away has written its order row;
2. write back the reservation hash of every order still ``accepted`` and the per-shopper
   counters of every order not failed (the limits of the running sale), then
   ``inv:restored``;
3. fulfillment's ``maintain`` loop sees ``inv:restored``, settles what it already
   processed, sets every counter to ``on_hand - held`` and opens the sale (``inv:epoch``).

The relay loop (``outbox_relay``) runs this; ``manage.py order inventory_restore`` by hand.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from order_service.orders.models import OrderLine, OrderStatus
from order_service.orders.stores import inventory

RESTORE_GRACE = 1.0  # seconds: checkouts in flight on the old Redis finish their write


@dataclass(frozen=True)
class RestoreResult:
    reservations: int
    units: int
    shopper_counters: int
    marker: str


def inventory_restore_needed() -> bool:
    """Redis has neither a rebuilt availability nor our restored reservations."""
    epoch, restored = inventory().markers()
    return epoch is None and restored is None


def inventory_reservations_restore(*, grace: float = RESTORE_GRACE) -> RestoreResult | None:
    """Write back the open reservations and the per-shopper counters; None when Redis does
    not need them (an epoch is set: the counters are live and already count them)."""
    if not inventory_restore_needed():
        return None
    time.sleep(grace)
    reservations: dict[str, dict[str, int]] = {}
    shopper_ids: dict[str, str] = {}
    open_lines = OrderLine.objects.filter(order__status=OrderStatus.ACCEPTED).values_list(
        "order_id", "order__shopper_id", "sku", "quantity"
    )
    units = 0
    for order_id, shopper_id, sku, quantity in open_lines.iterator(chunk_size=2000):
        reservations.setdefault(str(order_id), {})[sku] = quantity
        shopper_ids[str(order_id)] = shopper_id
        units += quantity
    # What each shopper holds in the sales still running: the orders of the counters' life
    # (SHOPPER_COUNTER_TTL) that did not fail. The reserve script counts limits against it.
    since = timezone.now() - timedelta(seconds=settings.SHOPPER_COUNTER_TTL)
    held = (
        OrderLine.objects.filter(order__created_at__gte=since)
        .exclude(order__status=OrderStatus.FAILED)
        .values("sku", "order__shopper_id")
        .annotate(units=Sum("quantity"))
        .values_list("sku", "order__shopper_id", "units")
    )
    shopper_units = {(sku, shopper): int(n) for sku, shopper, n in held}
    marker = f"{timezone.now().isoformat()}:{uuid.uuid4().hex[:8]}"
    if not inventory_restore_needed():
        return None  # another relay instance was quicker
    inventory().reservations_restore(
        reservations=reservations,
        shopper_ids=shopper_ids,
        shopper_units=shopper_units,
        shopper_ttl=settings.SHOPPER_COUNTER_TTL,
        marker=marker,
    )
    return RestoreResult(
        reservations=len(reservations),
        units=units,
        shopper_counters=len(shopper_units),
        marker=marker,
    )
