"""Request and response shapes of the account API (/api/account/; rules live in
order_service.accounts)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

# Hashing a very long password is costly work an anonymous client could ask for at will.
PASSWORD_MAX_LENGTH = 128


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, style={"input_type": "password"}
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class SigninSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, style={"input_type": "password"}
    )


class AccountSerializer(serializers.Serializer):
    signed_in = serializers.BooleanField()
    email = serializers.EmailField(required=False, help_text="when signed in")
    name = serializers.CharField(required=False, help_text="when signed in")


class AccountOrderSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    total = serializers.DecimalField(max_digits=12, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    created_at = serializers.DateTimeField()
    status_url = serializers.SerializerMethodField()

    def get_status_url(self, order) -> str:
        return reverse("api:order-detail", kwargs={"order_id": str(order.id)})


class AccountOrdersSerializer(serializers.Serializer):
    orders = AccountOrderSerializer(many=True)
