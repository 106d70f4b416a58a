"""Checkout through the API (Django test client, real Redis, PostgreSQL and RabbitMQ).

Each refusal: a 4xx with a stable code, nothing reserved (Redis unchanged, no reservation
hash), nothing written (no order, no outbox row, no idempotency key).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from order_service.orders.models import IdempotencyKey, Order, OrderLine, OutboxMessage
from order_service.orders.outbox import outbox_relay_batch
from shared import messages

pytestmark = pytest.mark.django_db


def add(client, sku, quantity=1):
    r = client.post(
        "/api/cart/items", {"sku": sku, "quantity": quantity}, content_type="application/json"
    )
    assert r.status_code == 201, r.content
    return r


def checkout(client, body=None, key="key-1", **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    data = "" if body is None else body
    return client.post("/api/orders", data, content_type="application/json", **headers)


def assert_nothing_written(sale, skus_stock):
    assert Order.objects.count() == 0
    assert OutboxMessage.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0
    assert sale.reservations() == []
    for sku, stock in skus_stock.items():
        assert sale.available(sku) == stock


def test_checkout_accepts_and_hands_off(
    client, sale, fulfillment_queue, django_capture_on_commit_callbacks
):
    a = sale.sku("A", stock=10, limit=3, sale_price="9.99")
    b = sale.sku("B", stock=5, window=None, price="20.00")
    add(client, a, 2)
    add(client, b, 1)

    with django_capture_on_commit_callbacks(execute=True):
        r = checkout(client)
    assert r.status_code == 202
    body = r.json()
    order_id = body["order_id"]
    assert body == {
        "order_id": order_id,
        "status": "accepted",
        "status_url": f"/api/orders/{order_id}",
    }
    assert r["Location"] == body["status_url"]

    # Reserved in Redis under the order id; written in PostgreSQL; the cart is emptied.
    assert (sale.available(a), sale.available(b)) == (8, 4)
    assert sale.inventory.reservation(order_id) == {a: 2, b: 1}
    order = Order.objects.get(id=order_id)
    assert (order.status, str(order.total), order.currency) == ("accepted", "39.98", "EUR")
    assert list(OrderLine.objects.filter(order=order).values_list("sku", "quantity")) == [
        (a, 2),
        (b, 1),
    ]
    assert client.get("/api/cart").json()["lines"] == []

    # Written with the order; the request does not publish: the relay (the only publisher,
    # woken after the commit) does, confirmed, and marks it. The OrderAccepted contract.
    message = OutboxMessage.objects.get(order=order)
    assert message.published_at is None
    assert fulfillment_queue.count() == 0
    assert outbox_relay_batch(limit=10).published == 1
    message.refresh_from_db()
    assert message.published_at is not None
    delivered = fulfillment_queue.drain()
    assert [(m["task"], m["id"]) for m in delivered] == [
        (messages.PROCESS_ORDER_TASK, str(message.id))
    ]
    assert delivered[0]["delivery_mode"] == 2  # persistent
    accepted = messages.OrderAccepted.from_dict(delivered[0]["payload"])
    assert accepted.order_id == order_id
    assert accepted.total == "39.98"
    assert [(line.sku, line.quantity, line.unit_price) for line in accepted.lines] == [
        (a, 2, "9.99"),
        (b, 1, "20.00"),
    ]

    # The shopper who placed it can read its status.
    r = client.get(body["status_url"])
    assert r.status_code == 200
    assert r.json()["status"] == "accepted"
    assert r.json()["reason"] is None
    assert r.json()["lines"] == [
        {"sku": a, "quantity": 2, "unit_price": "9.99", "currency": "EUR"},
        {"sku": b, "quantity": 1, "unit_price": "20.00", "currency": "EUR"},
    ]


def test_checkout_with_items_in_the_body(client, sale):
    a = sale.sku("A", stock=3)
    r = checkout(client, {"items": [{"sku": a, "quantity": 3}]})
    assert r.status_code == 202
    assert sale.available(a) == 0
    assert Order.objects.get().lines.get().quantity == 3


@pytest.mark.parametrize(
    ("setup", "body", "headers", "status", "code"),
    [
        ("cart:A:1", None, {"key": None}, 400, "IDEMPOTENCY_KEY_REQUIRED"),
        ("cart:A:1", None, {"key": "has space"}, 400, "IDEMPOTENCY_KEY_INVALID"),
        ("cart:A:1", None, {"key": "x" * 256}, 400, "IDEMPOTENCY_KEY_INVALID"),
        ("", None, {}, 422, "CART_EMPTY"),
        ("", {"items": []}, {}, 422, "CART_EMPTY"),
        ("", '{"items": [', {}, 400, "MALFORMED_JSON"),
        ("", "[1, 2]", {}, 400, "VALIDATION_ERROR"),
        ("", {"items": [{"sku": "NOPE", "quantity": 1}]}, {}, 422, "UNKNOWN_SKU"),
        ("", {"items": [{"sku": "{A}", "quantity": 0}]}, {}, 422, "INVALID_QUANTITY"),
        ("", {"items": [{"sku": "{A}", "quantity": -1}]}, {}, 422, "INVALID_QUANTITY"),
        ("", {"items": [{"sku": "{A}", "quantity": 3}]}, {}, 422, "LIMIT_EXCEEDED"),
        ("", {"items": [{"sku": "{FUTURE}", "quantity": 1}]}, {}, 409, "SALE_NOT_ACTIVE"),
        ("", {"items": [{"sku": "{PAST}", "quantity": 1}]}, {}, 409, "SALE_NOT_ACTIVE"),
        ("", {"items": [{"sku": "{SOLDOUT}", "quantity": 1}]}, {}, 409, "SOLD_OUT"),
        ("", {"items": [{"sku": "{UNKNOWN}", "quantity": 1}]}, {}, 503, "STOCK_UNAVAILABLE"),
        ("", {"items": [{"sku": "{USD}", "quantity": 1}, {"sku": "{A}", "quantity": 1}]}, {},
         422, "MIXED_CURRENCY"),
        ("", {"items": [{"sku": "{A}", "quantity": 1}, {"sku": "{A}", "quantity": 1}]}, {},
         400, "VALIDATION_ERROR"),
    ],
)  # fmt: skip
def test_bad_checkout_input(client, sale, setup, body, headers, status, code):
    skus = {
        "{A}": sale.sku("A", stock=10, limit=2),
        "{FUTURE}": sale.sku("F", window="future"),
        "{PAST}": sale.sku("P", window="past"),
        "{SOLDOUT}": sale.sku("S", stock=0),
        "{UNKNOWN}": sale.sku("U", stock=None),  # the counter is missing: availability unknown
        "{USD}": sale.sku("D", currency="USD"),
    }
    stock = {skus[k]: sale.available(skus[k]) for k in ("{A}", "{SOLDOUT}", "{USD}")}
    if setup.startswith("cart:"):
        add(client, skus["{A}"], 1)
    if isinstance(body, dict):
        for item in body.get("items", []):
            item["sku"] = skus.get(item["sku"], item["sku"])
    r = checkout(client, body, **headers)
    assert r.status_code == status, r.content
    assert r.json()["code"] == code
    assert set(r.json()) == {"code", "message", "detail"}
    assert_nothing_written(sale, stock)
    if status == 503:
        assert r["Retry-After"] == "5"


def test_multi_line_order_that_cannot_get_every_line_reserves_none(client, sale):
    a = sale.sku("A", stock=10)
    b = sale.sku("B", stock=10)
    c = sale.sku("C", stock=1)
    items = [{"sku": sku, "quantity": 2} for sku in (a, b, c)]
    r = checkout(client, {"items": items})
    assert (r.status_code, r.json()["code"], r.json()["detail"]) == (409, "SOLD_OUT", {"sku": c})
    assert_nothing_written(sale, {a: 10, b: 10, c: 1})


def test_per_shopper_limit_spans_orders(client, sale):
    a = sale.sku("A", stock=10, limit=2)
    assert checkout(client, {"items": [{"sku": a, "quantity": 2}]}, key="k1").status_code == 202
    r = checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="k2")
    assert (r.status_code, r.json()["code"], r.json()["detail"]) == (
        422,
        "LIMIT_EXCEEDED",
        {"sku": a, "limit": 2},
    )
    assert sale.available(a) == 8
    assert Order.objects.count() == 1
    # Another shopper is not affected.
    assert checkout(Client(), {"items": [{"sku": a, "quantity": 2}]}).status_code == 202


def test_same_key_same_body_replays_without_a_second_reservation(client, sale):
    a = sale.sku("A", stock=10)
    body = {"items": [{"sku": a, "quantity": 1}]}
    first = checkout(client, body, key="retry-me")
    again = checkout(client, {"items": [{"quantity": 1, "sku": a}]}, key="retry-me")
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert sale.available(a) == 9
    assert Order.objects.count() == 1
    assert len(sale.reservations()) == 1


def test_same_key_replays_a_cart_checkout_after_the_cart_was_emptied(client, sale):
    a = sale.sku("A", stock=10)
    add(client, a, 2)
    first = checkout(client, key="cart-key")
    assert client.get("/api/cart").json()["lines"] == []
    again = checkout(client, key="cart-key")  # a retry after a lost response
    assert (again.status_code, again.json()) == (202, first.json())
    assert sale.available(a) == 8


def test_same_key_other_body_is_refused(client, sale):
    a = sale.sku("A", stock=10)
    assert checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="k").status_code == 202
    r = checkout(client, {"items": [{"sku": a, "quantity": 2}]}, key="k")
    assert (r.status_code, r.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert sale.available(a) == 9
    assert Order.objects.count() == 1


def test_keys_are_per_shopper(client, sale):
    a = sale.sku("A", stock=10)
    body = {"items": [{"sku": a, "quantity": 1}]}
    assert checkout(client, body, key="same").status_code == 202
    other = checkout(Client(), body, key="same")
    assert other.status_code == 202
    assert "Idempotent-Replayed" not in other
    assert Order.objects.count() == 2


def test_a_refused_checkout_leaves_the_key_free(client, sale):
    a = sale.sku("A", stock=0)
    body = {"items": [{"sku": a, "quantity": 1}]}
    assert checkout(client, body, key="k").json()["code"] == "SOLD_OUT"
    sale.inventory.restock(sku=a, quantity=1)
    assert checkout(client, body, key="k").status_code == 202


def test_expired_keys_are_forgotten_and_cleaned_up(client, sale, settings):
    a = sale.sku("A", stock=10)
    body = {"items": [{"sku": a, "quantity": 1}]}
    first = checkout(client, body, key="old")
    assert IdempotencyKey.objects.get().expires_at - IdempotencyKey.objects.get().created_at == (
        timedelta(hours=24)
    )
    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    second = checkout(client, body, key="old")  # expired: a new purchase
    assert second.status_code == 202
    assert second.json()["order_id"] != first.json()["order_id"]
    assert IdempotencyKey.objects.count() == 1

    IdempotencyKey.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    call_command("idempotency_cleanup")
    assert IdempotencyKey.objects.count() == 0
    assert Order.objects.count() == 2  # orders are kept, only the remembered answers go


def test_a_key_in_flight_is_refused_not_reserved_twice(client, sale, redis_client):
    from order_service.orders.cart import Shopper
    from order_service.orders.services import idempotency_guard

    a = sale.sku("A", stock=10)
    checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="first")
    shopper_id = client.session["shopper_id"]
    guard = idempotency_guard(shopper=Shopper(shopper_id=shopper_id), key="busy")
    # Another request of this shopper with this key is running: it holds the lock.
    assert redis_client.set(guard.lock_key, "the-other-request", nx=True, ex=30)
    r = checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="busy")
    assert (r.status_code, r.json()["code"], r["Retry-After"]) == (
        409,
        "IDEMPOTENCY_KEY_IN_USE",
        "1",
    )
    assert sale.available(a) == 9
    assert len(sale.reservations()) == 1
    # The refusal left the other request's lock alone; once it is gone the key works.
    assert redis_client.get(guard.lock_key) == "the-other-request"
    redis_client.delete(guard.lock_key)
    r = checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="busy")
    assert r.status_code == 202
    assert redis_client.get(guard.lock_key) is None
    assert sale.available(a) == 8


def test_failure_to_record_releases_the_reservation(client, sale, monkeypatch):
    """A database error after the reservation gives the units back (nothing half-written)."""
    from django.db import DatabaseError

    from order_service.orders import services

    a = sale.sku("A", stock=10, limit=5)

    def broken_insert(**kwargs):
        raise DatabaseError("disk full")

    # The failure is injected into our own write step, not into PostgreSQL's client.
    monkeypatch.setattr(services, "_order_insert", broken_insert)
    with pytest.raises(DatabaseError):
        checkout(client, {"items": [{"sku": a, "quantity": 3}]})
    assert_nothing_written(sale, {a: 10})
    # The per-shopper counter was given back too: the whole limit is still available.
    monkeypatch.undo()
    assert checkout(client, {"items": [{"sku": a, "quantity": 5}]}).status_code == 202


def test_only_the_shopper_who_placed_it_reads_an_order(client, sale, django_user_model):
    a = sale.sku("A", stock=10)
    order_id = checkout(client, {"items": [{"sku": a, "quantity": 1}]}).json()["order_id"]
    assert client.get(f"/api/orders/{order_id}").status_code == 200

    stranger = Client()
    r = stranger.get(f"/api/orders/{order_id}")
    assert (r.status_code, r.json()["code"]) == (404, "ORDER_NOT_FOUND")
    stranger.post("/api/cart/items", {"sku": a, "quantity": 1}, content_type="application/json")
    assert stranger.get(f"/api/orders/{order_id}").status_code == 404
    assert client.get(f"/api/orders/{uuid.uuid4()}").status_code == 404
    assert client.get("/api/orders/not-a-uuid").json()["code"] == "ORDER_NOT_FOUND"


def test_a_signed_in_customer_reads_their_orders_from_any_session(sale):
    # Customers are shopper accounts signed in through /api/account/ (ADR 0108).
    a = sale.sku("A", stock=10)
    account = {"email": "alice@example.com", "password": "pw-alice-1-long"}
    first = Client()
    signup = first.post("/api/account/signup", account, content_type="application/json")
    assert signup.status_code == 201, signup.content
    order_id = checkout(first, {"items": [{"sku": a, "quantity": 1}]}).json()["order_id"]
    account_id = first.session["account_id"]
    assert Order.objects.get(id=order_id).customer_id == account_id
    second = Client()
    second.post("/api/account/signin", account, content_type="application/json")
    assert second.get(f"/api/orders/{order_id}").json()["order_id"] == order_id
