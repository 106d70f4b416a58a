"""Changelists of big tables (shared/adminlists.py, ADR 0102): the whole-table COUNT(*) is
replaced by PostgreSQL's estimate once the table is big, small answers stay exact, and a
list filter offers the values of the newest rows without a DISTINCT over the table."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from order_service.orders.models import Order, OutboxMessage
from shared import adminlists

pytestmark = pytest.mark.django_db


def orders(n: int, *, status: str = "fulfilled") -> list[Order]:
    now = timezone.now()
    return Order.objects.bulk_create(
        Order(
            id=uuid.uuid4(),
            shopper_id=f"anon:big-{i}",
            status=status,
            total=Decimal("1.00"),
            currency="EUR",
            created_at=now - timedelta(minutes=i),
        )
        for i in range(n)
    )


def analyze() -> None:
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")


def counts(sql: list[dict]) -> list[str]:
    return [q["sql"] for q in sql if "COUNT(" in q["sql"].upper()]


def test_a_big_table_is_counted_by_its_estimate_and_a_small_answer_exactly(monkeypatch):
    orders(6)
    orders(1, status="failed")
    analyze()  # reltuples = 7 (a table this small is sampled whole)
    monkeypatch.setattr(adminlists, "EXACT_COUNT_BELOW", 5)

    whole = adminlists.EstimatedCountPaginator(Order.objects.all(), 20)
    with CaptureQueriesContext(connection) as captured:
        assert whole.count == 7
    assert counts(captured.captured_queries) == []  # pg_class, no COUNT(*)

    # A filter the planner expects to match fewer rows than the bar: counted exactly.
    failed = adminlists.EstimatedCountPaginator(Order.objects.filter(status="failed"), 20)
    with CaptureQueriesContext(connection) as captured:
        assert failed.count == 1
    assert len(counts(captured.captured_queries)) == 1

    # Below the bar (the default, 100 000) every count is exact, as before.
    monkeypatch.setattr(adminlists, "EXACT_COUNT_BELOW", 100_000)
    with CaptureQueriesContext(connection) as captured:
        assert adminlists.EstimatedCountPaginator(Order.objects.all(), 20).count == 7
    assert len(counts(captured.captured_queries)) == 1


def test_the_order_changelist_sends_no_count_of_the_whole_table_once_it_is_big(
    admin_client, monkeypatch
):
    orders(6)
    analyze()
    monkeypatch.setattr(adminlists, "EXACT_COUNT_BELOW", 5)
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get("/admin/order/orders/order/")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 6
    assert [q for q in counts(captured.captured_queries) if "orders_order" in q] == []
    # No date_hierarchy: nothing reads every order's month either.
    assert [q["sql"] for q in captured.captured_queries if "DATE_TRUNC" in q["sql"]] == []


def test_the_task_filter_offers_the_values_of_the_newest_messages(admin_client, monkeypatch):
    (order,) = orders(1)
    now = timezone.now()
    for minutes, task in ((30, "old.task"), (2, "fulfillment.process_order"), (1, "new.task")):
        OutboxMessage.objects.create(
            order=order,
            task_name=task,
            queue="fulfillment",
            payload={},
            created_at=now - timedelta(minutes=minutes),
        )
    monkeypatch.setattr(adminlists.RecentValuesListFilter, "SAMPLE", 2)
    page = admin_client.get("/admin/order/orders/outboxmessage/")
    (task_filter,) = [f for f in page.context["cl"].filter_specs if f.title == "task name"]
    assert task_filter.lookup_choices == ["fulfillment.process_order", "new.task"]
    # A value outside the sample still filters (Django's own parameter).
    old = admin_client.get("/admin/order/orders/outboxmessage/", {"task_name": "old.task"})
    assert old.context["cl"].result_count == 1
