"""Orders: carts, checkout, idempotency keys, the outbox and order status (docs/order.md)."""
