"""The order ledger (PostgreSQL): orders, their lines, idempotency keys and the outbox.

Constraints make a wrong ledger impossible rather than unlikely: one line per sku per order,
positive quantities, one remembered response per (shopper, Idempotency-Key), a known status.
Every write goes through :mod:`order_service.orders.services`.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from shared import messages
from shared.outbox.models import OutboxBase


class OrderStatus(models.TextChoices):
    """The order's status as a Django choice: the values of shared.messages.OrderStatus."""

    ACCEPTED = messages.OrderStatus.ACCEPTED.value, "accepted"
    PAID = messages.OrderStatus.PAID.value, "paid"
    FULFILLED = messages.OrderStatus.FULFILLED.value, "fulfilled"
    FAILED = messages.OrderStatus.FAILED.value, "failed"


class Order(models.Model):
    # The id is chosen before the stock is reserved: it is also the reservation id in Redis.
    id = models.UUIDField(primary_key=True, editable=False)
    # Who placed it: a random id kept in the session (anonymous shoppers), or the customer.
    shopper_id = models.CharField(max_length=64, db_index=True)
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.ACCEPTED, db_index=True
    )
    failure_reason = models.TextField(blank=True, default="")
    total = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # occurred_at of the last status event applied (events older than this are ignored).
    status_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=OrderStatus.values), name="order_status_known"
            ),
            models.CheckConstraint(condition=Q(total__gte=0), name="order_total_not_negative"),
        ]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.UniqueConstraint(fields=["order", "sku"], name="orderline_one_per_sku"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="orderline_quantity_pos"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orderline_price_not_neg"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class IdempotencyKey(models.Model):
    """The response given to a (shopper, Idempotency-Key) checkout, replayed on a retry.

    Only accepted checkouts are remembered: a refused one wrote nothing, so retrying it with
    the same key simply tries again.
    """

    shopper_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # sha256 of the canonical request body: the same key with another body is refused.
    fingerprint = models.CharField(max_length=64)
    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="idempotency_key")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["shopper_id", "key"], name="idempotency_key_once"),
        ]

    def __str__(self) -> str:
        return f"{self.shopper_id}:{self.key}"


class OutboxMessage(OutboxBase):
    """An OrderAccepted message to publish, written in the same statement as the order it
    announces (ADR 0022) and published by the relay (shared/outbox)."""

    # Also the Celery task id, so a consumer can recognise a re-published message.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="outbox_messages")

    class Meta:
        ordering = ["created_at"]
        indexes = [
            # The relay's scan: only the unpublished rows, oldest due first.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_unpublished_due",
                condition=Q(published_at__isnull=True),
            ),
            # The admin's list, oldest first (1M published rows at 100x: ADR 0102).
            models.Index(fields=["created_at"], name="outbox_created"),
        ]

    def __str__(self) -> str:
        state = "published" if self.published_at else "pending"
        return f"{self.task_name} for {self.order_id} ({state})"
