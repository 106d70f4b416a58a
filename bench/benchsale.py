"""The checkout benchmarks' own sale: one sku with plenty of stock, opened as the rebuild
would open it, and everything it left removed afterwards (bench/checkout.py and
bench/checkout_profile.py share it)."""

from __future__ import annotations

from shared.inventory import EPOCH_KEY, Inventory
from shared.offers import OFFERS_EPOCH_KEY, Offer, offer_key, publish_offers

STOCK = 10_000_000


def bench_sale_open(inventory: Inventory, *, sku: str) -> None:
    """Publish the sku's offer and availability and open the sale (ADR 0088); a Redis that
    already has the markers keeps them."""
    publish_offers(
        inventory.client,
        [Offer(sku=sku, name="bench", price="10.00", currency="EUR", per_shopper_limit=0)],
    )
    inventory.set_available(sku=sku, available=STOCK)
    inventory.client.set(EPOCH_KEY, "bench", nx=True)
    inventory.client.set(OFFERS_EPOCH_KEY, "bench", nx=True)


def bench_sale_remove(inventory: Inventory, *, sku: str) -> None:
    """Delete the sku's orders (with their outbox rows) and every Redis key it left, and
    vacuum the tables: a run's tens of thousands of deleted rows left as dead tuples slowed
    the next run's inserts (469 vs 553 checkouts/s before and after a VACUUM)."""
    from django.db import connection

    from order_service.orders.models import IdempotencyKey, Order, OrderLine, OutboxMessage

    ids = list(OrderLine.objects.filter(sku=sku).values_list("order_id", flat=True))
    OutboxMessage.objects.filter(order_id__in=ids).delete()
    Order.objects.filter(id__in=ids).delete()
    with connection.cursor() as cursor:
        for model in (Order, OrderLine, OutboxMessage, IdempotencyKey):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
    for key in inventory.client.scan_iter(match=f"inv:{{{sku}}}*", count=1000):
        inventory.client.delete(key)
    inventory.client.delete(offer_key(sku))
    for key in inventory.client.scan_iter(match="inv:res:*", count=1000):
        if inventory.client.hexists(key, sku):
            inventory.client.delete(key)
