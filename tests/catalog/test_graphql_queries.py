"""The rest of the public contract: paging, filters, product(sku|slug), categories,
flashSales(active)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from catalog_factories import CategoryFactory, FlashSaleFactory, ProductFactory
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

pytestmark = pytest.mark.django_db

PAGE = """query($first: Int, $after: String, $category: String, $search: String,
                $onSale: Boolean) {
  products(first: $first, after: $after, category: $category, search: $search,
           onSale: $onSale) {
    edges { node { sku } } pageInfo { hasNextPage hasPreviousPage endCursor } } }"""


def skus(data):
    return [e["node"]["sku"] for e in data["products"]["edges"]]


def test_forward_paging_with_cursors(gql):
    for n in range(5):
        ProductFactory(sku=f"PG-{n}")
    ProductFactory(sku="PG-HIDDEN", is_active=False)
    first = gql.data(PAGE, {"first": 2})
    assert skus(first) == ["PG-0", "PG-1"]
    assert first["products"]["pageInfo"]["hasNextPage"] is True
    assert first["products"]["pageInfo"]["hasPreviousPage"] is False
    after = first["products"]["pageInfo"]["endCursor"]
    second = gql.data(PAGE, {"first": 3, "after": after})
    assert skus(second) == ["PG-2", "PG-3", "PG-4"]
    assert second["products"]["pageInfo"]["hasNextPage"] is False
    assert second["products"]["pageInfo"]["hasPreviousPage"] is True


def test_bad_cursor_is_bad_user_input(gql):
    response = gql.post(PAGE, {"after": "bm90LWEtY3Vyc29y"})
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert payload["errors"][0]["message"] == "`after` is not a product cursor from this API"


def test_filters(gql):
    audio = CategoryFactory(slug="audio", name="Audio")
    home = CategoryFactory(slug="home", name="Home")
    ProductFactory(sku="F-1", name="Loud Speaker", category=audio)
    on_sale = ProductFactory(sku="F-2", name="Quiet Speaker", category=audio)
    ProductFactory(sku="F-3", name="Lamp", category=home)
    FlashSaleFactory(product=on_sale)
    ended = ProductFactory(sku="F-4", name="Old deal", category=home)
    FlashSaleFactory(
        product=ended,
        starts_at=timezone.now() - timedelta(days=2),
        ends_at=timezone.now() - timedelta(days=1),
    )
    assert skus(gql.data(PAGE, {"category": "audio"})) == ["F-1", "F-2"]
    assert skus(gql.data(PAGE, {"search": "speaker"})) == ["F-1", "F-2"]
    assert skus(gql.data(PAGE, {"search": "f-3"})) == ["F-3"]
    assert skus(gql.data(PAGE, {"onSale": True})) == ["F-2"]
    assert skus(gql.data(PAGE, {"onSale": False})) == ["F-1", "F-3", "F-4"]
    assert skus(gql.data(PAGE, {"category": "home", "onSale": True})) == []


def test_product_by_sku_or_slug(gql):
    ProductFactory(sku="ONE-1", slug="one-1")
    ProductFactory(sku="OFF-1", slug="off-1", is_active=False)
    assert gql.data('{ product(sku: "ONE-1") { slug } }') == {"product": {"slug": "one-1"}}
    assert gql.data('{ product(slug: "one-1") { sku } }') == {"product": {"sku": "ONE-1"}}
    assert gql.data('{ product(sku: "NOPE") { sku } }') == {"product": None}
    assert gql.data('{ product(sku: "OFF-1") { sku } }') == {"product": None}
    payload = gql.post("{ product { sku } }").json()
    assert payload["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert payload["errors"][0]["message"] == "give exactly one of `sku` or `slug`"


def test_categories(gql):
    CategoryFactory(slug="b", name="Beta")
    CategoryFactory(slug="a", name="Alpha")
    assert gql.data("{ categories { slug name } }") == {
        "categories": [{"slug": "a", "name": "Alpha"}, {"slug": "b", "name": "Beta"}]
    }


def test_flash_sales_active_filter_and_constant_queries(gql, inventory):
    now = timezone.now()
    running = [FlashSaleFactory(product=ProductFactory(sku=f"FS-{n}")) for n in range(4)]
    FlashSaleFactory(
        product=ProductFactory(sku="FS-LATER"),
        starts_at=now + timedelta(hours=1),
        ends_at=now + timedelta(hours=2),
    )
    inventory.set_available_many({"FS-0": 5, "FS-1": 50})
    query = """query($active: Boolean) { flashSales(active: $active) { perShopperLimit
        price { amount } product { sku rating { count } flashSale { perShopperLimit }
        inventory { status } } } }"""
    with CaptureQueriesContext(connection) as captured:
        data = gql.data(query, {"active": True})
    # sales (+ products, categories), ratings, running sales: not one per sale
    assert len(captured.captured_queries) == 3
    assert [s["product"]["sku"] for s in data["flashSales"]] == [f"FS-{n}" for n in range(4)]
    assert data["flashSales"][0] == {
        "perShopperLimit": 2,
        "price": {"amount": "60.00"},
        "product": {
            "sku": "FS-0",
            "rating": {"count": 0},
            "flashSale": {"perShopperLimit": 2},
            "inventory": {"status": "LOW_STOCK"},
        },
    }
    assert len(running) == 4
    later = gql.data("{ flashSales(active: false) { product { sku } } }")
    assert later == {"flashSales": [{"product": {"sku": "FS-LATER"}}]}
    everything = gql.data("{ flashSales { product { sku } } }")
    assert len(everything["flashSales"]) == 5


def test_flash_sales_are_capped_at_the_page_size(gql):
    for n in range(4):
        FlashSaleFactory(product=ProductFactory(sku=f"CAP-{n}"))
    with override_settings(GRAPHQL_MAX_PAGE_SIZE=3):
        data = gql.data("{ flashSales { product { sku } } }")
    assert [s["product"]["sku"] for s in data["flashSales"]] == ["CAP-0", "CAP-1", "CAP-2"]
