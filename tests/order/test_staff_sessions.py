"""Staff logins keep to a session of their own under /admin/order/ (shared.sessions,
ADR 0065), through the real login form with CSRF checks on; the shopper's session and
cart in the same browser are neither read nor written by the admin. CSRF's Origin check
passes for the edge's own origins (Host with its port, X-Forwarded-Proto) and for nothing
else."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

STAFF_COOKIE = "flashsale_staff_order"
EDGE = {"HTTP_HOST": "127.0.0.1:8080"}  # the edge forwards Host with its port


def add(client, sku, quantity):
    # As the storefront does: the order API's CSRF token from its cookie (a GET hands it out).
    if "csrftoken" not in client.cookies:
        client.get("/api/cart")
    response = client.post(
        "/api/cart/items",
        {"sku": sku, "quantity": quantity},
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.status_code == 201, response.content
    return response


def lines(client):
    return [(x["sku"], x["quantity"]) for x in client.get("/api/cart").json()["lines"]]


def login(client, origin="http://127.0.0.1:8080", **extra):
    """GET the login form (sets the CSRF cookie), then POST it as a browser does."""
    client.get("/admin/order/login/", **EDGE, **extra)
    token = client.cookies["csrftoken"].value
    return client.post(
        "/admin/order/login/?next=/admin/order/",
        {"username": "staff", "password": "pw-staff-1", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN=origin,
        **EDGE,
        **extra,
    )


@pytest.fixture
def staff_user(db):
    return User.objects.create_superuser("staff", "staff@example.com", "pw-staff-1")


def test_staff_login_writes_only_its_own_cookie_and_leaves_the_cart(staff_user, sale):
    browser = Client(enforce_csrf_checks=True)
    a = sale.sku("A")
    add(browser, a, 2)
    shopper_key = browser.cookies[settings.SESSION_COOKIE_NAME].value

    response = login(browser)
    assert response.status_code == 302, response.content.decode()[:500]
    assert response["Location"] == "/admin/order/"
    staff = response.cookies[STAFF_COOKIE]
    assert staff["path"] == "/admin/order/"
    assert staff["httponly"] is True
    assert settings.SESSION_COOKIE_NAME not in response.cookies  # neither set nor deleted
    assert staff.value != shopper_key

    assert browser.get("/admin/order/", **EDGE).status_code == 200
    assert browser.cookies[settings.SESSION_COOKIE_NAME].value == shopper_key
    assert lines(browser) == [(a, 2)]

    # The API does not see the staff login (the shopper stays anonymous there).
    assert browser.get("/api/cart").wsgi_request.user.is_authenticated is False

    # Logging out ends the staff session only.
    token = browser.cookies["csrftoken"].value
    out = browser.post(
        "/admin/order/logout/",
        {"csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://127.0.0.1:8080",
        **EDGE,
    )
    assert out.status_code == 200
    assert browser.get("/admin/order/", **EDGE).status_code == 302
    assert lines(browser) == [(a, 2)]


def test_a_shopper_session_cookie_is_no_admin_login(staff_user, sale, redis_client):
    # A shopper session holding an authenticated user (e.g. a customer login) opens no admin.
    shopper = Client()
    shopper.force_login(staff_user)  # Django's login: the shopper's session cookie
    assert shopper.get("/admin/order/").status_code == 302
    # And a staff session key presented as the shopper's cookie is nothing there.
    staff = Client()
    assert login(staff).status_code == 302
    key = staff.cookies[STAFF_COOKIE].value
    other = Client()
    other.cookies[settings.SESSION_COOKIE_NAME] = key
    assert other.get("/api/cart").wsgi_request.session.is_empty()
    assert redis_client.keys(f"order:staff-session:*{key}") != []
    assert redis_client.keys(f"platform:session:*{key}") == []


@pytest.mark.parametrize(
    "origin, extra",
    [
        ("http://127.0.0.1:8080", {}),
        ("http://localhost:8080", {"HTTP_HOST": "localhost:8080"}),
        (
            "https://127.0.0.1:8443",
            {"HTTP_HOST": "127.0.0.1:8443", "HTTP_X_FORWARDED_PROTO": "https"},
        ),
    ],
    ids=["http", "localhost", "https"],
)
def test_login_passes_csrf_from_the_edge_origins(staff_user, origin, extra):
    browser = Client(enforce_csrf_checks=True)
    client_get = {**EDGE, **extra}
    browser.get("/admin/order/login/", **client_get)
    token = browser.cookies["csrftoken"].value
    response = browser.post(
        "/admin/order/login/",
        {"username": "staff", "password": "pw-staff-1", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN=origin,
        **client_get,
    )
    assert response.status_code == 302, response.content.decode()[:300]


@pytest.mark.parametrize(
    "origin, extra",
    [
        ("http://evil.example", {}),
        # The https origin on a request the edge says came over plain http.
        ("https://127.0.0.1:8080", {}),
    ],
)
def test_login_refuses_other_origins(staff_user, origin, extra):
    browser = Client(enforce_csrf_checks=True)
    response = login(browser, origin=origin, **extra)
    assert response.status_code == 403
    assert STAFF_COOKIE not in response.cookies
