"""Admin of the waiting rooms: define a sale's room, open / pause / close it, watch it.

The only editable model of the order admin (ADR 0067: the "sale manager" role may add and
change rooms). Saving goes through ``services.room_save`` (validated, mirrored to Redis);
the live columns are read from Redis, the same figures as the Prometheus gauges.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages

from order_service.waitingroom import errors, selectors, services
from order_service.waitingroom.models import WaitingRoom


class WaitingRoomForm(forms.ModelForm):
    class Meta:
        model = WaitingRoom
        fields = [
            "slug",
            "title",
            "skus",
            "opens_at",
            "state",
            "admission_rate",
            "dropout_allowance_percent",
            "pass_ttl_seconds",
            "accounts_only",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors:
            room = self.instance
            for name, value in cleaned.items():
                setattr(room, name, value)
            try:
                services.room_check(room=room)
            except errors.RoomInvalid as exc:
                raise forms.ValidationError(exc.message) from None
        return cleaned


def _live(room: WaitingRoom) -> dict[str, Any]:
    """The room's live figures, read once per row of the page."""
    cached = getattr(room, "_live", None)
    if cached is None:
        status = selectors.room_status(slug=room.slug)
        cached = selectors.status_document(slug=room.slug, status=status) if status else {}
        cached["waits"] = selectors.room_waits(slug=room.slug) if status else (None, None)
        room._live = cached  # type: ignore[attr-defined]
    return cached


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


@admin.register(WaitingRoom)
class WaitingRoomAdmin(admin.ModelAdmin):
    form = WaitingRoomForm
    list_display = [
        "slug",
        "title",
        "live_state",
        "queue_length",
        "admitted",
        "in_flight",
        "units_left",
        "median_wait",
        "max_wait",
        "admission_rate",
        "dropout_allowance_percent",
        "opens_at",
    ]
    search_fields = ["slug", "title"]
    actions = ["open_rooms", "pause_rooms", "close_rooms"]

    @admin.display(description="state now")
    def live_state(self, room: WaitingRoom) -> str:
        return _live(room).get("state", "not mirrored")

    @admin.display(description="queue length")
    def queue_length(self, room: WaitingRoom) -> Any:
        return _live(room).get("queue_length", "-")

    @admin.display(description="admitted")
    def admitted(self, room: WaitingRoom) -> Any:
        return _live(room).get("admitted_through", "-")

    @admin.display(description="in flight")
    def in_flight(self, room: WaitingRoom) -> Any:
        return _live(room).get("in_flight", "-")

    @admin.display(description="units left")
    def units_left(self, room: WaitingRoom) -> Any:
        value = _live(room).get("units_left")
        return "-" if value is None else value

    @admin.display(description="median wait")
    def median_wait(self, room: WaitingRoom) -> str:
        return _seconds(_live(room)["waits"][0] if "waits" in _live(room) else None)

    @admin.display(description="max wait")
    def max_wait(self, room: WaitingRoom) -> str:
        return _seconds(_live(room)["waits"][1] if "waits" in _live(room) else None)

    def save_model(self, request, obj, form, change):
        services.room_save(room=obj)

    def delete_model(self, request, obj):
        services.room_delete(room=obj)

    def delete_queryset(self, request, queryset):
        for room in queryset:
            services.room_delete(room=room)

    def _control(self, request, queryset, action, verb: str) -> None:
        for room in queryset:
            try:
                action(slug=room.slug)
            except errors.RoomInvalid as exc:
                self.message_user(request, f"{room.slug}: {exc.message}", messages.ERROR)
                continue
            self.message_user(request, f"{room.slug}: {verb}", messages.SUCCESS)

    @admin.action(description="Open the selected rooms (admit shoppers)", permissions=["change"])
    def open_rooms(self, request, queryset):
        self._control(request, queryset, services.room_open, "open")

    @admin.action(
        description="Pause the selected rooms (join, no admission)", permissions=["change"]
    )
    def pause_rooms(self, request, queryset):
        self._control(request, queryset, services.room_pause, "paused")

    @admin.action(description="Close the selected rooms (skus unguarded)", permissions=["change"])
    def close_rooms(self, request, queryset):
        self._control(request, queryset, services.room_close, "closed")
