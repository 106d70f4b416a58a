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
