"""The storefront's persisted queries (issue 9): the grid's SQL stays constant in the page
size with `nextFlashSale`, reviews page with a cursor, and the pages answer as they should."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from catalog_factories import CategoryFactory, FlashSaleFactory, ProductFactory, ReviewFactory
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog_service.catalog.models import Product
from catalog_service.graphql.queries import query_text

pytestmark = pytest.mark.django_db

GRID = query_text("storefront_grid")
PRODUCT = query_text("storefront_product")


@pytest.fixture
def shelf(inventory):
    category = CategoryFactory(slug="kitchen", name="Kitchen")
    products = ProductFactory.create_batch(30, category=category)
    now = timezone.now()
    for product in products[::3]:
        FlashSaleFactory(product=product)
    for product in products[1::3]:  # a sale planned for later
        FlashSaleFactory(
            product=product,
            sale_price=Decimal("5.00"),
            starts_at=now + timedelta(hours=2),
            ends_at=now + timedelta(hours=3),
            per_shopper_limit=1,
        )
    inventory.set_available_many({p.sku: 20 for p in products})
    return products


def _grid(gql, first):
    with CaptureQueriesContext(connection) as captured:
        data = gql.data(GRID, {"first": first})
    return len(captured.captured_queries), data


def test_the_grid_query_costs_the_same_sql_for_3_or_30_products(gql, shelf):
    three_queries, three = _grid(gql, 3)
    thirty_queries, thirty = _grid(gql, 30)
    assert len(three["products"]["edges"]) == 3
    assert len(thirty["products"]["edges"]) == 30
    # categories, page, ratings, running sales, next sales
    assert three_queries == thirty_queries == 5
    nodes = [e["node"] for e in thirty["products"]["edges"]]
    assert sum(1 for n in nodes if n["flashSale"]) == 10
    upcoming = [n for n in nodes if n["nextFlashSale"]]
    assert len(upcoming) == 10
    assert all(n["flashSale"] is None for n in upcoming)
    assert upcoming[0]["nextFlashSale"]["price"] == {"amount": "5.00", "currency": "EUR"}
    assert upcoming[0]["nextFlashSale"]["perShopperLimit"] == 1
    assert thirty["categories"] == [{"slug": "kitchen", "name": "Kitchen"}]


def test_reviews_page_with_a_cursor_newest_first_without_overlap(gql, shelf):
    product = shelf[0]
    reviews = ReviewFactory.create_batch(12, product=product)
    newest_first = [r.title for r in sorted(reviews, key=lambda r: r.created_at, reverse=True)]
    seen, after = [], None
    for expected_next in (True, True, False):
        variables = {"slug": product.slug, "reviews": 5}
        if after:
            variables["after"] = after
        with CaptureQueriesContext(connection) as captured:
            page = gql.data(PRODUCT, variables)["product"]["reviews"]
        seen += [e["node"]["title"] for e in page["edges"]]
        assert page["pageInfo"]["hasNextPage"] is expected_next
        after = page["pageInfo"]["endCursor"]
        assert len(captured.captured_queries) == 5  # product, reviews, rating, two sale lookups
    assert seen == newest_first


def test_a_product_cursor_is_not_a_review_cursor(gql, shelf):
    product_cursor = gql.data(GRID, {"first": 1})["products"]["pageInfo"]["endCursor"]
    answer = gql.post(PRODUCT, {"slug": shelf[0].slug, "after": product_cursor}).json()
    assert answer["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_the_pages(client, shelf):
    product = shelf[0]
    page = client.get(f"/products/{product.slug}")
    assert (page.status_code, page["Cache-Control"]) == (200, "public, max-age=60")
    assert f"<h1>{product.name}</h1>" in page.content.decode()
    assert client.get("/products/no-such-thing").status_code == 404
    for url in ("/cart", "/orders/6f1c2a51-8f0e-4b8e-a7c1-2d3b4c5d6e7f"):
        page = client.get(url)
        assert (page.status_code, page["Cache-Control"]) == (200, "private, no-store")
        assert "storefront.js?v=" in page.content.decode()
    assert client.get("/orders/not-a-uuid").status_code == 404
    assert client.post("/cart").status_code == 405


def test_seed_demo_draws_local_pictures_and_points_products_at_them(
    settings, tmp_path, offers_redis, capsys
):
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo", products=3, reviews_min=0, reviews_max=0)
    product = Product.objects.get(sku="SKU-000001")
    assert product.images == [
        "/static/media/catalog/products/SKU-000001-1.svg",
        "/static/media/catalog/products/SKU-000001-2.svg",
    ]
    drawn = sorted(p.name for p in (tmp_path / "media" / "products").iterdir())
    assert drawn == [f"SKU-00000{i}-{n}.svg" for i in (1, 2, 3) for n in (1, 2)]
    svg = (tmp_path / "media" / "products" / "SKU-000001-1.svg").read_text()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg" width="320" height="240"')
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")  # nothing to fetch
    assert len(svg) < 1000
    assert "6 images drawn" in capsys.readouterr().out

    # an earlier seed's external URL and a wiped picture are both mended by a re-run
    Product.objects.filter(sku="SKU-000002").update(images=["https://images.example.com/x.jpg"])
    (tmp_path / "media" / "products" / "SKU-000003-2.svg").unlink()
    call_command("seed_demo", products=3, reviews_min=0, reviews_max=0)
    out = capsys.readouterr().out
    assert "images: 1 drawn in" in out and "1 products pointed at them" in out
    assert Product.objects.get(sku="SKU-000002").images[0].startswith("/static/media/")


def test_the_waiting_room_and_account_pages_are_public_shells(client):
    """Issue 13 (ADR 0110): the same HTML for everyone; the script does the personal part."""
    for url, page_name in (
        ("/waiting-room/mega-deal-2026", "waiting-room"),
        ("/account", "account"),
        ("/account/signin", "signin"),
        ("/account/signup", "signup"),
    ):
        page = client.get(url)
        assert (page.status_code, page["Cache-Control"]) == (200, "public, max-age=60"), url
        html = page.content.decode()
        assert f'<body data-page="{page_name}">' in html
        assert '<a href="/account/signin" id="account-link">Sign in</a>' in html
        assert not page.cookies, url
    assert (
        'data-slug="mega-deal-2026"' in client.get("/waiting-room/mega-deal-2026").content.decode()
    )
    # the room slugs the edge routes under /queue/ only
    for bad in ("/waiting-room/Mega", "/waiting-room/a_b", "/waiting-room/" + "a" * 65):
        assert client.get(bad).status_code == 404, bad
    # without the script a form posts here: refused, the password never in a URL
    signin = client.get("/account/signin").content.decode()
    assert '<form id="signin-form" class="account" method="post" action="/account/signin"' in signin
    assert client.post("/account/signin", {"email": "a@b.c", "password": "x"}).status_code == 405
