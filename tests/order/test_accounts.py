"""Shopper accounts through the order API (Django test client, real PostgreSQL and Redis).

Sign up (Django's password validators, one account per email in any case), sign in and
out (django-axes counting failures and locking out per email and per address), the cart
kept across sign-in on a new session key, "my orders", and the point of it all: a
per-shopper limit counts per account, whatever the cookies and however many devices
(ADRs 0108, 0109).
"""

from __future__ import annotations

import uuid

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django_redis import get_redis_connection

from order_service.accounts.models import ShopperAccount
from order_service.accounts.services import _sessions_index
from order_service.orders.cart import Shopper, shopper_from_session
from order_service.orders.models import Order
from tests.support.staff import StaffClient

pytestmark = pytest.mark.django_db

PASSWORD = "violet-kettle-81"
SESSION_COOKIE = settings.SESSION_COOKIE_NAME


def post(client, path, body=None, **extra):
    return client.post(path, {} if body is None else body, content_type="application/json", **extra)


def signup(client, email="ada@example.com", password=PASSWORD, name="Ada"):
    return post(client, "/api/account/signup", {"email": email, "password": password, "name": name})


def signin(client, email="ada@example.com", password=PASSWORD, **extra):
    return post(client, "/api/account/signin", {"email": email, "password": password}, **extra)


def add(client, sku, quantity=1):
    return post(client, "/api/cart/items", {"sku": sku, "quantity": quantity})


def checkout(client, items=None):
    body = None if items is None else {"items": [{"sku": k, "quantity": v} for k, v in items]}
    return post(client, "/api/orders", body, HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def cart_lines(client):
    return [(line["sku"], line["quantity"]) for line in client.get("/api/cart").json()["lines"]]


def session_key(client) -> str:
    return client.cookies[SESSION_COOKIE].value


def account_of(client) -> dict:
    r = client.get("/api/account")
    assert r.status_code == 200
    return r.json()


# --- sign up ---------------------------------------------------------------------------------


def test_signup_creates_the_account_and_signs_in():
    client = Client()
    r = signup(client, email="  Ada@Example.COM ", name="Ada Lovelace")
    assert r.status_code == 201, r.content
    assert r.json() == {"signed_in": True, "email": "ada@example.com", "name": "Ada Lovelace"}
    assert r["Cache-Control"] == "private, no-store"
    account = ShopperAccount.objects.get()
    assert account.email == "ada@example.com"
    assert account.check_password(PASSWORD)
    assert account.password != PASSWORD  # hashed
    session = client.session
    assert session["account_id"] == account.pk
    assert session["shopper_id"] == f"customer:{account.pk}"
    assert account_of(client) == r.json()
    # Not Django's login: no user of any service's table in the shared session.
    assert "_auth_user_id" not in session


@pytest.mark.parametrize(
    "password, reason",
    [
        ("kx9!", "password_too_short"),
        ("password123", "password_too_common"),
        ("84720193655", "password_entirely_numeric"),
        ("lovelace.ada@example.com", "password_too_similar"),
    ],
)
def test_signup_refuses_a_weak_password_with_the_reason(password, reason):
    client = Client()
    r = signup(client, email="lovelace.ada@example.com", password=password)
    assert r.status_code == 400, r.content
    body = r.json()
    assert body["code"] == "PASSWORD_TOO_WEAK"
    reasons = body["detail"]["reasons"]
    assert reason in [x["code"] for x in reasons]
    assert all(x["message"] for x in reasons)
    assert ShopperAccount.objects.count() == 0
    assert account_of(client) == {"signed_in": False}


def test_signup_refuses_an_email_taken_in_any_case():
    assert signup(Client(), email="ada@example.com").status_code == 201
    other = Client()
    r = signup(other, email="ADA@example.COM", password="another-pass-77")
    assert (r.status_code, r.json()["code"]) == (409, "EMAIL_TAKEN")
    assert ShopperAccount.objects.count() == 1
    assert account_of(other) == {"signed_in": False}
    # The stored address is the lower-cased one, for sign-in too.
    assert signin(Client(), email="Ada@EXAMPLE.com").status_code == 200


def test_signup_refuses_what_is_no_email():
    r = signup(Client(), email="not-an-email")
    assert r.status_code == 400
    assert r.json()["code"] == "VALIDATION_ERROR"
    assert "email" in r.json()["detail"]["fields"]


def test_an_email_lower_casing_past_the_column_is_a_clean_400():
    # "İ".lower() is two characters: 249 typed become 489 stored.
    email = "a@" + ".".join(["İ" * 60] * 4) + ".com"
    assert len(email) <= 254 < len(email.lower())
    r = signup(Client(), email=email)
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
    assert ShopperAccount.objects.count() == 0
    # At sign-in too (django-axes would store it as the failure's username).
    r = signin(Client(), email="İ" * 254)
    assert (r.status_code, r.json()["code"]) == (400, "VALIDATION_ERROR")
    assert AccessAttempt.objects.count() == 0


def test_a_string_nul_is_a_clean_400():
    r = signup(Client(), name="Ada\x00")
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_STRING")


# --- sign in, sign out -----------------------------------------------------------------------


def test_signin_and_signout():
    signup(Client())
    client = Client()
    r = signin(client)
    assert r.status_code == 200, r.content
    assert r.json() == {"signed_in": True, "email": "ada@example.com", "name": "Ada"}
    account = ShopperAccount.objects.get()
    assert account.last_login is not None  # Django's user_logged_in receivers ran
    assert account_of(client)["signed_in"] is True

    out = post(client, "/api/account/signout")
    assert out.status_code == 204
    assert out.cookies[SESSION_COOKIE].value == ""  # the session cookie is deleted
    assert account_of(client) == {"signed_in": False}
    # Signing out again (nothing to forget) is no error.
    assert post(client, "/api/account/signout").status_code == 204


@pytest.mark.parametrize(
    "email, password",
    [("ada@example.com", "wrong-password-1"), ("nobody@example.com", PASSWORD)],
    ids=["wrong-password", "unknown-email"],
)
def test_wrong_credentials_are_one_answer(email, password):
    signup(Client())
    client = Client()
    r = signin(client, email=email, password=password)
    assert r.status_code == 400
    assert r.json()["code"] == "INVALID_CREDENTIALS"
    assert account_of(client) == {"signed_in": False}


def test_signin_cycles_the_session_key_and_keeps_the_cart(sale, redis_client):
    a, b = sale.sku("A"), sale.sku("B")
    signup(Client())
    client = Client()
    assert add(client, a, 2).status_code == 201
    assert add(client, b, 1).status_code == 201
    guest_key = session_key(client)
    guest_shopper = client.session["shopper_id"]
    assert guest_shopper.startswith("anon:")

    assert signin(client).status_code == 200
    new_key = session_key(client)
    assert new_key != guest_key  # against session fixation
    assert cart_lines(client) == sorted([(a, 2), (b, 1)])
    account = ShopperAccount.objects.get()
    assert client.session["shopper_id"] == f"customer:{account.pk}"
    # The old key is dead: whoever held it holds nothing now.
    stale = Client()
    stale.cookies[SESSION_COOKIE] = guest_key
    assert account_of(stale) == {"signed_in": False}
    assert cart_lines(stale) == []


def test_signout_forgets_the_cart_and_the_shopper(sale):
    a = sale.sku("A")
    client = Client()
    signup(client)
    add(client, a, 1)
    post(client, "/api/account/signout")
    assert cart_lines(client) == []
    add(client, a, 1)
    assert client.session["shopper_id"].startswith("anon:")
    assert "account_id" not in client.session


def test_lockout_after_the_failure_limit_also_for_the_right_password():
    limit = settings.AXES_FAILURE_LIMIT
    signup(Client())
    attacker = Client(REMOTE_ADDR="10.13.0.1")
    codes = [signin(attacker, password=f"guess-{n}").json()["code"] for n in range(limit)]
    # The failure that reaches the limit is answered as the lockout it starts.
    assert codes == ["INVALID_CREDENTIALS"] * (limit - 1) + ["LOCKED_OUT"]
    r = signin(attacker)  # the right password now
    assert (r.status_code, r.json()["code"]) == (429, "LOCKED_OUT")
    assert r["Content-Type"] == "application/json"
    assert int(r["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    assert account_of(attacker) == {"signed_in": False}
    # Per email: the owner from another address is locked out of this account too...
    owner = Client(REMOTE_ADDR="10.13.0.2")
    assert signin(owner).json()["code"] == "LOCKED_OUT"
    # ... and per address: another account from the attacker's address as well.
    signup(Client(REMOTE_ADDR="10.13.0.3"), email="bob@example.com")
    assert signin(Client(REMOTE_ADDR="10.13.0.1"), email="bob@example.com").status_code == 429
    # Anyone else signs in to another account.
    assert signin(Client(REMOTE_ADDR="10.13.0.4"), email="bob@example.com").status_code == 200
    attempt = AccessAttempt.objects.get(username="ada@example.com", ip_address="10.13.0.1")
    assert attempt.failures_since_start == limit + 1  # the locked-out right password too
    # The JSON body is not a form: nothing of the passwords tried is stored with it.
    assert "guess" not in attempt.post_data + attempt.get_data


def test_a_sign_in_clears_the_failures_before_the_limit():
    limit = settings.AXES_FAILURE_LIMIT
    signup(Client())
    client = Client(REMOTE_ADDR="10.14.0.1")
    for _round in range(2):
        for n in range(limit - 1):
            assert signin(client, password=f"guess-{n}").json()["code"] == "INVALID_CREDENTIALS"
        assert signin(client).status_code == 200
        post(client, "/api/account/signout")


def test_a_lowercase_email_counts_failures_of_any_case():
    limit = settings.AXES_FAILURE_LIMIT
    signup(Client())
    for n in range(limit):
        email = "ADA@example.com" if n % 2 else "ada@EXAMPLE.com"
        signin(Client(REMOTE_ADDR=f"10.15.0.{n + 1}"), email=email, password=f"guess-{n}")
    assert signin(Client(REMOTE_ADDR="10.15.1.1")).json()["code"] == "LOCKED_OUT"


def test_account_posts_need_the_csrf_token():
    browser = Client(enforce_csrf_checks=True)
    r = signup(browser)
    assert (r.status_code, r.json()["code"]) == (403, "CSRF_FAILED")
    browser.get("/api/account")  # hands out the csrftoken cookie
    token = browser.cookies["csrftoken"].value
    r = post(
        browser,
        "/api/account/signup",
        {"email": "ada@example.com", "password": PASSWORD},
        HTTP_X_CSRFTOKEN=token,
    )
    assert r.status_code == 201, r.content
    forged = post(
        browser,
        "/api/account/signout",
        HTTP_X_CSRFTOKEN=token,
        HTTP_ORIGIN="https://evil.example",
    )
    assert (forged.status_code, forged.json()["code"]) == (403, "CSRF_FAILED")
    assert account_of(browser)["signed_in"] is True


def test_staff_and_shopper_logins_never_cross():
    signup(Client(), email="ada@example.com")
    User.objects.create_user("bob@example.com", password="staff-pass-913", is_staff=True)
    # A staff user's name and password are no shopper sign-in...
    r = signin(Client(), email="bob@example.com", password="staff-pass-913")
    assert r.json()["code"] == "INVALID_CREDENTIALS"
    assert AccessAttempt.objects.get(username="bob@example.com").failures_since_start == 1
    # ... and a shopper's email and password are no admin login.
    admin = Client()
    r = admin.post("/admin/order/login/", {"username": "ada@example.com", "password": PASSWORD})
    assert r.status_code == 200  # the form again, with its error
    assert admin.get("/admin/order/").status_code == 302


def test_a_staff_user_and_a_shopper_of_one_name_and_password_each_sign_in_to_their_own():
    signup(Client(), email="eve@example.com")
    User.objects.create_superuser("eve@example.com", "eve@example.com", PASSWORD)
    shopper = Client()
    r = signin(shopper, email="eve@example.com")
    assert r.status_code == 200, r.content
    assert shopper.session["account_id"] == ShopperAccount.objects.get().pk
    staff = StaffClient()
    r = staff.post("/admin/order/login/", {"username": "eve@example.com", "password": PASSWORD})
    assert r.status_code == 302, r.content[:300]
    assert staff.get("/admin/order/").status_code == 200


# --- the shopper behind the cart and checkout ------------------------------------------------


def test_shopper_from_session_prefers_the_account():
    session = {"shopper_id": "anon:abc", "account_id": 7}
    assert shopper_from_session(session, create=False) == Shopper("customer:7", customer_id=7)
    assert session["shopper_id"] == "customer:7"
    guest = {"shopper_id": "anon:abc"}
    assert shopper_from_session(guest, create=True) == Shopper("anon:abc")
    # A customer id left without its account is not kept (a guest is a guest).
    left = {"shopper_id": "customer:7"}
    assert shopper_from_session(left, create=False) is None
    fresh = shopper_from_session(left, create=True)
    assert fresh is not None and fresh.shopper_id.startswith("anon:")
    assert fresh.customer_id is None


def test_a_django_user_in_the_shopper_session_is_no_customer(sale):
    # request.user (a staff user logged in with Django's login) is not a shopper account.
    a = sale.sku("A")
    client = Client()
    client.force_login(User.objects.create_user("staff", password="staff-pass-913"))
    order_id = checkout(client, [(a, 1)]).json()["order_id"]
    order = Order.objects.get(id=order_id)
    assert order.customer_id is None
    assert order.shopper_id.startswith("anon:")


def test_guests_still_check_out(sale):
    a = sale.sku("A", limit=2)
    guest = Client()
    add(guest, a, 2)
    r = checkout(guest)
    assert r.status_code == 202, r.content
    order = Order.objects.get(id=r.json()["order_id"])
    assert order.customer_id is None
    assert order.shopper_id.startswith("anon:")
    assert guest.get(r.json()["status_url"]).status_code == 200
    r = guest.get("/api/account/orders")
    assert (r.status_code, r.json()["code"]) == (401, "NOT_SIGNED_IN")


def test_my_orders_lists_exactly_the_accounts_orders_newest_first(sale):
    a = sale.sku("A", stock=50)
    ada = Client()
    signup(ada)
    first = checkout(ada, [(a, 1)]).json()["order_id"]
    second = checkout(ada, [(a, 2)]).json()["order_id"]
    guest = Client()
    checkout(guest, [(a, 1)])
    bob = Client()
    signup(bob, email="bob@example.com")
    bobs = checkout(bob, [(a, 1)]).json()["order_id"]

    account = ShopperAccount.objects.get(email="ada@example.com")
    body = ada.get("/api/account/orders").json()
    assert [o["id"] for o in body["orders"]] == [second, first]
    latest = Order.objects.get(id=second)
    assert body["orders"][0] == {
        "id": second,
        "status": "accepted",
        "total": str(latest.total),
        "currency": "EUR",
        "created_at": body["orders"][0]["created_at"],
        "status_url": f"/api/orders/{second}",
    }
    assert (latest.customer_id, latest.shopper_id) == (account.pk, f"customer:{account.pk}")
    # From another device, after signing in: the same list, and each order readable.
    phone = Client()
    signin(phone)
    assert [o["id"] for o in phone.get("/api/account/orders").json()["orders"]] == [second, first]
    assert phone.get(f"/api/orders/{first}").status_code == 200
    assert phone.get(f"/api/orders/{bobs}").status_code == 404
    assert [o["id"] for o in bob.get("/api/account/orders").json()["orders"]] == [bobs]


def test_the_limit_holds_per_account_after_clearing_cookies(sale):
    a = sale.sku("A", stock=50, limit=2)
    browser = Client()
    signup(browser)
    assert add(browser, a, 2).status_code == 201
    assert checkout(browser).status_code == 202

    browser = Client()  # every cookie cleared
    # As a guest the fresh session would have its own (per-session) allowance...
    assert add(browser, a, 1).status_code == 201
    # ... signed in again, the account has bought its 2 already.
    assert signin(browser).status_code == 200
    r = add(browser, a, 1)
    assert (r.status_code, r.json()["code"]) == (422, "LIMIT_EXCEEDED")
    assert r.json()["detail"] == {"sku": a, "limit": 2, "already_bought": 2}
    r = checkout(browser, [(a, 1)])
    assert (r.status_code, r.json()["code"]) == (422, "LIMIT_EXCEEDED")
    assert sale.available(a) == 48


def test_the_limit_holds_across_two_devices_at_once(sale):
    a = sale.sku("A", stock=50, limit=3)
    signup(Client())
    laptop, phone = Client(), Client()
    assert signin(laptop).status_code == 200
    assert signin(phone).status_code == 200
    assert session_key(laptop) != session_key(phone)
    assert add(laptop, a, 2).status_code == 201
    assert add(phone, a, 2).status_code == 201  # the cart is per session; nothing held yet
    assert checkout(laptop).status_code == 202
    r = checkout(phone)
    assert (r.status_code, r.json()["code"]) == (422, "LIMIT_EXCEEDED")
    assert checkout(phone, [(a, 1)]).status_code == 202
    for device in (laptop, phone):
        r = checkout(device, [(a, 1)])
        assert (r.status_code, r.json()["code"]) == (422, "LIMIT_EXCEEDED")
    account = ShopperAccount.objects.get()
    assert sum(o.lines.get().quantity for o in Order.objects.filter(customer_id=account.pk)) == 3
    assert sale.available(a) == 47


def test_staff_find_an_account_by_email_and_switch_it_off(admin_client):
    """The order admin lists accounts (never a password), finds one by its email in any
    case, and a switched-off account can no longer sign in."""
    signup(Client(), email="grace@example.com", name="Grace")
    signup(Client(), email="ada@example.com")
    page = admin_client.get("/admin/order/accounts/shopperaccount/", {"q": " GRACE@ "})
    html = page.content.decode()
    assert page.status_code == 200
    assert "grace@example.com" in html and "ada@example.com" not in html
    account = ShopperAccount.objects.get(email="grace@example.com")
    change = f"/admin/order/accounts/shopperaccount/{account.pk}/change/"
    form = admin_client.get(change).content.decode()
    assert 'name="password"' not in form and account.password not in form
    assert admin_client.get("/admin/order/accounts/shopperaccount/add/").status_code == 403
    r = admin_client.post(change, {"is_active": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    account.refresh_from_db()
    assert account.is_active is False
    r = signin(Client(), email="grace@example.com")
    assert (r.status_code, r.json()["code"]) == (400, "INVALID_CREDENTIALS")


def test_switching_an_account_off_ends_every_session_signed_in_to_it(admin_client, sale):
    """Staff switch an account off: each device signed in to it is a new guest at its next
    request (no account, no cart, no customer id), not only refused at its next sign-in."""
    a = sale.sku("A", stock=10)
    laptop, phone, other = Client(), Client(), Client()
    signup(laptop, email="mallory@example.com")
    signin(phone, email="mallory@example.com")
    signup(other, email="trent@example.com")
    for device in (laptop, phone, other):
        assert add(device, a).status_code == 201
    account = ShopperAccount.objects.get(email="mallory@example.com")
    change = f"/admin/order/accounts/shopperaccount/{account.pk}/change/"
    r = admin_client.post(change, {"is_active": ""}, follow=True)
    assert "Switched off mallory@example.com: " in r.content.decode()
    for device in (laptop, phone):
        assert device.get("/api/account").json() == {"signed_in": False}
        assert cart_lines(device) == []
        r = checkout(device, [(a, 1)])
        assert r.status_code == 202, r.content
        order = Order.objects.get(id=r.json()["order_id"])
        assert order.customer_id is None and not order.shopper_id.startswith("customer:")
    # Another account's session is untouched.
    assert other.get("/api/account").json()["signed_in"] is True
    assert cart_lines(other) == [(a, 1)]


def test_switching_off_an_account_never_signed_in_ends_nothing(admin_client):
    signup(Client(), email="peggy@example.com")
    account = ShopperAccount.objects.get(email="peggy@example.com")
    get_redis_connection("sessions").delete(_sessions_index(account.pk))  # none remembered
    change = f"/admin/order/accounts/shopperaccount/{account.pk}/change/"
    r = admin_client.post(change, {"is_active": ""}, follow=True)
    assert "Switched off peggy@example.com: 0 session(s) ended." in r.content.decode()
