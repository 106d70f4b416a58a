"""Admin: orders filtered by status and found by id; the outbox backlog is visible."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from order_service.orders.cart import Shopper
from order_service.orders.models import Order, OutboxMessage
from order_service.orders.services import order_checkout

pytestmark = pytest.mark.django_db


def place(sale, n):
    sku = sale.sku(f"S{n}", stock=10)
    result = order_checkout(
        shopper=Shopper(shopper_id=f"anon:admin-{n}"),
        items={sku: 1},
        idempotency_key=f"k{n}",
        fingerprint="f",
    )
    return Order.objects.get(id=result.order_id)


def test_orders_filter_search_and_backlog(admin_client, sale):
    paid, accepted = place(sale, 1), place(sale, 2)
    Order.objects.filter(id=paid.id).update(status="paid")
    # In a test transaction nothing is published: both messages are the backlog.
    OutboxMessage.objects.filter(order=accepted).update(
        created_at=timezone.now() - timedelta(seconds=90)
    )

    page = admin_client.get("/admin/order/orders/order/", {"status__exact": "paid"})
    assert page.status_code == 200
    assert str(paid.id) in page.content.decode()
    assert str(accepted.id) not in page.content.decode()
    assert "Outbox backlog: 2 unpublished, oldest 90 s old" in page.content.decode()

    found = admin_client.get("/admin/order/orders/order/", {"q": str(accepted.id)}).content
    assert str(accepted.id).encode() in found and str(paid.id).encode() not in found
    nothing = admin_client.get("/admin/order/orders/order/", {"q": "not-a-uuid"})
    assert nothing.status_code == 200
    assert str(paid.id).encode() not in nothing.content

    outbox = admin_client.get("/admin/order/orders/outboxmessage/").content.decode()
    assert "Outbox backlog: 2 unpublished" in outbox
    detail = admin_client.get(f"/admin/order/orders/order/{paid.id}/change/")
    assert detail.status_code == 200


def test_backlog_none(admin_client):
    page = admin_client.get("/admin/order/orders/outboxmessage/").content.decode()
    assert "Outbox backlog: none" in page
    # A missing order: Django's admin redirects to the list with a message.
    missing = admin_client.get(f"/admin/order/orders/order/{uuid.uuid4()}/change/")
    assert missing.status_code == 302
