"""The database itself refuses a wrong ledger or negative stock: these tests bypass the
services and write directly, as a bug (or a hand-written SQL statement) would."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum

from fulfillment_service.fulfillment.errors import InsufficientStock
from fulfillment_service.fulfillment.ledger import ledger_record_sale, ledger_reverse
from fulfillment_service.fulfillment.models import LedgerEntry, LedgerTransaction, Stock
from fulfillment_service.fulfillment.stock import stock_deduct

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _sale(order_id=None) -> LedgerTransaction:
    with transaction.atomic():
        return ledger_record_sale(
            order_id=order_id or uuid.uuid4(),
            total=Decimal("12.50"),
            currency="EUR",
            lines=[("SKU-A", 2)],
        )


def test_an_unbalanced_money_transaction_is_refused_at_commit():
    with (
        pytest.raises(IntegrityError, match=re.escape("does not balance: 0.01 EUR left over")),
        transaction.atomic(),
    ):
        txn = LedgerTransaction.objects.create(order_id=uuid.uuid4(), kind="sale")
        LedgerEntry.objects.create(
            transaction=txn, account="payments_receivable", currency="EUR", amount="10.00"
        )
        LedgerEntry.objects.create(
            transaction=txn, account="sales_revenue", currency="EUR", amount="-9.99"
        )
    assert LedgerTransaction.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


def test_unbalanced_units_are_refused_at_commit():
    with pytest.raises(IntegrityError, match="units of SKU-A left over"), transaction.atomic():
        txn = LedgerTransaction.objects.create(order_id=uuid.uuid4(), kind="sale")
        LedgerEntry.objects.create(transaction=txn, account="units_sold", sku="SKU-A", quantity=2)
        LedgerEntry.objects.create(transaction=txn, account="inventory", sku="SKU-A", quantity=-1)
    assert LedgerEntry.objects.count() == 0


def test_a_transaction_without_entries_is_refused():
    with pytest.raises(IntegrityError, match="has 0 entries"), transaction.atomic():
        LedgerTransaction.objects.create(order_id=uuid.uuid4(), kind="sale")
    with pytest.raises(IntegrityError, match="has 1 entries"), transaction.atomic():
        txn = LedgerTransaction.objects.create(order_id=uuid.uuid4(), kind="sale")
        LedgerEntry.objects.create(
            transaction=txn, account="payments_receivable", currency="EUR", amount="5.00"
        )


def test_raw_sql_that_unbalances_is_refused_too():
    txn = _sale()
    with (
        pytest.raises(IntegrityError, match="does not balance"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO fulfillment_ledgerentry (transaction_id, account, sku, currency, "
            "amount, quantity) VALUES (%s, 'sales_revenue', '', 'EUR', -1, 0)",
            [txn.pk],
        )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE fulfillment_ledgerentry SET amount = amount * 2",
        "DELETE FROM fulfillment_ledgerentry",
        "UPDATE fulfillment_ledgertransaction SET description = 'edited'",
        "DELETE FROM fulfillment_ledgertransaction",
    ],
)
def test_ledger_rows_are_never_updated_or_deleted(statement):
    _sale()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert LedgerEntry.objects.count() == 4
    assert LedgerEntry.objects.filter(account="payments_receivable").get().amount == Decimal(
        "12.50"
    )


def test_a_reversal_is_a_new_balancing_transaction_and_happens_once():
    sale = _sale()
    with transaction.atomic():
        reversal = ledger_reverse(transaction_id=sale.pk)
    assert reversal.reverses_id == sale.pk
    assert sorted(reversal.entries.values_list("account", "amount", "quantity")) == sorted(
        (a, -m, -q) for a, m, q in sale.entries.values_list("account", "amount", "quantity")
    )
    assert LedgerEntry.objects.filter(account="units_sold").aggregate(n=Sum("quantity"))["n"] == 0
    with pytest.raises(IntegrityError), transaction.atomic():
        ledger_reverse(transaction_id=sale.pk)


def test_one_sale_per_order():
    order_id = uuid.uuid4()
    _sale(order_id)
    with pytest.raises(IntegrityError, match="ledger_one_sale_per_order"):
        _sale(order_id)


def test_stock_never_goes_negative():
    Stock.objects.create(sku="SKU-A", on_hand=3, received=3)
    with pytest.raises(InsufficientStock), transaction.atomic():
        stock_deduct(sku="SKU-A", quantity=4)
    with transaction.atomic():
        stock_deduct(sku="SKU-A", quantity=3)
    assert Stock.objects.get().on_hand == 0
    # Even a statement that skips the conditional UPDATE is refused by the CHECK.
    with (
        pytest.raises(IntegrityError, match="stock_on_hand_not_negative"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE fulfillment_stock SET on_hand = on_hand - 1")
    assert Stock.objects.get().on_hand == 0
