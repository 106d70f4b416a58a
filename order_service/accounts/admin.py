"""Admin: shopper accounts, looked up by email; staff may switch one off (it can no longer
sign in, and every session signed in to it ends), never see or set its password, and never
add or delete one (a shopper signs up themselves; deleting would orphan the account's
orders)."""

from __future__ import annotations

from django.contrib import admin

from order_service.accounts.models import ShopperAccount
from order_service.accounts.services import account_sessions_end
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

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and not obj.is_active:  # also a save of one already off (its docstring)
            ended = account_sessions_end(account_id=obj.pk)
            self.message_user(request, f"Switched off {obj.email}: {ended} session(s) ended.")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
