"""Domain errors of the order service, each with a stable machine-readable ``code``.

The API turns them into ``{"code", "message", "detail"}`` with ``http_status`` (see
order_service/api/errors.py). Raising one means nothing was reserved and nothing written.
"""

from __future__ import annotations

from typing import Any


class OrderError(Exception):
    code = "ORDER_ERROR"
    http_status = 400
    message = "The request cannot be processed."

    def __init__(self, message: str | None = None, **detail: Any):
        self.message = message or self.message
        self.detail = detail
        super().__init__(self.message)


class UnknownSku(OrderError):
    code = "UNKNOWN_SKU"
    http_status = 422
    message = "No such product."


class SaleNotActive(OrderError):
    code = "SALE_NOT_ACTIVE"
    http_status = 409
    message = "This product is not on sale right now."


class InvalidQuantity(OrderError):
    code = "INVALID_QUANTITY"
    http_status = 422
    message = "Quantity must be a whole number of at least 1."


class LimitExceeded(OrderError):
    code = "LIMIT_EXCEEDED"
    http_status = 422
    message = "That is more than one shopper may buy of this product."


class CartFull(OrderError):
    code = "CART_FULL"
    http_status = 422
    message = "The cart holds too many different products."


class NotInCart(OrderError):
    code = "NOT_IN_CART"
    http_status = 404
    message = "This product is not in the cart."


class CartEmpty(OrderError):
    code = "CART_EMPTY"
    http_status = 422
    message = "The cart is empty."


class MixedCurrency(OrderError):
    code = "MIXED_CURRENCY"
    http_status = 422
    message = "All products of one order must be priced in one currency."


class SoldOut(OrderError):
    code = "SOLD_OUT"
    http_status = 409
    message = "Sold out."


class StockUnavailable(OrderError):
    """Availability of a sku is unknown (its Redis counter is being rebuilt): try again."""

    code = "STOCK_UNAVAILABLE"
    http_status = 503
    message = "Availability is being refreshed; please retry shortly."
    retry_after = 5


class SalePaused(OrderError):
    """Redis came back empty and availability is not rebuilt yet (no ``inv:epoch``, or the
    catalog has not republished its offers): nothing is sold until it is (ADR 0088)."""

    code = "SALE_PAUSED"
    http_status = 503
    message = "Sales are paused for a few seconds while availability is rebuilt; please retry."
    retry_after = 1


class IdempotencyKeyRequired(OrderError):
    code = "IDEMPOTENCY_KEY_REQUIRED"
    http_status = 400
    message = "The Idempotency-Key header is required."


class IdempotencyKeyInvalid(OrderError):
    code = "IDEMPOTENCY_KEY_INVALID"
    http_status = 400
    message = "The Idempotency-Key must be 1-255 printable ASCII characters."


class IdempotencyKeyReused(OrderError):
    code = "IDEMPOTENCY_KEY_REUSED"
    http_status = 422
    message = "This Idempotency-Key was already used with a different request."


class IdempotencyKeyInUse(OrderError):
    code = "IDEMPOTENCY_KEY_IN_USE"
    http_status = 409
    message = "A request with this Idempotency-Key is still being processed; retry shortly."
    retry_after = 1


class OrderNotFound(OrderError):
    code = "ORDER_NOT_FOUND"
    http_status = 404
    message = "No such order."
