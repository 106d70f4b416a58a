"""Ledger writes: sales and reversals. PostgreSQL refuses an unbalanced transaction at
COMMIT and any UPDATE or DELETE of a ledger row (migrations 0002/0003, ADR 0030)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fulfillment_service.fulfillment.models import LedgerEntry, LedgerTransaction

Account = LedgerEntry.Account

Sale = tuple[uuid.UUID, Decimal, str, list[tuple[str, int]]]  # order id, total, currency, lines


def _sale_entries(
    txn: LedgerTransaction, total: Decimal, currency: str, lines: list[tuple[str, int]]
) -> list[LedgerEntry]:
    entries = [
        LedgerEntry(transaction=txn, account=Account.RECEIVABLE, currency=currency, amount=total),
        LedgerEntry(transaction=txn, account=Account.REVENUE, currency=currency, amount=-total),
    ]
    for sku, quantity in lines:
        entries.append(
            LedgerEntry(transaction=txn, account=Account.SOLD, sku=sku, quantity=quantity)
        )
        entries.append(
            LedgerEntry(transaction=txn, account=Account.INVENTORY, sku=sku, quantity=-quantity)
        )
    return entries


def ledger_record_sale(
    *, order_id: uuid.UUID, total: Decimal, currency: str, lines: list[tuple[str, int]]
) -> LedgerTransaction:
    """Money: receivable (debit) against revenue (credit). Units: sold (debit) against
    inventory (credit), per sku. The database refuses the commit if either side is off."""
    [txn] = ledger_record_sales(sales=[(order_id, total, currency, lines)])
    return txn


def ledger_record_sales(*, sales: list[Sale]) -> list[LedgerTransaction]:
    """Several sales in two statements (the transactions, then every entry), in the
    caller's transaction; each sale balances on its own, as the trigger checks."""
    if not sales:
        return []
    txns = LedgerTransaction.objects.bulk_create(
        [
            LedgerTransaction(
                order_id=order_id, kind=LedgerTransaction.Kind.SALE, description="order sale"
            )
            for order_id, _, _, _ in sales
        ]
    )
    entries: list[LedgerEntry] = []
    for txn, (_, total, currency, lines) in zip(txns, sales, strict=True):
        entries += _sale_entries(txn, total, currency, lines)
    LedgerEntry.objects.bulk_create(entries)
    return txns


def ledger_reverse(*, transaction_id: int, description: str = "reversal") -> LedgerTransaction:
    """Cancel a transaction with a new, mirror-image one (rows are never edited). Must run
    inside the caller's transaction together with whatever the reversal means (stock back,
    refund record); a second reversal of the same transaction is refused (UNIQUE)."""
    original = LedgerTransaction.objects.get(pk=transaction_id)
    reversal = LedgerTransaction.objects.create(
        order_id=original.order_id,
        kind=LedgerTransaction.Kind.REVERSAL,
        reverses=original,
        description=description,
    )
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            transaction=reversal,
            account=e.account,
            sku=e.sku,
            currency=e.currency,
            amount=-e.amount,
            quantity=-e.quantity,
        )
        for e in original.entries.all()
    )
    return reversal
