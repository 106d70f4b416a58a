"""Shopper accounts in a real browser (issue 13): Debian's Chromium, driven by Playwright,
through the edge of a real platform, every control found by its role and accessible name.

A guest fills a cart, creates an account (the cart stays), buys, finds the order under
"My orders", signs out (the session is forgotten: the cart too), fills a cart again as a
guest, mistypes the password (the error in words, nothing changed), signs in (the guest's
cart stays) and sees the order from before. Every browser context is offline but for
127.0.0.1.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
import requests
from browser import OfflineContext, assert_contrast_aa, screenshot
from platform_tools import HIGH_LIMITS, seeded_platform
from playwright.sync_api import expect

pytestmark = pytest.mark.system

FIRST_SKU = "SKU-000001"
SECOND_SKU = "SKU-000002"
PASSWORD = "correct horse 42"


@pytest.fixture(scope="module")
def platform(tmp_path_factory, backing):
    # One browser from 127.0.0.1 signing in and out: meet the apps, not the edge's 429s.
    with seeded_platform(tmp_path_factory, backing, env=HIGH_LIMITS, products=4) as running:
        yield running


@pytest.fixture
def context(browser, platform):
    offline = OfflineContext(browser, base_url=platform.edge)
    yield offline.context
    blocked = list(offline.blocked)
    offline.close()
    assert blocked == [], f"requests that left 127.0.0.1: {blocked}"


def product(platform, sku: str) -> tuple[str, str]:
    with psycopg.connect(platform.env["CATALOG_DATABASE_URL"]) as conn:
        return conn.execute(
            "SELECT name, slug FROM catalog_product WHERE sku = %s", [sku]
        ).fetchone()


def add_to_cart(page, platform, sku: str) -> str:
    name, slug = product(platform, sku)
    page.goto(f"/products/{slug}")
    expect(page.locator("#availability")).to_have_text("In stock")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_text("Added 1 to your cart.")).to_be_visible()
    return name


def cart_lines(page):
    return page.get_by_role("list", name="Cart lines").get_by_role("listitem")


def header(page):
    return page.get_by_role("navigation", name="Main")


def test_sign_up_buy_sign_out_wrong_password_sign_in_keeps_the_cart(platform, context):
    page = context.new_page()
    page.set_default_timeout(20_000)
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"

    # A guest: "Sign in" in the header; a cart with one product.
    page.goto("/")
    expect(header(page).get_by_role("link", name="Sign in")).to_be_visible()
    first = add_to_cart(page, platform, FIRST_SKU)

    # Sign up from the header's link; the account page greets by name, the header too.
    header(page).get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account/signin$"))
    page.get_by_role("link", name="Create an account").click()
    page.get_by_role("textbox", name="Name").fill("Ada Lovelace")
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("Please choose another password:")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_text("Signed in as Ada Lovelace")).to_be_visible()
    expect(header(page).get_by_role("link", name="Ada Lovelace")).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()
    assert_contrast_aa(page)
    screenshot(page, "account-new")

    # The guest's cart is the account's now: buy it.
    page.goto("/cart")
    expect(cart_lines(page)).to_have_count(1)
    expect(cart_lines(page)).to_contain_text(first)
    page.get_by_role("button", name="Place order").click()
    expect(page.get_by_role("heading", name="Order confirmed")).to_be_visible()
    order_id = page.locator("#order-number").inner_text()

    # My orders lists it, with a link to its page.
    header(page).get_by_role("link", name="Ada Lovelace").click()
    orders = page.get_by_role("list", name="My orders").get_by_role("listitem")
    expect(orders).to_have_count(1)
    link = orders.get_by_role("link", name=f"Order {order_id}")
    expect(link).to_have_attribute("href", f"/orders/{order_id}")
    assert_contrast_aa(page)
    screenshot(page, "account-orders")
    link.click()
    expect(page).to_have_url(re.compile(f"/orders/{order_id}$"))
    expect(page.get_by_role("status")).to_have_text(
        re.compile("^(Order received|Paid|Fulfilled)"), timeout=30_000
    )

    # Sign out: the session is forgotten; the header says "Sign in" again.
    page.goto("/account")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(header(page).get_by_role("link", name="Sign in")).to_be_visible()
    page.goto("/account")
    expect(page).to_have_url(f"{platform.edge}/account/signin?next=/account")

    # A guest again, with a new cart; a wrong password is refused in words.
    second = add_to_cart(page, platform, SECOND_SKU)
    header(page).get_by_role("link", name="Sign in").click()
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The email or the password is not right. Please try again."
    )
    expect(page.get_by_label("Password")).to_be_focused()
    expect(header(page).get_by_role("link", name="Sign in")).to_be_visible()
    assert_contrast_aa(page)
    screenshot(page, "account-wrong-password")

    # The right one: signed in, the guest's cart kept, the earlier order listed.
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(header(page).get_by_role("link", name="Ada Lovelace")).to_be_visible()
    orders = page.get_by_role("list", name="My orders").get_by_role("listitem")
    expect(orders.get_by_role("link", name=f"Order {order_id}")).to_be_visible()
    page.goto("/cart")
    expect(cart_lines(page)).to_have_count(1)
    expect(cart_lines(page)).to_contain_text(second)


def test_the_account_pages_are_public_shells(platform):
    """Nothing personal in their HTML: the same cacheable shell for everybody, no cookie."""
    for path in ("/account", "/account/signin", "/account/signup", "/waiting-room/any-room"):
        answer = requests.get(f"{platform.edge}{path}", timeout=10)
        assert answer.status_code == 200, path
        assert answer.headers["Cache-Control"] == "public, max-age=60", path
        assert "Set-Cookie" not in answer.headers, path
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"], path
        # the only scripts: the one file, and the JSON data block (never run)
        scripts = re.findall(r"<script\b[^>]*>", answer.text)
        assert all(" src=" in s or 'type="application/json"' in s for s in scripts), scripts


def test_sign_in_sends_back_to_a_same_site_next_only(platform, context):
    page = context.new_page()
    page.set_default_timeout(20_000)
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    page.goto("/account/signup?next=https://evil.example/steal")
    page.get_by_role("textbox", name="Name").fill("Grace")
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{platform.edge}/account")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/$"))
    page.goto("/account/signin?next=/cart")
    page.get_by_role("textbox", name="Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{platform.edge}/cart")
