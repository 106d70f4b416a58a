"""Cart rules agree with checkout (issue 9): what checkout would refuse, the cart refuses at
add time, with the same code, and the cart it had is left as it was."""

from __future__ import annotations

import pytest
from django.test import Client

from order_service.orders.models import Order

pytestmark = pytest.mark.django_db


def add(client, sku, quantity=1):
    return client.post(
        "/api/cart/items", {"sku": sku, "quantity": quantity}, content_type="application/json"
    )


def patch(client, sku, quantity):
    return client.patch(
        f"/api/cart/items/{sku}", {"quantity": quantity}, content_type="application/json"
    )


def checkout(client, items=None, key="key-1"):
    body = "" if items is None else {"items": [{"sku": s, "quantity": q} for s, q in items]}
    return client.post(
        "/api/orders", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def answer(r):
    return r.status_code, r.json()["code"], r.json()["detail"]


def cart_lines(client):
    return [
        (x["sku"], x["quantity"], x["problem"]) for x in client.get("/api/cart").json()["lines"]
    ]


def test_a_sold_out_product_is_refused_at_add_time_like_checkout(client, sale):
    gone = sale.sku("GONE", stock=0)
    assert answer(add(client, gone)) == (409, "SOLD_OUT", {"sku": gone, "available": 0})
    assert answer(checkout(client, [(gone, 1)]))[:2] == (409, "SOLD_OUT")
    assert cart_lines(client) == []
    assert Order.objects.count() == 0


def test_more_than_is_left_is_sold_out_and_the_cart_keeps_what_it_had(client, sale):
    few = sale.sku("FEW", stock=3, limit=0)
    assert add(client, few, 2).status_code == 201
    assert answer(add(client, few, 2)) == (409, "SOLD_OUT", {"sku": few, "available": 3})
    assert answer(patch(client, few, 4)) == (409, "SOLD_OUT", {"sku": few, "available": 3})
    assert cart_lines(client) == [(few, 2, None)]
    assert patch(client, few, 3).status_code == 200
    assert sale.available(few) == 3  # a cart reserves nothing


def test_over_the_limit_counting_earlier_orders_is_refused_at_add_time(client, sale):
    a = sale.sku("A", stock=10, limit=2)
    assert checkout(client, [(a, 1)], key="first").status_code == 202
    assert add(client, a, 1).status_code == 201  # 1 bought + 1 in the cart = the limit
    r = add(client, a, 1)
    assert answer(r) == (422, "LIMIT_EXCEEDED", {"sku": a, "limit": 2, "already_bought": 1})
    assert r.json()["message"] == (
        "That would be more than one shopper may buy of this product in this sale."
    )
    assert answer(patch(client, a, 2))[:2] == (422, "LIMIT_EXCEEDED")
    assert cart_lines(client) == [(a, 1, None)]
    # the cart's line can still be bought, and then nothing more
    assert checkout(client, key="second").status_code == 202
    assert answer(add(client, a, 1)) == (
        422,
        "LIMIT_EXCEEDED",
        {"sku": a, "limit": 2, "already_bought": 2},
    )
    assert answer(checkout(client, [(a, 1)], key="third"))[:2] == (422, "LIMIT_EXCEEDED")
    assert Order.objects.count() == 2
    # another shopper has a limit of their own
    assert add(Client(), a, 2).status_code == 201


def test_over_the_limit_in_the_cart_alone_is_refused(client, sale):
    a = sale.sku("A", stock=10, limit=2)
    assert answer(add(client, a, 3)) == (422, "LIMIT_EXCEEDED", {"sku": a, "limit": 2})
    assert answer(checkout(client, [(a, 3)]))[:2] == (422, "LIMIT_EXCEEDED")
    assert cart_lines(client) == []


@pytest.mark.parametrize("window", ["future", "past"])
def test_a_sale_not_running_is_refused_at_add_time_like_checkout(client, sale, window):
    sku = sale.sku("S", window=window, stock=10)
    status, code, detail = answer(add(client, sku))
    assert (status, code, detail["sku"]) == (409, "SALE_NOT_ACTIVE", sku)
    assert set(detail) == {"sku", "starts_at", "ends_at"}
    assert answer(checkout(client, [(sku, 1)]))[:2] == (409, "SALE_NOT_ACTIVE")
    assert cart_lines(client) == []


def test_unknown_availability_is_never_put_in_a_cart(client, sale):
    sku = sale.sku("U", stock=None)
    r = add(client, sku)
    assert answer(r) == (503, "STOCK_UNAVAILABLE", {"sku": sku})
    assert r["Retry-After"] == "5"
    assert answer(checkout(client, [(sku, 1)]))[:2] == (503, "STOCK_UNAVAILABLE")


def test_a_line_that_sold_out_while_in_the_cart_shows_its_problem(client, sale, inv):
    a = sale.sku("A", stock=5, limit=2, sale_price="9.99")
    b = sale.sku("B", stock=5, window=None, price="20.00")
    assert add(client, a, 2).status_code == 201
    assert add(client, b, 1).status_code == 201
    # someone else buys the rest of A
    assert checkout(Client(), [(a, 2)], key="x").status_code == 202
    inv.set_available(sku=a, available=1)
    cart = client.get("/api/cart").json()
    by_sku = {line["sku"]: line for line in cart["lines"]}
    assert (by_sku[a]["problem"], by_sku[a]["available"], by_sku[a]["line_total"]) == (
        "SOLD_OUT",
        1,
        "19.98",
    )
    assert by_sku[a]["per_shopper_limit"] == 2
    assert (by_sku[b]["problem"], by_sku[b]["per_shopper_limit"]) == (None, 0)
    assert (cart["total"], cart["currency"]) == ("20.00", "EUR")  # what can be bought
    assert answer(checkout(client, key="mine")) == (409, "SOLD_OUT", {"sku": a})
    assert len(cart_lines(client)) == 2  # a refused checkout keeps the cart
    assert patch(client, a, 1).status_code == 200
    assert checkout(client, key="mine").status_code == 202  # the refused key is still free
