"""Orders, their lines, outbox messages and idempotency keys cannot be added, changed or
deleted from the admin, by anyone (a superuser neither): they are records checkout writes.
The roles of the order admin (ADR 0067) can view orders and nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from order_service.orders.cart import Shopper
from order_service.orders.models import IdempotencyKey, Order, OutboxMessage
from order_service.orders.services import order_checkout

pytestmark = pytest.mark.django_db

ADMIN = "/admin/order/orders"


@pytest.fixture
def order(sale):
    sku = sale.sku("RO", stock=10)
    result = order_checkout(
        shopper=Shopper(shopper_id="anon:read-only"),
        items={sku: 1},
        idempotency_key="read-only-1",
        fingerprint="f",
    )
    return Order.objects.get(id=result.order_id)


def test_superuser_can_view_but_not_change_delete_or_add(admin_client, order):
    outbox = OutboxMessage.objects.get(order=order)
    key = IdempotencyKey.objects.get(key="read-only-1")
    for model, pk in (
        ("order", order.pk),
        ("outboxmessage", outbox.pk),
        ("idempotencykey", key.pk),
    ):
        listing = admin_client.get(f"{ADMIN}/{model}/")
        assert listing.status_code == 200
        assert 'value="delete_selected"' not in listing.content.decode()
        view = admin_client.get(f"{ADMIN}/{model}/{pk}/change/")
        assert view.status_code == 200
        assert 'name="_save"' not in view.content.decode()  # a view, not a form
        assert admin_client.post(f"{ADMIN}/{model}/{pk}/change/", {}).status_code == 403
        assert admin_client.get(f"{ADMIN}/{model}/{pk}/delete/").status_code == 403
        assert (
            admin_client.post(f"{ADMIN}/{model}/{pk}/delete/", {"post": "yes"}).status_code == 403
        )
        assert admin_client.get(f"{ADMIN}/{model}/add/").status_code == 403
    bulk = admin_client.post(
        f"{ADMIN}/order/",
        {"action": "delete_selected", "_selected_action": [order.pk], "post": "yes"},
    )
    assert bulk.status_code == 200
    assert Order.objects.filter(pk=order.pk).exists()
    assert OutboxMessage.objects.filter(pk=outbox.pk).exists()
    assert IdempotencyKey.objects.filter(pk=key.pk).exists()


@pytest.mark.parametrize("role", ["sale manager", "finance"])
def test_roles_view_orders_only(staff_client, order, role):
    call_command("ensure_roles", verbosity=0)
    user = User.objects.create_user(username="r", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    staff_client.force_login(user)
    assert staff_client.get(f"{ADMIN}/order/").status_code == 200
    assert staff_client.get(f"{ADMIN}/order/{order.pk}/change/").status_code == 200
    assert staff_client.get(f"{ADMIN}/outboxmessage/").status_code == 403
    assert staff_client.get(f"{ADMIN}/idempotencykey/").status_code == 403
    assert staff_client.get("/admin/order/auth/user/").status_code == 403
