"""Request and response shapes of the order API (validation of shape only; rules live in
order_service.orders)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers


class CartItemCreateSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    # Range and limits are business rules (INVALID_QUANTITY, LIMIT_EXCEEDED), checked in
    # the service; here only "a whole number of sane size".
    quantity = serializers.IntegerField(min_value=-(10**6), max_value=10**6, default=1)


class CartItemUpdateSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=-(10**6), max_value=10**6)


class CheckoutItemSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64)
    quantity = serializers.IntegerField(min_value=-(10**6), max_value=10**6)


class CheckoutSerializer(serializers.Serializer):
    """Empty body: check out the session's cart. With ``items``: buy these instead."""

    # many=True hands max_length to the ListSerializer; the stubs do not model that.
    items = CheckoutItemSerializer(many=True, required=False, max_length=50)  # type: ignore[call-arg]

    def validate_items(self, items):
        skus = [item["sku"] for item in items]
        if len(set(skus)) != len(skus):
            raise serializers.ValidationError("each sku may appear once")
        if len(items) > settings.CART_MAX_LINES:
            raise serializers.ValidationError(f"at most {settings.CART_MAX_LINES} items")
        return items


_QUANTITY_BOUND = 10**6  # CheckoutItemSerializer's min_value / max_value
_SKU_MAX = 64


def _plain_sku(value: object) -> bool:
    # What CharField(max_length=64) keeps as it is: printable ASCII, no surrounding space.
    return (
        type(value) is str
        and 0 < len(value) <= _SKU_MAX
        and value.isascii()
        and value.isprintable()
        and value.strip() == value
    )


def _plain_quantity(value: object) -> bool:
    return type(value) is int and -_QUANTITY_BOUND <= value <= _QUANTITY_BOUND


def checkout_data(body: object) -> dict | None:
    """``CheckoutSerializer(data=body).validated_data`` for a plain body, read without
    building the serializer (its fields are deep-copied per instance: 0.2 ms, a tenth of a
    checkout's CPU; ADR 0112); None for any other body, which the serializer then
    validates and words the error for. Plain: ``{}``, or ``{"items": [...]}`` with 1 to
    50 (and CART_MAX_LINES) items, each a ``{"sku", "quantity"}`` object whose sku is
    printable ASCII the serializer would keep unchanged and whose quantity is an int in
    range, skus distinct. tests/order/test_checkout_body.py holds the two to the same
    answers."""
    if type(body) is not dict:
        return None
    if not body:
        return {}
    items = body.get("items")
    if len(body) != 1 or type(items) is not list:
        return None
    if not 0 < len(items) <= min(50, settings.CART_MAX_LINES):
        return None
    read = []
    for item in items:
        if type(item) is not dict or len(item) != 2:
            return None
        sku, quantity = item.get("sku"), item.get("quantity")
        if not (_plain_sku(sku) and _plain_quantity(quantity)):
            return None
        read.append({"sku": sku, "quantity": quantity})
    if len({item["sku"] for item in read}) != len(read):
        return None
    return {"items": read}


class CartLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField(allow_null=True)
    currency = serializers.CharField(allow_null=True)
    line_total = serializers.CharField(allow_null=True)
    available = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(
        allow_null=True, help_text="a line that cannot be bought now: its error code"
    )
    per_shopper_limit = serializers.IntegerField(
        allow_null=True, help_text="units one shopper may buy in the sale; 0: no limit"
    )


class CartSerializer(serializers.Serializer):
    lines = CartLineSerializer(many=True)
    total = serializers.CharField()
    currency = serializers.CharField(allow_null=True)


class CheckoutAcceptedSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    status = serializers.CharField()
    status_url = serializers.CharField()


class OrderLineSerializer(serializers.Serializer):
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()


class OrderSerializer(serializers.Serializer):
    order_id = serializers.UUIDField(source="id")
    status = serializers.CharField()
    reason = serializers.SerializerMethodField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    lines = OrderLineSerializer(many=True)

    def get_reason(self, order) -> str | None:
        return order.failure_reason or None


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="stable machine-readable code, e.g. SOLD_OUT")
    message = serializers.CharField()
    detail = serializers.DictField()
