"""Request and response shapes of the account API (/api/account/; rules live in
order_service.accounts)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from order_service.accounts.models import email_normalize

# Hashing a very long password is costly work an anonymous client could ask for at will.
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = 254  # ShopperAccount.email


class SignupSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    password = serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, style={"input_type": "password"}
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")

    def validate_email(self, value: str) -> str:
        return _email_normalized(value)


class SigninSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=EMAIL_MAX_LENGTH)
    password = serializers.CharField(
        max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False, style={"input_type": "password"}
    )

    def validate_email(self, value: str) -> str:
        # Also what django-axes stores as the username of a failure (a 255-character column).
        return _email_normalized(value)


def _email_normalized(value: str) -> str:
    email = email_normalize(value)
    if len(email) > EMAIL_MAX_LENGTH:  # lower() can lengthen a string ("İ": 2 characters)
        raise serializers.ValidationError(f"at most {EMAIL_MAX_LENGTH} characters")
    return email


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
