"""Admin changelists whose cost does not grow with the table (ADR 0102).

Django's changelist sends, besides the page itself, statements that read the whole table:
``COUNT(*)`` for the paginator and again for "N total" (``show_full_result_count``), and a
``SELECT DISTINCT`` for every list filter on a field without choices. At 1M orders those
take 150-600 ms each, the page itself well under a millisecond (bench/bigdata.py --explain).

* :class:`EstimatedCountPaginator`: on a table of ``EXACT_COUNT_BELOW`` rows or more, the
  count is PostgreSQL's estimate when that estimate is itself that large: the table's
  ``pg_class.reltuples`` (kept fresh by autovacuum's ANALYZE) for the whole list, the
  planner's row estimate (``EXPLAIN``) for a filtered one. Smaller tables and lists that
  match fewer rows are counted exactly, as before (and as the tests assert).
* :class:`RecentValuesListFilter`: the values offered by a list filter come from the newest
  ``SAMPLE`` rows (by the admin's ``recent_values_by``, an indexed column; default the
  primary key) rather than a DISTINCT over every row. Any value still filters (the URL
  parameter is Django's own ``<field>__exact``).
* :class:`LargeTableAdmin`: both, and no second full count for "N total".
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import HttpRequest

EXACT_COUNT_BELOW = 100_000


class EstimatedCountPaginator(Paginator):
    """Django's paginator; the count of a whole big table is PostgreSQL's estimate."""

    @cached_property
    def count(self) -> int:
        estimate = count_estimate(self.object_list)
        if estimate is not None and estimate >= EXACT_COUNT_BELOW:
            return estimate
        return super().count


def count_estimate(queryset: object) -> int | None:
    """PostgreSQL's estimate of ``queryset.count()`` when its table is big, else None."""
    whole = table_estimate(queryset)
    if whole is None or whole < EXACT_COUNT_BELOW:
        return None
    assert isinstance(queryset, QuerySet)
    query = queryset.query
    if not (query.where or query.distinct or query.group_by):
        return whole
    sql, params = query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def table_estimate(queryset: object) -> int | None:
    """``reltuples`` of the queryset's table (None for a combined or sliced queryset, or a
    table never analysed: -1)."""
    if not isinstance(queryset, QuerySet):
        return None
    query = queryset.query
    if query.combinator or query.is_sliced:
        return None
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


class RecentValuesListFilter(admin.AllValuesFieldListFilter):
    """``AllValuesFieldListFilter`` over the newest ``SAMPLE`` rows: a bounded index scan
    instead of a DISTINCT over the table. For a plain column of the changelist's model;
    "newest" is ``model_admin.recent_values_by`` (e.g. ``"-created_at"`` where the primary
    key is a UUID), else ``"-pk"``."""

    SAMPLE = 1_000

    def __init__(
        self,
        field: Any,
        request: HttpRequest,
        params: dict[str, Any],
        model: Any,
        model_admin: Any,
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        # Django's lookup_choices is a lazy DISTINCT over the table (not run yet): replaced
        # by the values of the newest rows, read by the primary key's index.
        by = getattr(model_admin, "recent_values_by", "-pk")
        newest = model._default_manager.order_by(by).values_list(field.name, flat=True)
        self.lookup_choices = sorted(  # type: ignore[assignment]  # Django iterates either
            {v for v in newest[: self.SAMPLE] if v is not None}
        )


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist for a table that grows with the business (orders, ledger, reviews)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
