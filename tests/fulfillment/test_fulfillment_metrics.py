"""Fulfillment's operator metrics: the outbox backlog its relay exports, and the repair
counter that remembers a drift `maintain --repair` fixed (its gauges read 0 again after)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import OutboxEvent
from fulfillment_service.fulfillment.selectors import outbox_backlog

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]


def test_outbox_backlog_counts_unpublished_events_and_the_oldest_age():
    assert outbox_backlog() == (0, None)
    now = timezone.now()
    for age, published in ((40, False), (10, False), (300, True)):
        event = OutboxEvent.objects.create(
            order_id=uuid.uuid4(), task_name="t", payload={},
            published_at=now if published else None,
        )  # fmt: skip
        OutboxEvent.objects.filter(pk=event.pk).update(created_at=now - dt.timedelta(seconds=age))
    pending, oldest = outbox_backlog()
    assert pending == 2
    assert 40 <= oldest < 50


def test_a_repair_is_counted(stock, inventory):
    stock(**{"SKU-A": 10, "SKU-B": 10})
    before = REGISTRY.get_sample_value("fulfillment_stock_repaired_skus_total") or 0
    inventory.client.incrby("inv:{SKU-B}:available", 4)
    inventory.client.delete("inv:{SKU-A}:available")
    report = stock_invariant_check(inventory=inventory, samples=2, interval=0.05, repair=True)
    assert report.repaired == 2
    assert REGISTRY.get_sample_value("fulfillment_stock_repaired_skus_total") == before + 2
    assert REGISTRY.get_sample_value("fulfillment_stock_drift_skus") == 0
    stock_invariant_check(inventory=inventory, repair=True)  # nothing left to repair
    assert REGISTRY.get_sample_value("fulfillment_stock_repaired_skus_total") == before + 2
