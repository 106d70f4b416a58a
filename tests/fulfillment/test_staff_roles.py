"""Staff roles (ADR 0067), made by `manage.py fulfillment ensure_roles` (bin/platform setup):
"sale manager" restocks and has no ledger or payment access; "finance" reads the ledger and
payments and changes nothing. The admin index links the dead-letter view."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command

from fulfillment_service.fulfillment.models import LedgerTransaction, Payment, Stock

pytestmark = pytest.mark.django_db

ADMIN = "/admin/fulfillment/fulfillment"


def codes(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}


def staff(client, role: str) -> User:
    call_command("ensure_roles", verbosity=0)
    user = User.objects.create_user(username=role.replace(" ", "-"), password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def test_ensure_roles_is_idempotent_and_exact(settings):
    call_command("ensure_roles", verbosity=0)
    call_command("ensure_roles", verbosity=0)
    assert set(Group.objects.values_list("name", flat=True)) == {"sale manager", "finance"}
    manager, finance = Group.objects.get(name="sale manager"), Group.objects.get(name="finance")
    assert codes(manager) == set(settings.STAFF_ROLES["sale manager"])
    assert codes(finance) == {
        "fulfillment.view_ledgertransaction",
        "fulfillment.view_ledgerentry",
        "fulfillment.view_payment",
    }
    assert not any("ledger" in c or "payment" in c for c in codes(manager))
    # A permission added by hand is taken away again: the settings are the truth.
    manager.permissions.add(Permission.objects.get(codename="view_payment"))
    call_command("ensure_roles", verbosity=0)
    assert codes(manager) == set(settings.STAFF_ROLES["sale manager"])


def test_ensure_roles_refuses_an_unknown_permission(settings):
    from django.core.management.base import CommandError

    settings.STAFF_ROLES = {"x": ["fulfillment.view_nothing"]}
    with pytest.raises(CommandError, match=re.escape("fulfillment.view_nothing")):
        call_command("ensure_roles", verbosity=0)


def test_sale_manager_restocks_and_cannot_see_ledger_or_payments(staff_client, inventory):
    staff(staff_client, "sale manager")
    Stock.objects.create(sku="ROLE-A", on_hand=5, received=5)
    inventory.set_available(sku="ROLE-A", available=5)
    assert staff_client.get(f"{ADMIN}/stock/").status_code == 200
    done = staff_client.post(
        f"{ADMIN}/stock/",
        {"action": "restock", "_selected_action": ["ROLE-A"], "apply": "1", "quantity": "7"},
        follow=True,
    )
    assert done.status_code == 200
    assert Stock.objects.get(sku="ROLE-A").on_hand == 12
    assert inventory.availability_many(["ROLE-A"]) == {"ROLE-A": 12}
    for model in ("ledgertransaction", "ledgerentry", "payment"):
        assert staff_client.get(f"{ADMIN}/{model}/").status_code == 403, model
    index = staff_client.get("/admin/fulfillment/").content.decode()
    assert "Ledger" not in index and "Payments" not in index


def test_finance_reads_ledger_and_payments_and_cannot_restock(staff_client, inventory):
    staff(staff_client, "finance")
    for model in ("ledgertransaction", "ledgerentry", "payment"):
        assert staff_client.get(f"{ADMIN}/{model}/").status_code == 200, model
    assert staff_client.get(f"{ADMIN}/stock/").status_code == 403
    Stock.objects.create(sku="ROLE-B", on_hand=5, received=5)
    refused = staff_client.post(
        f"{ADMIN}/stock/",
        {"action": "restock", "_selected_action": ["ROLE-B"], "apply": "1", "quantity": "7"},
    )
    assert refused.status_code == 403
    assert Stock.objects.get(sku="ROLE-B").on_hand == 5
    assert staff_client.get(f"{ADMIN}/payment/add/").status_code == 403
    assert LedgerTransaction.objects.count() == 0 and Payment.objects.count() == 0


def test_view_only_stock_has_no_restock_action(staff_client, inventory):
    user = User.objects.create_user(username="viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_stock"))
    staff_client.force_login(user)
    Stock.objects.create(sku="ROLE-C", on_hand=5, received=5)
    page = staff_client.get(f"{ADMIN}/stock/").content.decode()
    assert 'value="restock"' not in page
    staff_client.post(
        f"{ADMIN}/stock/",
        {"action": "restock", "_selected_action": ["ROLE-C"], "apply": "1", "quantity": "7"},
    )
    assert Stock.objects.get(sku="ROLE-C").on_hand == 5


def test_admin_index_links_the_dead_letters(admin_client):
    index = admin_client.get("/admin/fulfillment/").content.decode()
    assert '<a href="/admin/fulfillment/dead-letters/">Dead letters</a>' in index
