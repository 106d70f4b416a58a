"""Reads of the fulfillment domain."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db.models import Count, Min, Sum
from django.utils import timezone

from fulfillment_service.fulfillment.models import (
    LedgerEntry,
    LedgerTransaction,
    OutboxEvent,
    Payment,
    ProcessedMessage,
    Shipment,
)


def order_status_get(*, order_id: uuid.UUID) -> dict | None:
    """What fulfillment knows about an order (payment, shipment, ledger), or None if it
    has not processed it (yet)."""
    marker = ProcessedMessage.objects.filter(order_id=order_id).first()
    if marker is None:
        return None
    payment = Payment.objects.filter(order_id=order_id).first()
    shipment = Shipment.objects.filter(order_id=order_id).first()
    transactions = list(
        LedgerTransaction.objects.filter(order_id=order_id)
        .order_by("id")
        .prefetch_related("entries")
    )
    return {
        "order_id": str(order_id),
        "status": marker.outcome,
        "reason": marker.reason,
        "processed_at": marker.processed_at.isoformat(),
        "payment": None
        if payment is None
        else {
            "status": payment.status,
            "amount": str(payment.amount),
            "currency": payment.currency,
            "provider": payment.provider,
            "provider_reference": payment.provider_reference,
            "decline_code": payment.decline_code,
        },
        "shipment": None
        if shipment is None
        else {"status": shipment.status, "lines": shipment.lines},
        "ledger": {
            "status": _ledger_status(transactions),
            "transactions": [
                {
                    "id": t.pk,
                    "kind": t.kind,
                    "reverses": t.reverses_id,
                    "created_at": t.created_at.isoformat(),
                    "entries": [
                        {
                            "account": e.account,
                            "sku": e.sku,
                            "currency": e.currency,
                            "amount": str(e.amount),
                            "quantity": e.quantity,
                        }
                        for e in t.entries.all()
                    ],
                }
                for t in transactions
            ],
        },
    }


def _ledger_status(transactions: list[LedgerTransaction]) -> str:
    if not transactions:
        return "none"
    if any(t.kind == LedgerTransaction.Kind.REVERSAL for t in transactions):
        return "reversed"
    return "posted"


def ledger_totals() -> dict[str, Decimal | int]:
    """Sum of every money and unit entry: both are zero in a correct ledger."""
    totals = LedgerEntry.objects.aggregate(amount=Sum("amount"), quantity=Sum("quantity"))
    return {"amount": totals["amount"] or Decimal(0), "quantity": totals["quantity"] or 0}


def outbox_backlog() -> tuple[int, float | None]:
    """How many status events wait to be published, and the age in seconds of the oldest
    (None when none waits): one query on the partial index of unpublished rows."""
    agg = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        pending=Count("id"), oldest=Min("created_at")
    )
    oldest = agg["oldest"]
    return agg["pending"], (timezone.now() - oldest).total_seconds() if oldest else None
