"""GET /internal/orders/{order_id} and the admin (read-only ledger and payments, restock
action, shipment cancel with a ledger reversal, dead-letter view)."""

from __future__ import annotations

import uuid

import pytest
from fulfillment_support import order_payload, publish_order, reserve, wait_until

from fulfillment_service.fulfillment.models import (
    LedgerTransaction,
    Payment,
    Shipment,
    SimulatedCharge,
    Stock,
)
from fulfillment_service.fulfillment.selectors import ledger_totals
from fulfillment_service.fulfillment.services import order_process

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]


def test_internal_api_answers_payment_shipment_and_ledger_status(client, stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 2}, unit_price="4.00")
    reserve(inventory, payload)
    order_process(payload=payload)

    response = client.get(f"/internal/orders/{payload['order_id']}")

    assert response.status_code == 200
    body = response.json()
    assert body["order_id"] == payload["order_id"]
    assert (body["status"], body["reason"]) == ("fulfilled", "")
    assert body["payment"]["status"] == "captured"
    assert (body["payment"]["amount"], body["payment"]["currency"]) == ("8.00", "EUR")
    assert body["shipment"] == {"status": "pending", "lines": [{"sku": "SKU-A", "quantity": 2}]}
    assert body["ledger"]["status"] == "posted"
    [txn] = body["ledger"]["transactions"]
    assert txn["kind"] == "sale"
    assert sorted((e["account"], e["amount"], e["quantity"]) for e in txn["entries"]) == [
        ("inventory", "0.00", -2),
        ("payments_receivable", "8.00", 0),
        ("sales_revenue", "-8.00", 0),
        ("units_sold", "0.00", 2),
    ]
    assert response["Cache-Control"].startswith("max-age=0")


def test_internal_api_declined_order(client, stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 1}, shopper_id="test-decline-1")
    order_process(payload=payload)
    body = client.get(f"/internal/orders/{payload['order_id']}").json()
    assert (body["status"], body["reason"]) == ("failed", "payment_declined")
    assert body["payment"]["status"] == "declined"
    assert body["shipment"] is None
    assert body["ledger"] == {"status": "none", "transactions": []}


def test_internal_api_errors_have_stable_codes(client):
    missing = client.get(f"/internal/orders/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["code"]) == (404, "order_not_found")
    bad = client.get("/internal/orders/not-a-uuid")
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_order_id")
    post = client.post(f"/internal/orders/{uuid.uuid4()}")
    assert post.status_code == 405


def test_admin_ledger_and_payments_are_read_only(admin_client, stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 1})
    order_process(payload=payload)
    txn = LedgerTransaction.objects.get()
    payment = Payment.objects.get()
    for url in [
        "/admin/fulfillment/fulfillment/ledgertransaction/",
        f"/admin/fulfillment/fulfillment/ledgertransaction/{txn.pk}/change/",
        "/admin/fulfillment/fulfillment/payment/",
        "/admin/fulfillment/fulfillment/shipment/",
        "/admin/fulfillment/fulfillment/stock/",
        "/admin/fulfillment/fulfillment/ledgerentry/",
    ]:
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/fulfillment/fulfillment/payment/add/").status_code == 403
    change = admin_client.post(
        f"/admin/fulfillment/fulfillment/payment/{payment.pk}/change/", {"status": "refunded"}
    )
    assert change.status_code == 403
    delete = admin_client.post(
        f"/admin/fulfillment/fulfillment/ledgertransaction/{txn.pk}/delete/", {"post": "yes"}
    )
    assert delete.status_code == 403
    assert Payment.objects.get().status == "captured"
    assert LedgerTransaction.objects.count() == 1


def test_admin_restock_action_updates_postgresql_and_redis(admin_client, stock, inventory):
    stock(**{"SKU-A": 10, "SKU-B": 1})
    url = "/admin/fulfillment/fulfillment/stock/"
    form = admin_client.post(url, {"action": "restock", "_selected_action": ["SKU-A"]})
    assert form.status_code == 200
    assert b"Receive units for: SKU-A" in form.content
    done = admin_client.post(
        url,
        {"action": "restock", "_selected_action": ["SKU-A"], "apply": "1", "quantity": "7"},
        follow=True,
    )
    assert b"SKU-A: +7; on hand 17, available 17" in done.content
    assert Stock.objects.get(sku="SKU-A").on_hand == 17
    assert inventory.availability_many(["SKU-A", "SKU-B"]) == {"SKU-A": 17, "SKU-B": 1}


def test_admin_cancel_reverses_the_ledger_refunds_and_restocks(admin_client, stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 3})
    reserve(inventory, payload)
    order_process(payload=payload)
    shipment = Shipment.objects.get()

    admin_client.post(
        "/admin/fulfillment/fulfillment/shipment/",
        {"action": "cancel_orders", "_selected_action": [str(shipment.pk)]},
    )

    assert Shipment.objects.get().status == "cancelled"
    assert sorted(LedgerTransaction.objects.values_list("kind", flat=True)) == ["reversal", "sale"]
    assert ledger_totals() == {"amount": 0, "quantity": 0}
    assert Payment.objects.get().status == "refunded"
    assert SimulatedCharge.objects.get().refunded is True
    assert Stock.objects.get(sku="SKU-A").on_hand == 10
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 10}
    from fulfillment_service.fulfillment.invariants import stock_invariant_check

    report = stock_invariant_check(inventory=inventory)
    assert (report.drifting, report.ledger_mismatch) == ([], [])
    # A second cancel does nothing (the shipment is no longer pending).
    admin_client.post(
        "/admin/fulfillment/fulfillment/shipment/",
        {"action": "cancel_orders", "_selected_action": [str(shipment.pk)]},
    )
    assert LedgerTransaction.objects.count() == 2


def test_admin_dead_letter_view_lists_and_replays(admin_client, workers):
    workers()
    bad = {"type": "order.accepted", "version": 9}
    task_id = publish_order(bad)
    url = "/admin/fulfillment/dead-letters/"
    wait_until(
        lambda: task_id.encode() in admin_client.get(url).content,
        timeout=60,
        what="the dead letter in the admin view",
    )
    page = admin_client.get(url)
    assert b"1 message(s) in the dead-letter queue" in page.content
    assert b"rejected" in page.content
    replay = admin_client.post(url, {"task_id": task_id}, follow=True)
    assert b"1 dead letter(s) replayed." in replay.content


def test_dead_letter_view_requires_staff(client):
    response = client.get("/admin/fulfillment/dead-letters/")
    assert response.status_code == 302
    assert "/admin/fulfillment/login/" in response["Location"]
