"""Staff and developers in a real browser (Debian Chromium), through the edge, offline.

One platform (``bin/platform up`` on free ports) for the module, with a small demo. Each
browser context refuses and records any request that would leave 127.0.0.1
(``OfflineContext.blocked``).

* A staff member logs in to all three admins over http, https and http://localhost, and
  stays logged in to all three; the shopper's cart in the same browser is unchanged
  (ADR 0065: a staff session per admin, the shopper's untouched).
* From the admins, as staff would: a flash sale is extended (catalog admin) and a product
  restocked (fulfillment admin); both show in the storefront's data (GraphQL through the
  edge) and the order service's offer read model at once.
* GraphiQL (/graphql), Swagger UI (/api/docs/) and Redoc (/api/redoc/) render and work with
  nothing fetched from the internet (ADR 0068).
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta

import pytest
import redis
import requests
from browser import OfflineContext, screenshot
from platform_tools import HIGH_LIMITS, seeded_platform
from playwright.sync_api import expect

from shared.offers import get_offers

pytestmark = pytest.mark.system

SERVICES = ("catalog", "order", "fulfillment")
SALE_SKU = "SKU-000001"
CART_SKU = "SKU-000002"
PRODUCT_QUERY = """query Product($sku: String!) {
  product(sku: $sku) { sku flashSale { endsAt } inventory { available } }
}"""


@pytest.fixture(scope="module")
def platform(tmp_path_factory, backing):
    # The browser loads many admin pages and static files: meet the apps, not the 429s.
    with seeded_platform(tmp_path_factory, backing, env=HIGH_LIMITS) as running:
        yield running


def origins(platform) -> dict[str, str]:
    http, https = platform.ports["EDGE_PORT"], platform.ports["EDGE_TLS_PORT"]
    return {
        "http": f"http://127.0.0.1:{http}",
        "https": f"https://127.0.0.1:{https}",
        "localhost": f"http://localhost:{http}",
    }


# --- what a shopper's page does (the storefront's fetch calls) ----------------------------


def fetch_json(page, method: str, url: str, body: dict | None = None) -> tuple[int, dict]:
    return page.evaluate(
        """async ([method, url, body]) => {
            const headers = {"Content-Type": "application/json", "Accept": "application/json"};
            // As the storefront does: the order API's CSRF token from its cookie.
            const find = () => document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
            if (!find() && method !== "GET") await fetch("/api/cart");  // hands out the token
            const token = find();
            if (token && method !== "GET") headers["X-CSRFToken"] = token.split("=")[1];
            const options = {method, headers};
            if (body !== null) options.body = JSON.stringify(body);
            const answer = await fetch(url, options);
            return [answer.status, await answer.json()];
        }""",
        [method, url, body],
    )


def cart(page, origin: str) -> dict:
    status, body = fetch_json(page, "GET", f"{origin}/api/cart")
    assert status == 200, body
    return body


def storefront_product(page, origin: str, sku: str) -> dict:
    status, body = fetch_json(
        page, "POST", f"{origin}/graphql", {"query": PRODUCT_QUERY, "variables": {"sku": sku}}
    )
    assert status == 200 and "errors" not in body, body
    return body["data"]["product"]


# --- what staff do -------------------------------------------------------------------------


def admin_login(page, origin: str, service: str, *, open_form: bool = True) -> None:
    if open_form:
        page.goto(f"{origin}/admin/{service}/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("admin")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.get_by_text(f"Flash-sale · {service}")).to_be_visible()


def assert_logged_in(page, origin: str, service: str) -> None:
    page.goto(f"{origin}/admin/{service}/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)


def run_action(page, changelist: str, row_text: str, action: str) -> None:
    page.goto(changelist)
    page.get_by_role("row").filter(has_text=row_text).get_by_role("checkbox").check()
    page.get_by_role("combobox", name=re.compile("^Action")).select_option(label=action)
    page.get_by_role("button", name="Go").click()


def test_staff_logs_in_to_three_admins_over_http_https_and_localhost_cart_unchanged(
    platform, browser
):
    for name, origin in origins(platform).items():
        context = OfflineContext(browser)
        page = context.context.new_page()
        page.goto(f"{origin}/api/")
        status, added = fetch_json(
            page, "POST", f"{origin}/api/cart/items", {"sku": CART_SKU, "quantity": 2}
        )
        assert status == 201, added
        before = cart(page, origin)
        assert [(line["sku"], line["quantity"]) for line in before["lines"]] == [(CART_SKU, 2)]

        # Three tabs, each on an admin's login form, then a login in each in turn: one
        # admin's login (which rotates its CSRF token) leaves the other forms valid.
        tabs = {service: context.context.new_page() for service in SERVICES}
        for service, tab in tabs.items():
            tab.goto(f"{origin}/admin/{service}/")
        for service, tab in tabs.items():
            admin_login(tab, origin, service, open_form=False)
            tab.close()
        for service in SERVICES:  # still logged in to all three
            assert_logged_in(page, origin, service)
        screenshot(page, f"staff-admins-{name}")
        assert cart(page, origin) == before

        cookies = {c["name"]: c for c in context.context.cookies()}
        assert {"csrftoken", "flashsale_csrf_catalog", "flashsale_csrf_fulfillment"} <= set(cookies)
        for service in SERVICES:
            assert cookies[f"flashsale_staff_{service}"]["path"] == f"/admin/{service}/"
            assert cookies[f"flashsale_staff_{service}"]["httpOnly"] is True
        assert cookies["flashsale_session"]["path"] == "/"

        # Logging out of one admin leaves the other two, and the cart, as they were.
        page.goto(f"{origin}/admin/order/")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", name="Logged out")).to_be_visible()
        page.goto(f"{origin}/admin/order/")
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        for service in ("catalog", "fulfillment"):
            assert_logged_in(page, origin, service)
        assert cart(page, origin) == before
        assert context.blocked == []
        context.close()


def test_staff_extends_a_sale_and_restocks_and_the_storefront_sees_both(platform, browser):
    origin = origins(platform)["http"]
    context = OfflineContext(browser)
    page = context.context.new_page()
    page.goto(f"{origin}/api/")
    product = storefront_product(page, origin, SALE_SKU)
    old_end = datetime.fromisoformat(product["flashSale"]["endsAt"])
    old_available = product["inventory"]["available"]

    admin_login(page, origin, "catalog")
    changelist = f"{origin}/admin/catalog/catalog/flashsale/?q={SALE_SKU}"
    page.goto(changelist)
    expect(page.get_by_text("Times in UTC (server time zone)")).to_be_visible()
    run_action(page, changelist, SALE_SKU, "Extend the selected sales by N minutes")
    page.get_by_label("Minutes").fill("45")
    page.get_by_role("button", name="Extend").click()
    expect(
        page.get_by_text(re.compile(rf"{SALE_SKU}: extended by 45 min; runs .* UTC"))
    ).to_be_visible()
    screenshot(page, "staff-sale-extended")

    admin_login(page, origin, "fulfillment")
    page.get_by_role("link", name="Dead letters").click()
    expect(page.get_by_role("heading", name=re.compile("Dead letters"))).to_be_visible()
    stock = f"{origin}/admin/fulfillment/fulfillment/stock/?q={SALE_SKU}"
    run_action(page, stock, SALE_SKU, "Restock selected skus")
    page.get_by_label("Quantity").fill("25")
    page.get_by_role("button", name="Restock").click()
    expect(page.get_by_text(re.compile(rf"{SALE_SKU}: \+25; on hand"))).to_be_visible()
    screenshot(page, "staff-restocked")

    # The storefront's data through the edge, at once.
    after = storefront_product(page, origin, SALE_SKU)
    assert datetime.fromisoformat(after["flashSale"]["endsAt"]) == old_end + timedelta(minutes=45)
    assert after["inventory"]["available"] == old_available + 25
    # The order service prices and limits from the offer read model: it has the new end.
    client = redis.Redis.from_url(platform.redis.url(0), decode_responses=True)
    offer = get_offers(client, [SALE_SKU])[SALE_SKU]
    assert datetime.fromisoformat(offer.ends_at) == old_end + timedelta(minutes=45)
    client.close()
    assert context.blocked == []
    context.close()


ROOM_SKU = "SKU-000003"


def test_staff_define_open_and_pause_a_waiting_room_and_switch_off_a_shopper_account(
    platform, browser
):
    """The order admin's forms and actions in a browser through the edge (CSRF, Host):
    a waiting room added, opened and paused, the edge's public status following; a
    shopper's account found by email and switched off, its session in this browser ended."""
    origin = origins(platform)["http"]
    context = OfflineContext(browser)
    page = context.context.new_page()
    page.goto(f"{origin}/api/")
    email = "staff-test-shopper@example.com"
    status, body = fetch_json(
        page,
        "POST",
        f"{origin}/api/account/signup",
        {"email": email, "password": "violet-kettle-81", "name": "Test"},
    )
    assert status == 201, body
    assert fetch_json(page, "GET", f"{origin}/api/account")[1]["signed_in"] is True

    admin_login(page, origin, "order")
    page.goto(f"{origin}/admin/order/waitingroom/waitingroom/add/")
    page.get_by_label("Slug").fill("staff-room")
    page.get_by_label("Title").fill("Staff's room")
    page.get_by_label("Skus").fill(ROOM_SKU)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile("was added successfully"))).to_be_visible()
    changelist = f"{origin}/admin/order/waitingroom/waitingroom/"
    status_url = f"{origin}/queue/staff-room/status"

    def state() -> str:
        return requests.get(status_url, timeout=5).json()["state"]

    run_action(page, changelist, "staff-room", "Open the selected rooms (admit shoppers)")
    expect(page.get_by_text(re.compile("^staff-room: open$", re.I))).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="staff-room")).to_contain_text("open")
    wait_for(lambda: state() == "open", what="the edge's status says open")
    run_action(page, changelist, "staff-room", "Pause the selected rooms (join, no admission)")
    expect(page.get_by_text(re.compile("^staff-room: paused$", re.I))).to_be_visible()
    wait_for(lambda: state() == "paused", what="the edge's status says paused")
    screenshot(page, "staff-waiting-room-paused")
    run_action(page, changelist, "staff-room", "Close the selected rooms (skus unguarded)")
    expect(page.get_by_text(re.compile("^staff-room: closed$", re.I))).to_be_visible()

    page.goto(f"{origin}/admin/order/accounts/shopperaccount/?q={email}")
    page.get_by_role("link", name=email).click()
    page.get_by_label("Is active").uncheck()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text(re.compile("was changed successfully"))).to_be_visible()
    ended = re.compile(rf"^Switched off {re.escape(email)}: \d+ session")
    expect(page.get_by_text(ended)).to_be_visible()
    # The shopper's session in this browser ended with it: a guest now.
    assert fetch_json(page, "GET", f"{origin}/api/account")[1] == {"signed_in": False}
    status, body = fetch_json(
        page,
        "POST",
        f"{origin}/api/account/signin",
        {"email": email, "password": "violet-kettle-81"},
    )
    assert (status, body["code"]) == (400, "INVALID_CREDENTIALS")
    assert context.blocked == []
    context.close()


def wait_for(predicate, *, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out: {what}"
        time.sleep(0.25)


def test_graphiql_works_offline(platform, browser):
    context = OfflineContext(browser)
    page = context.context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    query = "{ categories { slug } }"
    page.goto(f"{platform.edge}/graphql#query={query.replace(' ', '%20')}")
    expect(page.locator(".graphiql-container")).to_be_visible()
    page.get_by_role("button", name=re.compile("Execute query")).click()
    result = page.locator(".result-window")
    expect(result).to_contain_text('"categories"')
    screenshot(page, "graphiql-offline")
    assert problems == []
    assert context.blocked == []
    context.close()


@pytest.mark.parametrize(
    "path, ready", [("/api/docs/", ".swagger-ui .info .title"), ("/api/redoc/", "h1")]
)
def test_swagger_and_redoc_work_offline(platform, browser, path, ready):
    context = OfflineContext(browser)
    page = context.context.new_page()
    page.goto(f"{platform.edge}{path}")
    expect(page.locator(ready).first).to_contain_text("Flash-sale order API")
    expect(page.get_by_text("/api/cart/items").first).to_be_visible()
    screenshot(page, f"api-docs-{path.strip('/').replace('/', '-')}")
    assert context.blocked == []
    context.close()


def test_api_index_links_schema_and_docs(platform, browser):
    context = OfflineContext(browser)
    page = context.context.new_page()
    page.goto(f"{platform.edge}/api/")
    page.get_by_role("link", name="/api/docs/").click()
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Flash-sale order API")
    status, index = fetch_json(page, "GET", f"{platform.edge}/api/")
    assert status == 200
    assert index["links"] == json.loads(
        '{"schema": "/api/schema/", "docs": "/api/docs/", "redoc": "/api/redoc/",'
        ' "cart": "/api/cart", "orders": "/api/orders"}'
    )
    assert context.blocked == []
    context.close()
