"""Stock writes: the system of record in PostgreSQL and its Redis counters.

Deductions are conditional UPDATEs (``on_hand >= n``), never read-modify-write; the CHECK
constraint backs them. :func:`stock_deduct_many` is the batch form the drain uses (one
statement for a whole batch of orders, ADR 0094)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from fulfillment_service.fulfillment.errors import InsufficientStock, UnknownSku
from fulfillment_service.fulfillment.models import Stock, StockReceipt
from shared.inventory import Inventory


@cache
def inventory_client() -> Inventory:
    return Inventory.from_url(
        settings.INVENTORY_REDIS_URL,
        socket_timeout=settings.REDIS_TIMEOUT,
        socket_connect_timeout=settings.REDIS_TIMEOUT,
    )


def stock_deduct(*, sku: str, quantity: int) -> None:
    """Take units out of the system of record, or raise InsufficientStock (never below 0:
    the conditional UPDATE decides under concurrency, the CHECK constraint backs it)."""
    updated = Stock.objects.filter(sku=sku, on_hand__gte=quantity).update(
        on_hand=F("on_hand") - quantity
    )
    if updated != 1:
        raise InsufficientStock(sku, quantity)


def stock_lock_many(*, skus: list[str]) -> dict[str, int]:
    """``on_hand`` of each sku, rows locked until the caller's transaction ends (in sku
    order, so that concurrent batches lock in one order and never deadlock)."""
    if not connection.in_atomic_block:
        raise RuntimeError("stock_lock_many must run inside the caller's transaction")
    if not skus:
        return {}
    return dict(
        Stock.objects.select_for_update()
        .filter(sku__in=sorted(set(skus)))
        .order_by("sku")
        .values_list("sku", "on_hand")
    )


def stock_deduct_many(*, quantities: dict[str, int]) -> None:
    """Take units of several skus out in one statement (``UPDATE ... FROM (VALUES ...)``,
    each row still conditional on ``on_hand >= n``); InsufficientStock if any sku is short
    (the caller's transaction then rolls back: all or none)."""
    if not quantities:
        return
    items = sorted(quantities.items())
    values = ", ".join(["(%s, %s::bigint)"] * len(items))
    params: list[Any] = [v for item in items for v in item]
    table = Stock._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS s SET on_hand = s.on_hand - v.n, updated_at = now() "  # noqa: S608 - table name from the model
            f"FROM (VALUES {values}) AS v(sku, n) "
            "WHERE s.sku = v.sku AND s.on_hand >= v.n RETURNING s.sku",
            params,
        )
        updated = {row[0] for row in cursor.fetchall()}
    short = [sku for sku, _ in items if sku not in updated]
    if short:
        raise InsufficientStock(short[0], quantities[short[0]])


def stock_receive(*, sku: str, quantity: int, source: str, create: bool = False) -> Stock:
    """Add received units to PostgreSQL (one transaction). ``create`` allows a new sku."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    with transaction.atomic():
        updated = Stock.objects.filter(sku=sku).update(
            on_hand=F("on_hand") + quantity, received=F("received") + quantity
        )
        if not updated:
            if not create:
                raise UnknownSku(sku)
            Stock.objects.create(sku=sku, on_hand=quantity, received=quantity)
        StockReceipt.objects.create(sku_id=sku, quantity=quantity, source=source)
        return Stock.objects.get(sku=sku)


@dataclass(frozen=True)
class RestockResult:
    sku: str
    on_hand: int
    received: int
    available: int
    rebuilt: bool  # True when the Redis counter was missing and rebuilt from PostgreSQL


def stock_restock(
    *,
    sku: str,
    quantity: int,
    source: str = "restock",
    create: bool = False,
    inventory: Inventory | None = None,
) -> RestockResult:
    """Receive units: PostgreSQL first (the system of record), then the Redis counter.

    If the Redis step fails after the commit, the invariant checker sees the drift and its
    repair adds the missing units (the units are in PostgreSQL, so nothing is lost)."""
    from fulfillment_service.fulfillment.invariants import stock_available_rebuild

    inventory = inventory or inventory_client()
    stock = stock_receive(sku=sku, quantity=quantity, source=source, create=create)
    available = inventory.restock(sku=sku, quantity=quantity)
    rebuilt = available is None
    if available is None:
        available = stock_available_rebuild(skus=[sku], inventory=inventory)[sku]
    return RestockResult(sku, stock.on_hand, stock.received, available, rebuilt)
