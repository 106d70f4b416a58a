"""Admin: ledger and payments read-only, shipments (cancel action), stock (restock action),
processed markers, outbox, and a dead-letter view (inspect and replay).

Admin actions only validate input and call services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import path, reverse

from fulfillment_service.fulfillment import services, stock
from fulfillment_service.fulfillment.deadletters import (
    DEAD_QUEUE,
    dead_letter_list,
    dead_letter_replay,
)
from fulfillment_service.fulfillment.errors import UnknownSku
from fulfillment_service.fulfillment.models import (
    LedgerEntry,
    LedgerTransaction,
    OutboxEvent,
    Payment,
    ProcessedMessage,
    Shipment,
    Stock,
    StockReceipt,
)
from shared.adminlists import LargeTableAdmin, RecentValuesListFilter


class ReadOnlyAdmin(LargeTableAdmin):
    """Rows written only by the services: viewable, never editable here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


_LEDGER_ENTRY_FIELDS = ("account", "sku", "currency", "amount", "quantity")


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    extra = 0
    can_delete = False
    fields = _LEDGER_ENTRY_FIELDS
    readonly_fields = _LEDGER_ENTRY_FIELDS

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "order_id", "kind", "reverses", "created_at"]
    list_filter = ["kind"]
    search_fields = ["order_id"]
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["id", "transaction", "account", "sku", "currency", "amount", "quantity"]
    list_filter = ["account", ("currency", RecentValuesListFilter)]
    search_fields = ["sku", "transaction__order_id"]


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "status", "amount", "currency", "provider_reference", "created_at"]
    list_filter = ["status", ("provider", RecentValuesListFilter)]
    ordering = ["-id"]  # creation order without an index on created_at (ADR 0102)
    search_fields = ["order_id", "provider_reference"]


@admin.register(ProcessedMessage)
class ProcessedMessageAdmin(ReadOnlyAdmin):
    list_display = ["order_id", "outcome", "reason", "processed_at"]
    list_filter = ["outcome", ("reason", RecentValuesListFilter)]
    recent_values_by = "-processed_at"  # the pk is the order's UUID; processed_at is indexed
    search_fields = ["order_id"]


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "order_id", "task_name", "created_at", "published_at", "attempts"]
    list_filter = [("published_at", admin.EmptyFieldListFilter)]
    search_fields = ["order_id"]


@admin.register(Shipment)
class ShipmentAdmin(LargeTableAdmin):
    ordering = ["-id"]  # creation order without an index on created_at (ADR 0102)
    list_display = ["order_id", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["order_id"]
    readonly_fields = ["order_id", "lines", "status", "created_at", "updated_at"]
    actions = ["mark_shipped", "cancel_orders"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Mark selected pending shipments as shipped", permissions=["change"])
    def mark_shipped(self, request, queryset):
        with transaction.atomic():
            count = queryset.filter(status=Shipment.Status.PENDING).update(
                status=Shipment.Status.SHIPPED
            )
        self.message_user(request, f"{count} shipment(s) marked shipped.")

    @admin.action(
        description="Cancel: refund, reverse the ledger, restock (pending only)",
        permissions=["change"],
    )
    def cancel_orders(self, request, queryset):
        done = sum(
            services.order_cancel(order_id=order_id)
            for order_id in queryset.values_list("order_id", flat=True)
        )
        self.message_user(request, f"{done} order(s) cancelled and reversed.")


class RestockForm(forms.Form):
    quantity = forms.IntegerField(min_value=1, max_value=1_000_000)


@admin.register(Stock)
class StockAdmin(LargeTableAdmin):
    list_display = ["sku", "on_hand", "received", "updated_at"]
    search_fields = ["sku"]
    readonly_fields = ["sku", "on_hand", "received", "updated_at"]
    actions = ["restock"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Restock selected skus", permissions=["change"])
    def restock(self, request, queryset):
        form = RestockForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            quantity = form.cleaned_data["quantity"]
            for sku in queryset.values_list("sku", flat=True):
                try:
                    result = stock.stock_restock(sku=sku, quantity=quantity, source="admin")
                except UnknownSku as exc:
                    self.message_user(request, str(exc), level=messages.ERROR)
                    continue
                self.message_user(
                    request,
                    f"{sku}: +{quantity}; on hand {result.on_hand}, available {result.available}",
                )
            return None
        return render(
            request,
            "admin/fulfillment/restock.html",
            {
                **self.admin_site.each_context(request),
                "title": "Restock",
                "form": form,
                "skus": list(queryset.values_list("sku", flat=True)),
                "action": "restock",
            },
        )


@admin.register(StockReceipt)
class StockReceiptAdmin(ReadOnlyAdmin):
    list_display = ["id", "sku", "quantity", "source", "created_at"]
    search_fields = ["sku__sku"]


def dead_letters_view(request):
    """List dead letters of the fulfillment queue; POST replays one (task_id) or all."""
    if request.method == "POST":
        if not request.user.has_perm("fulfillment.change_shipment"):
            messages.error(request, "You may not replay messages.")
            return redirect(reverse("fulfillment-dead-letters"))
        task_id = request.POST.get("task_id", "")
        replayed = dead_letter_replay(task_ids=[task_id] if task_id else None)
        messages.success(request, f"{len(replayed)} dead letter(s) replayed.")
        return redirect(reverse("fulfillment-dead-letters"))
    try:
        letters = dead_letter_list(limit=200)
        error = ""
    except Exception as exc:  # noqa: BLE001 - broker down: say so on the page
        letters, error = [], f"{type(exc).__name__}: {exc}"
    return TemplateResponse(
        request,
        "admin/fulfillment/dead_letters.html",
        {
            **admin.site.each_context(request),
            "title": f"Dead letters ({DEAD_QUEUE})",
            "letters": letters,
            "error": error,
        },
    )


def admin_extra_urls():
    return [
        path(
            "dead-letters/",
            admin.site.admin_view(dead_letters_view),
            name="fulfillment-dead-letters",
        )
    ]
