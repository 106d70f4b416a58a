"""Ledger writes: sales and reversals. PostgreSQL refuses an unbalanced transaction at
COMMIT and any UPDATE or DELETE of a ledger row (migrations 0002/0003, ADR 0030)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.db import connection

from fulfillment_service.fulfillment.models import LedgerEntry, LedgerTransaction

Account = LedgerEntry.Account

Sale = tuple[uuid.UUID, Decimal, str, list[tuple[str, int]]]  # order id, total, currency, lines


def ledger_record_sale(
    *, order_id: uuid.UUID, total: Decimal, currency: str, lines: list[tuple[str, int]]
) -> LedgerTransaction:
    """Money: receivable (debit) against revenue (credit). Units: sold (debit) against
    inventory (credit), per sku. The database refuses the commit if either side is off."""
    [txn_id] = ledger_record_sales(sales=[(order_id, total, currency, lines)])
    return LedgerTransaction.objects.get(pk=txn_id)


def ledger_record_sales(*, sales: list[Sale]) -> list[int]:
    """Several sales in one statement (the transactions, and every entry joined to its
    transaction by order id), in the caller's transaction; each sale balances on its own,
    as the trigger checks at COMMIT. Returns the transaction ids in the order of ``sales``.
    One round trip and no model instances: this is the drain's largest write (ADR 0095)."""
    if not sales:
        return []
    columns: tuple[list, ...] = ([], [], [], [], [], [])  # order, account, sku, cur, amt, qty
    for order_id, total, currency, lines in sales:
        legs = [
            (Account.RECEIVABLE, "", currency, total, 0),
            (Account.REVENUE, "", currency, -total, 0),
        ]
        for sku, quantity in lines:
            legs += [
                (Account.SOLD, sku, "", Decimal(0), quantity),
                (Account.INVENTORY, sku, "", Decimal(0), -quantity),
            ]
        for leg in legs:
            columns[0].append(order_id)
            for column, value in zip(columns[1:], leg, strict=True):
                column.append(str(value) if isinstance(value, str) else value)
    txn_table = LedgerTransaction._meta.db_table
    entry_table = LedgerEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH t AS (INSERT INTO {txn_table} (order_id, kind, description, created_at) "  # noqa: S608 - table names from the models
            "SELECT o, 'sale', 'order sale', now() "
            "FROM unnest(%s::uuid[]) WITH ORDINALITY AS x(o, n) "
            "ORDER BY n RETURNING id, order_id), "
            f"e AS (INSERT INTO {entry_table} "
            "(transaction_id, account, sku, currency, amount, quantity) "
            "SELECT t.id, e.account, e.sku, e.currency, e.amount, e.quantity FROM unnest("
            "%s::uuid[], %s::text[], %s::text[], %s::text[], %s::numeric[], %s::bigint[]) "
            "AS e(order_id, account, sku, currency, amount, quantity) "
            "JOIN t ON t.order_id = e.order_id) "
            "SELECT id, order_id FROM t",
            [[order_id for order_id, _, _, _ in sales], *columns],
        )
        ids = dict((order_id, pk) for pk, order_id in cursor.fetchall())
    return [ids[order_id] for order_id, _, _, _ in sales]


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
