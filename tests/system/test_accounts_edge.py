"""Shopper accounts through the real edge (``bin/platform up`` on free ports, NGINX in front).

A shopper's browser as the storefront drives it: the session and ``csrftoken`` cookies, the
``X-CSRFToken`` header and the page's ``Origin`` on every POST. Signing up, in and out; the
per-shopper limit of a flash sale holding per account after every cookie is cleared and
across two devices buying at the same moment; the login lockout answered as the API's JSON
by the edge as well (ADRs 0108, 0109).
"""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from conftest import Platform
from platform_tools import HIGH_LIMITS, seeded_platform
from requests.adapters import HTTPAdapter

from tests.support.shopper import ShopperSession

pytestmark = pytest.mark.system

# On flash sale in the demo data, 2 per shopper (catalog_service/catalog/demo.py).
SKU_A, SKU_B, SKU_C = "SKU-000001", "SKU-000002", "SKU-000003"
LIMIT = 2
PASSWORD = "violet-kettle-81"
FAILURE_LIMIT = 5


@pytest.fixture(scope="module")
def platform(tmp_path_factory, backing):
    with seeded_platform(
        tmp_path_factory, backing, env={**HIGH_LIMITS, "LOGIN_FAILURE_LIMIT": str(FAILURE_LIMIT)}
    ) as running:
        yield running


class _SourceAdapter(HTTPAdapter):
    """Connections from one loopback address: the edge sees a client of its own."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def browser(platform: Platform, source: str | None = None) -> ShopperSession:
    session = ShopperSession()
    session.headers["Origin"] = platform.edge  # what a browser sends with the page's POSTs
    if source is not None:
        session.mount("http://", _SourceAdapter(source))
    return session


def call(session, method: str, platform: Platform, path: str, **kwargs) -> requests.Response:
    return session.request(method, f"{platform.edge}{path}", timeout=15, **kwargs)


def signup(session, platform, email, password=PASSWORD, name="Ada"):
    body = {"email": email, "password": password, "name": name}
    return call(session, "POST", platform, "/api/account/signup", json=body)


def signin(session, platform, email, password=PASSWORD):
    body = {"email": email, "password": password}
    return call(session, "POST", platform, "/api/account/signin", json=body)


def checkout(session, platform, items=None):
    body = {} if items is None else {"items": [{"sku": k, "quantity": v} for k, v in items]}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    return call(session, "POST", platform, "/api/orders", json=body, headers=headers)


def email() -> str:
    return f"shopper-{uuid.uuid4().hex[:10]}@example.com"


def test_sign_up_in_and_out_at_the_edge(platform):
    ada = email()
    session = browser(platform)
    assert call(session, "GET", platform, "/api/account").json() == {"signed_in": False}
    r = signup(session, platform, ada)
    assert r.status_code == 201, r.text
    assert r.json() == {"signed_in": True, "email": ada, "name": "Ada"}
    assert "flashsale_session" in r.cookies  # a new session key
    assert r.headers["Cache-Control"] == "private, no-store"
    assert call(session, "GET", platform, "/api/account").json()["signed_in"] is True
    assert call(session, "GET", platform, "/api/account/orders").json() == {"orders": []}

    out = call(session, "POST", platform, "/api/account/signout")
    assert out.status_code == 204, out.text
    assert call(session, "GET", platform, "/api/account").json() == {"signed_in": False}
    r = call(session, "GET", platform, "/api/account/orders")
    assert (r.status_code, r.json()["code"]) == (401, "NOT_SIGNED_IN")

    wrong = signin(session, platform, ada, password="not-the-password")
    assert (wrong.status_code, wrong.json()["code"]) == (400, "INVALID_CREDENTIALS")
    assert signin(session, platform, ada.upper()).status_code == 200

    # A hostile page: the shopper's cookies but another Origin; and a request with no token.
    forged = call(
        session,
        "POST",
        platform,
        "/api/account/signout",
        headers={"Origin": "https://evil.example"},
    )
    assert (forged.status_code, forged.json()["code"]) == (403, "CSRF_FAILED")
    bare = requests.post(
        f"{platform.edge}/api/account/signin",
        json={"email": ada, "password": PASSWORD},
        cookies=session.cookies,
        timeout=15,
    )
    assert (bare.status_code, bare.json()["code"]) == (403, "CSRF_FAILED")
    assert call(session, "GET", platform, "/api/account").json()["signed_in"] is True


def test_the_cart_survives_signing_in(platform):
    ada = email()
    signup(browser(platform), platform, ada)
    session = browser(platform)
    added = call(session, "POST", platform, "/api/cart/items", json={"sku": SKU_C, "quantity": 1})
    assert added.status_code == 201, added.text
    guest_key = session.cookies["flashsale_session"]
    assert signin(session, platform, ada).status_code == 200
    assert session.cookies["flashsale_session"] != guest_key
    lines = call(session, "GET", platform, "/api/cart").json()["lines"]
    assert [(x["sku"], x["quantity"]) for x in lines] == [(SKU_C, 1)]


def test_the_limit_holds_per_account_after_clearing_every_cookie(platform):
    ada = email()
    session = browser(platform)
    signup(session, platform, ada)
    added = call(
        session, "POST", platform, "/api/cart/items", json={"sku": SKU_A, "quantity": LIMIT}
    )
    assert added.status_code == 201, added.text
    placed = checkout(session, platform)
    assert placed.status_code == 202, placed.text

    session.cookies.clear()  # every cookie: session, csrftoken
    assert call(session, "GET", platform, "/api/account").json() == {"signed_in": False}
    assert signin(session, platform, ada).status_code == 200
    r = call(session, "POST", platform, "/api/cart/items", json={"sku": SKU_A, "quantity": 1})
    assert (r.status_code, r.json()["code"]) == (422, "LIMIT_EXCEEDED"), r.text
    assert r.json()["detail"]["already_bought"] == LIMIT
    r = checkout(session, platform, [(SKU_A, 1)])
    assert (r.status_code, r.json()["code"]) == (422, "LIMIT_EXCEEDED"), r.text
    orders = call(session, "GET", platform, "/api/account/orders").json()["orders"]
    assert [o["id"] for o in orders] == [placed.json()["order_id"]]

    # A guest (no account) in a fresh session still checks out, with a session's allowance.
    guest = browser(platform)
    assert checkout(guest, platform, [(SKU_A, 1)]).status_code == 202


def test_two_devices_buying_at_once_share_the_accounts_limit(platform):
    ada = email()
    signup(browser(platform), platform, ada)
    laptop, phone = browser(platform), browser(platform)
    for device in (laptop, phone):
        assert signin(device, platform, ada).status_code == 200
        call(device, "GET", platform, "/api/cart")  # the CSRF token, before the race
    answers: dict[str, requests.Response] = {}
    start = threading.Barrier(2)

    def buy(name, device):
        start.wait()
        answers[name] = checkout(device, platform, [(SKU_B, LIMIT)])

    threads = [
        threading.Thread(target=buy, args=pair) for pair in (("laptop", laptop), ("phone", phone))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    outcomes = sorted(
        (r.status_code, r.json().get("code", r.json().get("status"))) for r in answers.values()
    )
    assert outcomes == [(202, "accepted"), (422, "LIMIT_EXCEEDED")], outcomes
    accepted = next(r for r in answers.values() if r.status_code == 202).json()["order_id"]
    for device in (laptop, phone):
        orders = call(device, "GET", platform, "/api/account/orders").json()["orders"]
        assert [o["id"] for o in orders] == [accepted]


def test_a_locked_out_sign_in_is_the_apis_json_at_the_edge(platform):
    ada = email()
    signup(browser(platform, source="127.0.0.61"), platform, ada)
    attacker = browser(platform, source="127.0.0.62")
    codes = [
        signin(attacker, platform, ada, password=f"guess-{n}").json()["code"]
        for n in range(FAILURE_LIMIT)
    ]
    assert codes == ["INVALID_CREDENTIALS"] * (FAILURE_LIMIT - 1) + ["LOCKED_OUT"]
    r = signin(attacker, platform, ada)  # the right password
    assert r.status_code == 429
    assert r.headers["Content-Type"] == "application/json"
    assert r.json()["code"] == "LOCKED_OUT"
    assert int(r.headers["Retry-After"]) > 0
    # The owner, from home, is locked out of this account too (per email)...
    assert signin(browser(platform, source="127.0.0.63"), platform, ada).status_code == 429
    # ... while another account from another address signs in.
    bob = email()
    signup(browser(platform, source="127.0.0.64"), platform, bob)
    assert signin(browser(platform, source="127.0.0.65"), platform, bob).status_code == 200
