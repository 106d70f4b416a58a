"""Cross-site requests against the order API (Django's CSRF check on every unsafe method,
anonymous shoppers included): a forged request changes nothing and gets 403 ``CSRF_FAILED``.
"""

from __future__ import annotations

import pytest
from django.test import Client
from test_order_json_bombs import json_endpoints

from order_service.accounts.models import ShopperAccount

pytestmark = pytest.mark.django_db

BODIES = {
    "/api/cart/items": '{"sku": "%s", "quantity": 1}',
    "/api/cart/items/ANY-SKU": '{"quantity": 2}',
    "/api/orders": '{"items": [{"sku": "%s", "quantity": 1}]}',
    "/api/account/signup": '{"email": "mallory@example.com", "password": "pw-mallory-99"}',
    "/api/account/signin": '{"email": "ada@example.com", "password": "pw-ada-4242"}',
    "/api/account/signout": "{}",
}


def _browser() -> Client:
    """A client that enforces CSRF as a browser's server would (the test default skips it)."""
    client = Client(enforce_csrf_checks=True)
    assert client.get("/api/cart").status_code == 200  # the session, and the csrftoken cookie
    return client


def _send(client, method, path, sku, **headers):
    body = BODIES[path].replace("%s", sku) if "%s" in BODIES[path] else BODIES[path]
    return client.generic(
        method,
        path,
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="csrf-k",
        **headers,
    )


def test_a_get_hands_out_the_csrf_cookie():
    client = Client(enforce_csrf_checks=True)
    r = client.get("/api/cart")
    assert r.cookies["csrftoken"].value
    assert "csrftoken" not in client.get("/api/cart").cookies  # once, not on every answer


@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_every_unsafe_method_refuses_a_cross_site_request(sale, signed_in):
    a = sale.sku("A", stock=10)
    client = _browser()
    token = client.cookies["csrftoken"].value
    if signed_in:  # a shopper account (ADR 0108)
        r = client.post(
            "/api/account/signup",
            {"email": "ada@example.com", "password": "pw-ada-4242"},
            content_type="application/json",
            HTTP_X_CSRFTOKEN=token,
        )
        assert r.status_code == 201, r.content
    for method, path in json_endpoints():
        # A hostile page: the shopper's cookies, a foreign Origin, no token (it cannot read it).
        r = _send(client, method, path, a, HTTP_ORIGIN="http://evil.example")
        assert (r.status_code, r.json()["code"]) == (403, "CSRF_FAILED"), (method, path)
        assert "evil.example" in r.json()["detail"]["reason"]
        # Even with a token: the Origin is not ours.
        r = _send(
            client, method, path, a, HTTP_ORIGIN="http://evil.example", HTTP_X_CSRFTOKEN=token
        )
        assert (r.status_code, r.json()["code"]) == (403, "CSRF_FAILED"), (method, path)
        # No Origin and no token (an old browser, a form post): refused too.
        r = _send(client, method, path, a)
        assert (r.status_code, r.json()["code"]) == (403, "CSRF_FAILED"), (method, path)
    assert client.get("/api/cart").json()["lines"] == []  # nothing changed
    assert client.get("/api/account").json()["signed_in"] is signed_in
    assert not ShopperAccount.objects.filter(email="mallory@example.com").exists()
    # The DELETE of a cart line is a state change as well.
    r = client.delete(f"/api/cart/items/{a}", HTTP_ORIGIN="http://evil.example")
    assert (r.status_code, r.json()["code"]) == (403, "CSRF_FAILED")


def test_the_same_site_storefront_flow_passes_with_the_token(sale):
    a = sale.sku("A", stock=10)
    client = _browser()
    headers = {
        "HTTP_X_CSRFTOKEN": client.cookies["csrftoken"].value,
        "HTTP_ORIGIN": "http://testserver",
    }
    assert _send(client, "POST", "/api/cart/items", a, **headers).status_code == 201
    r = client.delete(f"/api/cart/items/{a}", **headers)
    assert r.status_code == 200
    assert _send(client, "POST", "/api/cart/items", a, **headers).status_code == 201
    r = _send(client, "POST", "/api/orders", a, **headers)
    assert r.status_code == 202, r.json()


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data", "application/x-www-form-urlencoded", "text/plain"],
)
def test_a_body_that_is_not_json_is_415_before_anything_parses_it(content_type):
    # multipart without a boundary was a 500 in Django's parser (schemathesis found it)
    client = _browser()
    r = client.generic(
        "POST",
        "/api/cart/items",
        b"sku=A&quantity=1",
        content_type=content_type,
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert (r.status_code, r.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
