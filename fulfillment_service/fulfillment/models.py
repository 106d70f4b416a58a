"""Fulfillment's tables: the stock system of record, payments (and the simulated
provider's own side), the double-entry ledger, shipments, the processed-message marker and
the outbox of status events.

Rules the database enforces (see the migrations; Python alone is not trusted with them):

* ``Stock.on_hand >= 0`` and ``on_hand <= received`` (CHECK);
* one processed marker, one payment, one sale ledger transaction and one shipment per order
  (UNIQUE): a redelivered message cannot produce a second effect;
* every ledger transaction balances (money per currency and units per sku sum to zero) and
  has at least two entries: a DEFERRABLE constraint trigger checked at COMMIT;
* ledger rows are never updated or deleted (a BEFORE UPDATE OR DELETE trigger raises);
  a reversal is a new transaction that points at the one it reverses (at most one).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from shared.outbox.models import OutboxBase


class Stock(models.Model):
    """Units of one sku in the warehouse: the system of record for stock."""

    sku = models.CharField(max_length=64, primary_key=True)
    on_hand = models.BigIntegerField(help_text="units received and not sold")
    received = models.BigIntegerField(default=0, help_text="units ever received")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(on_hand__lte=models.F("received")), name="stock_on_hand_le_received"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku}: {self.on_hand}/{self.received}"


class StockReceipt(models.Model):
    """One delivery of units (seed, restock command, admin): the audit trail of ``received``."""

    sku = models.ForeignKey(Stock, on_delete=models.PROTECT, related_name="receipts")
    quantity = models.BigIntegerField()
    source = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="receipt_quantity_positive")
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} +{self.quantity} ({self.source})"


class ProcessedMessage(models.Model):
    """The exactly-once marker: written in the same transaction as the order's effects.

    Its primary key is the order id, so a second delivery of the same order cannot write a
    second marker (and therefore none of the effects that commit with it)."""

    class Outcome(models.TextChoices):
        FULFILLED = "fulfilled"
        FAILED = "failed"

    order_id = models.UUIDField(primary_key=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=64, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-processed_at"]
        # The admin's list, newest first (ADR 0102).
        indexes = [models.Index(fields=["processed_at"], name="processed_at")]

    def __str__(self) -> str:
        return f"{self.order_id} {self.outcome}"


class Payment(models.Model):
    """Our record of the charge made for an order (one per order)."""

    class Status(models.TextChoices):
        CAPTURED = "captured"
        DECLINED = "declined"
        REFUNDED = "refunded"

    order_id = models.UUIDField(unique=True)
    idempotency_key = models.CharField(max_length=128, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    provider = models.CharField(max_length=32)
    provider_reference = models.CharField(max_length=64)
    decline_code = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status} {self.amount} {self.currency}"


class SimulatedCharge(models.Model):
    """The simulated provider's own book of charges (stands in for the provider's servers).

    Unique by idempotency key, like a real provider: the same key never charges twice, even
    when our side crashed before recording the answer."""

    class Status(models.TextChoices):
        APPROVED = "approved"
        DECLINED = "declined"

    idempotency_key = models.CharField(max_length=128, unique=True)
    reference = models.CharField(max_length=64, unique=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    decline_code = models.CharField(max_length=64, blank=True, default="")
    refunded = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.reference} {self.status} {self.amount} {self.currency}"


class SimulatedRequest(models.Model):
    """How many times the simulated provider was asked about a key (for scripted faults)."""

    idempotency_key = models.CharField(max_length=128, primary_key=True)
    attempts = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.idempotency_key}: {self.attempts}"


class LedgerTransaction(models.Model):
    """A balanced set of ledger entries. Insert-only."""

    class Kind(models.TextChoices):
        SALE = "sale"
        REVERSAL = "reversal"

    order_id = models.UUIDField(db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    description = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order_id"], condition=Q(kind="sale"), name="ledger_one_sale_per_order"
            ),
            models.CheckConstraint(
                condition=(Q(kind="sale", reverses__isnull=True))
                | Q(kind="reversal", reverses__isnull=False),
                name="ledger_reversal_points_at_original",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.order_id}"


class LedgerEntry(models.Model):
    """One leg of a ledger transaction: money (``amount`` in ``currency``) or units of
    ``sku`` (``quantity``). Positive is a debit, negative a credit. Insert-only."""

    class Account(models.TextChoices):
        RECEIVABLE = "payments_receivable"  # money the provider owes us for captured charges
        REVENUE = "sales_revenue"
        INVENTORY = "inventory"  # units on hand (credited when sold)
        SOLD = "units_sold"  # units shipped to customers

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.CharField(max_length=32, choices=Account.choices)
    sku = models.CharField(max_length=64, blank=True, default="", db_index=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    quantity = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        indexes = [
            # maintain's stock sweep sums units sold per sku: an index-only scan of the
            # units_sold legs instead of a scan of every entry (ADR 0102).
            models.Index(
                fields=["sku"],
                include=["quantity"],
                condition=Q(account="units_sold"),
                name="ledger_units_sold_by_sku",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0) | ~Q(quantity=0), name="ledger_entry_not_empty"
            ),
            models.CheckConstraint(
                condition=(Q(quantity=0) & ~Q(currency="")) | (Q(amount=0) & ~Q(sku="")),
                name="ledger_entry_money_or_units",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.sku or self.currency} {self.quantity or self.amount}"


class Shipment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        SHIPPED = "shipped"
        CANCELLED = "cancelled"

    order_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    lines = models.JSONField(help_text="[{sku, quantity}]")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.status}"


class OutboxEvent(OutboxBase):
    """A status event for the order service, written in the transaction that caused it and
    published by the relay (shared/outbox): never lost if the broker blips."""

    order_id = models.UUIDField(db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's scan: only the unpublished rows, oldest due first.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(published_at__isnull=True),
                name="outbox_event_unpublished_due",
            )
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.order_id} {self.payload.get('status', '')}"
