"""Property-based test (hypothesis) over random sequences of orders, declines, transient
failures and retries, redeliveries, crashes between charge and commit, and restocks.

After every step: the ledger sums to zero, no stock is negative, PostgreSQL agrees with
itself (on hand = received - sold), and the Redis/PostgreSQL invariant holds. At the end
every order has at most one charge, and a captured payment exactly when it has a sale."""

from __future__ import annotations

import contextlib
import uuid
from decimal import Decimal

import pytest
from django.db.models import Sum
from fulfillment_support import order_payload
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fulfillment_service.fulfillment.errors import GatewayUnavailable
from fulfillment_service.fulfillment.gateway import SimulatedProvider
from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import (
    LedgerEntry,
    LedgerTransaction,
    Payment,
    SimulatedCharge,
    Stock,
)
from fulfillment_service.fulfillment.services import order_process, payment_key
from fulfillment_service.fulfillment.stock import stock_restock
from shared.inventory import ReserveLine

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]

SKUS = 3

order_op = st.tuples(
    st.just("order"),
    st.lists(
        st.tuples(st.integers(0, SKUS - 1), st.integers(1, 4)),
        min_size=1,
        max_size=2,
        unique_by=lambda t: t[0],
    ),
    st.sampled_from(["ok", "ok", "decline"]),
)
process_op = st.tuples(st.just("process"), st.integers(0, 50), st.booleans())  # bool: flaky
redeliver_op = st.tuples(st.just("redeliver"), st.integers(0, 50))
charge_crash_op = st.tuples(st.just("charge_then_crash"), st.integers(0, 50))
restock_op = st.tuples(st.just("restock"), st.integers(0, SKUS - 1), st.integers(1, 5))
operations = st.lists(
    st.one_of(order_op, process_op, redeliver_op, charge_crash_op, restock_op),
    min_size=1,
    max_size=14,
)


def _check(inventory, skus: list[str]) -> None:
    totals = LedgerEntry.objects.aggregate(amount=Sum("amount"), quantity=Sum("quantity"))
    assert (totals["amount"] or 0) == 0
    assert (totals["quantity"] or 0) == 0
    for stock in Stock.objects.filter(sku__in=skus):
        sold = (
            LedgerEntry.objects.filter(sku=stock.sku, account="units_sold").aggregate(
                n=Sum("quantity")
            )["n"]
            or 0
        )
        assert stock.on_hand >= 0
        assert stock.on_hand == stock.received - sold
    report = stock_invariant_check(inventory=inventory, skus=skus, samples=1)
    assert (report.drifting, report.unknown, report.ledger_mismatch) == ([], [], [])


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=operations, initial=st.lists(st.integers(0, 6), min_size=SKUS, max_size=SKUS))
def test_random_sequences_keep_the_ledger_balanced_and_the_stock_invariant(inventory, ops, initial):
    run = uuid.uuid4().hex[:8]  # examples share the database: their own skus and orders
    skus = [f"P-{run}-{i}" for i in range(SKUS)]
    for sku, units in zip(skus, initial, strict=True):
        Stock.objects.create(sku=sku, on_hand=units, received=units)
        inventory.set_available(sku=sku, available=units)
    accepted: list[dict] = []
    flaky = SimulatedProvider(transient_error_rate=1.0)

    def pick(index: int) -> dict | None:
        return accepted[index % len(accepted)] if accepted else None

    for op in ops:
        kind = op[0]
        if kind == "order":
            _, lines, outcome = op
            payload = order_payload(
                {skus[i]: q for i, q in lines},
                shopper_id=f"test-decline-{run}" if outcome == "decline" else f"s-{run}",
                unit_price="3.25",
            )
            result = inventory.reserve(
                reservation_id=payload["order_id"],
                shopper_id=payload["shopper_id"],
                lines=[ReserveLine(sku=skus[i], quantity=q) for i, q in lines],
            )
            if result.ok:  # the order service accepts only what it could reserve
                accepted.append(payload)
        elif kind == "process" and (payload := pick(op[1])):
            # A transient failure leaves the message to be retried later.
            with contextlib.suppress(GatewayUnavailable):
                order_process(payload=payload, gateway=flaky if op[2] else None)
        elif kind == "redeliver" and (payload := pick(op[1])):
            order_process(payload=payload)
        elif kind == "charge_then_crash" and (payload := pick(op[1])):
            # The provider charged, then the worker died before our commit.
            SimulatedProvider().charge(
                idempotency_key=payment_key(payload["order_id"]),
                amount=Decimal(payload["total"]),
                currency=payload["currency"],
                shopper_id=payload["shopper_id"],
            )
        elif kind == "restock":
            stock_restock(sku=skus[op[1]], quantity=op[2])
        _check(inventory, skus)

    # Every accepted order is eventually delivered (at least once) and settles.
    for payload in accepted:
        assert order_process(payload=payload).outcome in {"fulfilled", "failed", "duplicate"}
        assert inventory.reservation(payload["order_id"]) == {}
    _check(inventory, skus)
    for payload in accepted:
        order_id = uuid.UUID(payload["order_id"])
        charges = SimulatedCharge.objects.filter(idempotency_key=payment_key(order_id))
        assert charges.count() <= 1
        sales = LedgerTransaction.objects.filter(order_id=order_id, kind="sale").count()
        captured = Payment.objects.filter(order_id=order_id, status="captured").count()
        assert sales == captured <= 1
        if payload["shopper_id"].startswith("test-decline"):
            assert sales == 0
