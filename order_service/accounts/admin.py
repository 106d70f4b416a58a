"""Admin: shopper accounts, looked up by email; staff may switch one off (it can no longer
sign in), never see or set its password, and never add or delete one (a shopper signs up
themselves; deleting would orphan the account's orders)."""

from __future__ import annotations

from django.contrib import admin

from order_service.accounts.models import ShopperAccount
from shared.adminlists import LargeTableAdmin


@admin.register(ShopperAccount)
class ShopperAccountAdmin(LargeTableAdmin):
    list_display = ["email", "name", "created_at", "last_login", "is_active"]
    list_filter = ["is_active"]
    # Stored lower-cased; the unique column's pattern index serves a prefix search.
    search_fields = ["email__startswith"]
    search_help_text = "Email address, or its beginning (lower case)."
    fields = ["email", "name", "created_at", "last_login", "is_active"]
    readonly_fields = ["email", "name", "created_at", "last_login"]
    ordering = ["-id"]

    def get_search_results(self, request, queryset, search_term):
        return super().get_search_results(request, queryset, search_term.strip().lower())

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
