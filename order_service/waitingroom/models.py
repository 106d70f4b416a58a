"""A sale's waiting room, defined by staff (docs/waiting-room.md, ADR 0104).

The row is the room's definition; the live state (queue, tickets, admitted, in flight)
lives in the inventory Redis, where ``services.room_save`` mirrors every change: nothing
on the hot path reads this table.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models


class RoomState(models.TextChoices):
    OPEN = "open", "open"
    PAUSED = "paused", "paused"
    CLOSED = "closed", "closed"


SLUG_RE = r"^[a-z0-9-]{1,64}$"


class WaitingRoom(models.Model):
    slug = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(SLUG_RE, "lower-case letters, digits and '-' only")],
        help_text="In the queue URL /waiting-room/<slug> and the pass cookie's name.",
    )
    title = models.CharField(max_length=200)
    skus = ArrayField(
        models.CharField(max_length=64),
        help_text="Comma-separated skus whose cart and checkout the room guards.",
    )
    opens_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Shoppers arriving before this wait in a pre-queue shuffled at the opening.",
    )
    state = models.CharField(max_length=8, choices=RoomState.choices, default=RoomState.CLOSED)
    admission_rate = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Shoppers admitted per second (at most the order budget).",
    )
    dropout_allowance_percent = models.PositiveSmallIntegerField(
        default=10,
        validators=[MaxValueValidator(1000)],
        help_text="Admit this many percent more shoppers than units left (some never buy).",
    )
    pass_ttl_seconds = models.PositiveIntegerField(
        default=600,
        validators=[MinValueValidator(30), MaxValueValidator(24 * 3600)],
        help_text="How long an admitted shopper's pass is valid.",
    )
    accounts_only = models.BooleanField(
        default=False, help_text="Only signed-in shoppers may join (guests are refused)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug
