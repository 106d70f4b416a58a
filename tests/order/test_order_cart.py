"""Cart API: kept in the Redis session; bad input gets a stable code and changes nothing."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from order_service.orders.models import Order

pytestmark = pytest.mark.django_db


def add(client, sku, quantity=1):
    return client.post(
        "/api/cart/items", {"sku": sku, "quantity": quantity}, content_type="application/json"
    )


def test_add_get_patch_delete(client, sale):
    a = sale.sku("A", stock=7, limit=3, sale_price="9.99")
    b = sale.sku("B", window=None, price="20.00")

    r = add(client, a, 1)
    assert r.status_code == 201
    assert r.json()["lines"] == [
        {
            "sku": a,
            "name": "Product A",
            "quantity": 1,
            "unit_price": "9.99",
            "currency": "EUR",
            "line_total": "9.99",
            "available": 7,
            "problem": None,
            "per_shopper_limit": 3,
        }
    ]
    assert add(client, a, 1).json()["lines"][0]["quantity"] == 2  # added to what is there
    assert add(client, b, 2).status_code == 201

    cart = client.get("/api/cart").json()
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [(a, 2), (b, 2)]
    assert cart["total"] == "59.98"  # 2 x 9.99 (sale price) + 2 x 20.00 (regular)
    assert cart["currency"] == "EUR"

    r = client.patch(f"/api/cart/items/{a}", {"quantity": 3}, content_type="application/json")
    assert r.status_code == 200
    assert r.json()["lines"][0]["quantity"] == 3

    r = client.delete(f"/api/cart/items/{b}")
    assert r.status_code == 200
    assert [line["sku"] for line in r.json()["lines"]] == [a]
    # Browsing the cart reserves nothing.
    assert sale.available(a) == 7


def test_cart_lives_in_the_shared_redis_session(client, sale, redis_client):
    a = sale.sku("A")
    add(client, a, 2)
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    # Any other client presenting the cookie (any instance, any service) sees the cart.
    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = session_key
    assert [(x["sku"], x["quantity"]) for x in other.get("/api/cart").json()["lines"]] == [(a, 2)]
    assert redis_client.keys(f"platform:session:*{session_key}") != []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"sku": "NOPE", "quantity": 1}, 422, "UNKNOWN_SKU"),
        ({"sku": "{A}", "quantity": 0}, 422, "INVALID_QUANTITY"),
        ({"sku": "{A}", "quantity": -2}, 422, "INVALID_QUANTITY"),
        ({"sku": "{A}", "quantity": 4}, 422, "LIMIT_EXCEEDED"),
        ({"sku": "{FUTURE}", "quantity": 1}, 409, "SALE_NOT_ACTIVE"),
        ({"sku": "{PAST}", "quantity": 1}, 409, "SALE_NOT_ACTIVE"),
        ({"sku": "{OFF}", "quantity": 1}, 409, "SALE_NOT_ACTIVE"),
        ({"sku": "{A}", "quantity": "many"}, 400, "VALIDATION_ERROR"),
        ({"quantity": 1}, 400, "VALIDATION_ERROR"),
    ],
)
def test_bad_cart_input(client, sale, body, status, code):
    skus = {
        "{A}": sale.sku("A", limit=3),
        "{FUTURE}": sale.sku("F", window="future"),
        "{PAST}": sale.sku("P", window="past"),
        "{OFF}": sale.sku("O", active=False, window=None),
    }
    if "sku" in body:
        body = {**body, "sku": skus.get(body["sku"], body["sku"])}
    r = client.post("/api/cart/items", body, content_type="application/json")
    assert r.status_code == status
    assert r.json()["code"] == code
    assert client.get("/api/cart").json()["lines"] == []
    assert sale.available(skus["{A}"]) == 100
    assert Order.objects.count() == 0


def test_malformed_json(client):
    r = client.post("/api/cart/items", "{not json", content_type="application/json")
    assert r.status_code == 400
    assert r.json()["code"] == "MALFORMED_JSON"


def test_limit_counts_what_is_in_the_cart(client, sale):
    a = sale.sku("A", limit=2)
    assert add(client, a, 2).status_code == 201
    r = add(client, a, 1)
    assert (r.status_code, r.json()["code"], r.json()["detail"]["limit"]) == (
        422,
        "LIMIT_EXCEEDED",
        2,
    )
    assert client.get("/api/cart").json()["lines"][0]["quantity"] == 2


def test_patch_or_delete_sku_not_in_cart(client, sale):
    a = sale.sku("A")
    r = client.patch(f"/api/cart/items/{a}", {"quantity": 1}, content_type="application/json")
    assert (r.status_code, r.json()["code"]) == (404, "NOT_IN_CART")
    r = client.delete(f"/api/cart/items/{a}")
    assert (r.status_code, r.json()["code"]) == (404, "NOT_IN_CART")


def test_cart_shows_a_line_that_went_off_sale(client, sale, redis_client):
    a = sale.sku("A")
    add(client, a, 1)
    sale.sku("A", window="past")  # the catalog ended the sale since
    line = client.get("/api/cart").json()["lines"][0]
    assert (line["sku"], line["problem"], line["line_total"]) == (a, "SALE_NOT_ACTIVE", None)


def test_openapi_schema_lists_the_api(client):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    assert set(paths) == {
        "/api/account",
        "/api/account/orders",
        "/api/account/signin",
        "/api/account/signout",
        "/api/account/signup",
        "/api/cart",
        "/api/cart/items",
        "/api/cart/items/{sku}",
        "/api/orders",
        "/api/orders/{order_id}",
    }
    assert set(paths["/api/cart/items/{sku}"]) >= {"patch", "delete"}
    params = paths["/api/orders"]["post"]["parameters"]
    assert {"name": "Idempotency-Key", "in": "header"}.items() <= params[0].items()
    assert client.get("/api/docs/").status_code == 200
