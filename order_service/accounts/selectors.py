"""Reads of shopper accounts: the session's account and its orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from order_service.accounts.models import ShopperAccount
from order_service.orders.cart import ACCOUNT_KEY
from order_service.orders.models import Order


def account_from_session(*, session: Mapping[str, Any]) -> ShopperAccount | None:
    """The account this session is signed in to, or None (a guest, or an account gone)."""
    account_id = session.get(ACCOUNT_KEY)
    if not isinstance(account_id, int) or isinstance(account_id, bool):
        return None
    return ShopperAccount.objects.filter(pk=account_id, is_active=True).first()


def account_orders(*, account: ShopperAccount) -> list[Order]:
    """The account's orders, newest first: every order placed while signed in to it (they
    carry ``customer_id``), from any session or device; at most ACCOUNT_ORDERS_MAX."""
    return list(
        Order.objects.filter(customer_id=account.pk).order_by("-created_at", "-id")[
            : settings.ACCOUNT_ORDERS_MAX
        ]
    )
