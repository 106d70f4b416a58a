"""Admin: orders (filter by status, search by order id) and the outbox backlog.

Every model here is a record the services write: the admin shows it and never adds, edits
or deletes one (an order deleted by hand would lose a shopper's purchase and leave its
outbox message and reservation behind)."""

from __future__ import annotations

import uuid

from django.contrib import admin

from order_service.orders.models import IdempotencyKey, Order, OrderLine, OutboxMessage
from order_service.orders.selectors import outbox_backlog
from shared.adminlists import LargeTableAdmin, RecentValuesListFilter


def _backlog_title() -> str:
    backlog = outbox_backlog()
    if not backlog.pending:
        return "Outbox backlog: none (every message published)"
    assert backlog.oldest_age is not None  # set whenever something is pending
    age = backlog.oldest_age.total_seconds()
    return f"Outbox backlog: {backlog.pending} unpublished, oldest {age:.0f} s old"


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = ["sku", "quantity", "unit_price", "currency"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyRecordAdmin(LargeTableAdmin):
    """Viewable, never added, changed or deleted from the admin (whatever the user's
    permissions: a superuser neither)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderRecordAdmin(ReadOnlyRecordAdmin):
    """Read-only records of orders: searched by exact order id, the outbox backlog shown
    on the list, never added by hand (orders are placed through checkout only)."""

    order_id_field = "id"

    def get_search_results(self, request, queryset, search_term):
        # Exact match on the uuid (a partial or invalid id finds nothing, without an error).
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            return queryset.filter(**{self.order_id_field: uuid.UUID(term)}), False
        except ValueError:
            return queryset.none(), False

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "subtitle": _backlog_title()}
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Order)
class OrderAdmin(OrderRecordAdmin):
    list_display = ["id", "status", "total", "currency", "shopper_id", "created_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["id"]
    # No date_hierarchy: its DISTINCT over every order's month costs 0.6 s at 1M orders;
    # the created_at filter (today, past 7 days, this month, ...) sends no query (ADR 0102).
    inlines = [OrderLineInline]
    readonly_fields = [f.name for f in Order._meta.fields]

    order_id_field = "id"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(OrderRecordAdmin):
    list_display = ["id", "order_id", "task_name", "created_at", "published_at", "attempts"]
    list_filter = [
        ("published_at", admin.EmptyFieldListFilter),
        ("task_name", RecentValuesListFilter),
    ]
    recent_values_by = "-created_at"  # the pk is a UUID; created_at is indexed
    search_fields = ["order__id"]
    readonly_fields = [f.name for f in OutboxMessage._meta.fields]

    order_id_field = "order_id"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyRecordAdmin):
    list_display = ["key", "shopper_id", "order_id", "created_at", "expires_at"]
    search_fields = ["key", "shopper_id"]
    readonly_fields = [f.name for f in IdempotencyKey._meta.fields]
