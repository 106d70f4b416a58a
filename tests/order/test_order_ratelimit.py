"""App-level rate limits: per shopper and per client IP, counted in Redis; 429 + Retry-After."""

from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from order_service.api.ratelimit import client_ip
from order_service.orders.models import Order

pytestmark = pytest.mark.django_db


def checkout(client, sku, key, **extra):
    return client.post(
        "/api/orders",
        {"items": [{"sku": sku, "quantity": 1}]},
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY=key,
        **extra,
    )


@pytest.fixture
def unique_ip(sale):
    # A documentation-range address per test, so windows of earlier tests do not count.
    n = int(sale.prefix[1:7], 16) % 250 + 1
    return f"198.51.100.{n}", f"203.0.113.{n}"


def test_checkout_limited_per_shopper(settings, sale, unique_ip):
    settings.RATELIMIT_CHECKOUT_SHOPPER = "3/m"
    a = sale.sku("A", stock=100)
    client = Client(HTTP_X_FORWARDED_FOR=unique_ip[0])
    client.get("/api/cart")
    client.post("/api/cart/items", {"sku": a, "quantity": 1}, content_type="application/json")
    codes = [checkout(client, a, f"k{i}").status_code for i in range(4)]
    assert codes == [202, 202, 202, 429]
    r = checkout(client, a, "k9")
    assert r.status_code == 429
    assert r.json() == {
        "code": "RATE_LIMITED",
        "message": "Too many requests; retry after the time in Retry-After.",
        "detail": {"scope": "checkout:shopper"},
    }
    assert 1 <= int(r["Retry-After"]) <= 61
    assert Order.objects.count() == 3  # the refused ones wrote nothing
    assert sale.available(a) == 97
    # Another shopper behind another address is not limited.
    other = Client(HTTP_X_FORWARDED_FOR=unique_ip[1])
    assert checkout(other, a, "k1").status_code == 202


def test_checkout_limited_per_ip_across_shoppers(settings, sale, unique_ip):
    settings.RATELIMIT_CHECKOUT_IP = "2/m"
    a = sale.sku("A", stock=100)
    codes = [
        checkout(Client(HTTP_X_FORWARDED_FOR=unique_ip[0]), a, "k").status_code for _ in range(3)
    ]
    assert codes == [202, 202, 429]
    assert checkout(Client(HTTP_X_FORWARDED_FOR=unique_ip[1]), a, "k").status_code == 202


def test_api_reads_are_limited_too(settings, unique_ip):
    settings.RATELIMIT_API_IP = "2/m"
    client = Client(HTTP_X_FORWARDED_FOR=unique_ip[0])
    assert [client.get("/api/cart").status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/cart").json()["detail"] == {"scope": "api:ip"}


def request(remote, forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/api/cart", **extra)


@pytest.mark.parametrize(
    ("remote", "forwarded", "expected"),
    [
        # Through the edge (trusted): the client the edge saw, i.e. the right-most entry.
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),
        # A client-supplied entry on the left cannot override what the edge appended.
        ("127.0.0.1", "1.2.3.4, 203.0.113.7", "203.0.113.7"),
        # Chained trusted proxies are skipped.
        ("127.0.0.1", "203.0.113.7, 127.0.0.1", "203.0.113.7"),
        # Garbage in the header: fall back to the proxy itself.
        ("127.0.0.1", "not-an-ip", "127.0.0.1"),
        ("127.0.0.1", None, "127.0.0.1"),
        # Straight to the app from elsewhere: the header is ignored.
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),
    ],
)
def test_client_ip_trusts_forwarded_for_only_from_trusted_proxies(remote, forwarded, expected):
    assert client_ip(request(remote, forwarded)) == expected


def test_trusted_proxies_setting(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2"]
    assert client_ip(request("127.0.0.1", "203.0.113.7")) == "127.0.0.1"
    assert client_ip(request("10.0.0.2", "203.0.113.7")) == "203.0.113.7"
