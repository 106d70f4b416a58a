"""The order API as tests call it through Django's test client."""

from __future__ import annotations


def checkout_one(client, sku: str, key: str, quantity: int = 1):
    """``POST /api/orders`` for ``quantity`` units of one sku, with an Idempotency-Key."""
    return client.post(
        "/api/orders",
        {"items": [{"sku": sku, "quantity": quantity}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
