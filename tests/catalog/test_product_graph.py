"""The product graph over GraphQL: one request, a fixed number of SQL queries whatever the
page size, inventory from Redis only (issue 3, "Done when": N=5 vs N=50, Redis not SQL)."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from catalog_factories import CategoryFactory, FlashSaleFactory, ProductFactory, ReviewFactory
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import catalog_service
from catalog_service.graphql.context import GraphQLContext
from catalog_service.graphql.queries import query_text

pytestmark = pytest.mark.django_db

PRODUCT_GRAPH = query_text("product_graph")


@pytest.fixture
def catalog_page(inventory):
    """60 products with 6 reviews each, every third one on flash sale, all with stock."""
    category = CategoryFactory(slug="audio", name="Audio")
    products = ProductFactory.create_batch(60, category=category)
    for product in products:
        ReviewFactory.create_batch(6, product=product)
    for product in products[::3]:
        FlashSaleFactory(product=product)
    inventory.set_available_many({p.sku: 50 for p in products})
    return products


def _count_queries(gql, first: int) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        data = gql.data(PRODUCT_GRAPH, {"first": first, "reviews": 5})
    return len(captured.captured_queries), data


def test_query_count_for_5_products_equals_that_for_50(gql, catalog_page):
    five_queries, five = _count_queries(gql, 5)
    fifty_queries, fifty = _count_queries(gql, 50)

    assert len(five["products"]["edges"]) == 5
    assert len(fifty["products"]["edges"]) == 50
    # page (+ category join), reviews (window), ratings (aggregate), running flash sales
    assert five_queries == fifty_queries == 4
    nodes = [e["node"] for e in fifty["products"]["edges"]]
    assert all(len(n["reviews"]["edges"]) == 5 for n in nodes)
    assert sum(1 for n in nodes if n["flashSale"]) == 17  # products 1, 4, ..., 49


def test_aliases_with_other_review_page_sizes_add_one_query_each_not_per_product(gql, catalog_page):
    query = """{ products(first: 30) { edges { node { sku
        a: reviews(first: 1) { edges { node { title } } }
        b: reviews(first: 2) { edges { node { title } } } } } } }"""
    with CaptureQueriesContext(connection) as captured:
        data = gql.data(query)
    assert len(captured.captured_queries) == 3  # page + one review query per page size
    first = data["products"]["edges"][0]["node"]
    assert len(first["a"]["edges"]) == 1
    assert len(first["b"]["edges"]) == 2


def test_every_field_of_the_product_graph(gql, inventory):
    now = timezone.now()
    category = CategoryFactory(slug="phones", name="Phones")
    product = ProductFactory(
        sku="PH-1",
        slug="phone-one",
        name="Phone One",
        description="A phone.",
        images=["https://img.test/1.jpg", "https://img.test/2.jpg"],
        attributes={"colour": "blue", "storage": 128},
        price=Decimal("499.00"),
        currency="USD",
        category=category,
    )
    ReviewFactory(
        product=product,
        rating=5,
        title="Old",
        author_name="Ann",
        created_at=now - timedelta(days=3),
    )
    ReviewFactory(
        product=product,
        rating=2,
        title="Mid",
        author_name="Bob",
        created_at=now - timedelta(days=2),
    )
    ReviewFactory(
        product=product,
        rating=4,
        title="New",
        body="Good.",
        author_name="Cy",
        created_at=now - timedelta(days=1),
    )
    starts, ends = now - timedelta(minutes=5), now + timedelta(hours=2)
    FlashSaleFactory(
        product=product,
        sale_price=Decimal("249.50"),
        starts_at=starts,
        ends_at=ends,
        per_shopper_limit=3,
    )
    inventory.set_available(sku="PH-1", available=7)

    data = gql.data(
        """{ product(sku: "PH-1") { sku slug name description images
             attributes { name value } price { amount currency } category { slug name }
             rating { average count }
             reviews(first: 2) { edges { node { rating title body author createdAt } }
                                 pageInfo { hasNextPage } }
             flashSale { price { amount currency } startsAt endsAt perShopperLimit }
             inventory { available status } } }"""
    )
    newest = now - timedelta(days=1)
    assert data["product"] == {
        "sku": "PH-1",
        "slug": "phone-one",
        "name": "Phone One",
        "description": "A phone.",
        "images": ["https://img.test/1.jpg", "https://img.test/2.jpg"],
        "attributes": [{"name": "colour", "value": "blue"}, {"name": "storage", "value": "128"}],
        "price": {"amount": "499.00", "currency": "USD"},
        "category": {"slug": "phones", "name": "Phones"},
        "rating": {"average": 3.67, "count": 3},
        "reviews": {
            "edges": [
                {
                    "node": {
                        "rating": 4,
                        "title": "New",
                        "body": "Good.",
                        "author": "Cy",
                        "createdAt": newest.isoformat(),
                    }
                },
                {
                    "node": {
                        "rating": 2,
                        "title": "Mid",
                        "body": "Fine.",
                        "author": "Bob",
                        "createdAt": (now - timedelta(days=2)).isoformat(),
                    }
                },
            ],
            "pageInfo": {"hasNextPage": True},
        },
        "flashSale": {
            "price": {"amount": "249.50", "currency": "USD"},
            "startsAt": starts.isoformat(),
            "endsAt": ends.isoformat(),
            "perShopperLimit": 3,
        },
        "inventory": {"available": 7, "status": "LOW_STOCK"},
    }


def test_product_without_reviews_sale_or_stock_key(gql, caplog):
    ProductFactory(sku="BARE-1")
    with caplog.at_level(logging.WARNING, logger="catalog_service.catalog.selectors"):
        data = gql.data(
            """{ product(sku: "BARE-1") { rating { average count } reviews { edges { cursor } }
                 flashSale { endsAt } inventory { available status } } }"""
        )
    assert data["product"] == {
        "rating": {"average": None, "count": 0},
        "reviews": {"edges": []},
        "flashSale": None,
        # unknown availability is never guessed: shown sold out, and logged
        "inventory": {"available": 0, "status": "SOLD_OUT"},
    }
    assert [r.getMessage() for r in caplog.records] == [
        "inventory unknown for 1 sku(s), shown as sold out until rebuilt: BARE-1"
    ]


INVENTORY_PAGE = "{ products(first: 3) { edges { node { sku inventory { available status } } } } }"


def test_inventory_comes_from_redis_changing_it_changes_the_answer_without_sql(gql, inventory):
    for sku in ("INV-1", "INV-2", "INV-3"):
        ProductFactory(sku=sku)

    def page():
        with CaptureQueriesContext(connection) as captured:
            data = gql.data(INVENTORY_PAGE)
        answer = {e["node"]["sku"]: e["node"]["inventory"] for e in data["products"]["edges"]}
        return answer, [q["sql"] for q in captured.captured_queries]

    inventory.set_available_many({"INV-1": 500, "INV-2": 10, "INV-3": 0})
    before, before_sql = page()
    assert before == {
        "INV-1": {"available": 500, "status": "IN_STOCK"},
        "INV-2": {"available": 10, "status": "LOW_STOCK"},
        "INV-3": {"available": 0, "status": "SOLD_OUT"},
    }
    inventory.set_available_many({"INV-1": 3, "INV-2": 0, "INV-3": 42})
    after, after_sql = page()
    assert after == {
        "INV-1": {"available": 3, "status": "LOW_STOCK"},
        "INV-2": {"available": 0, "status": "SOLD_OUT"},
        "INV-3": {"available": 42, "status": "IN_STOCK"},
    }
    # the only SQL is the product page itself; nothing reads stock from the database
    assert len(before_sql) == len(after_sql) == 1
    assert "catalog_product" in after_sql[0]
    assert "stock" not in after_sql[0].lower()


def test_inventory_loader_reads_a_whole_page_in_one_redis_round_trip_and_no_sql(inventory):
    products = ProductFactory.create_batch(25)
    inventory.set_available_many({p.sku: i for i, p in enumerate(products)})
    context = GraphQLContext(request=None)
    context.loaders.register(products)
    calls = []
    client = inventory.client
    original = type(client).mget

    def counting_mget(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    type(client).mget = counting_mget
    try:
        with CaptureQueriesContext(connection) as captured:
            values = [context.loaders.availability(p) for p in products]
    finally:
        type(client).mget = original
    assert values == list(range(25))
    assert len(captured.captured_queries) == 0
    assert len(calls) == 1


def test_redis_down_answers_the_page_with_an_inventory_error(gql, private_redis):
    ProductFactory(sku="DOWN-1", name="Still browsable")
    url = private_redis.url(0)
    private_redis.stop()
    with override_settings(INVENTORY_REDIS_URL=url, REDIS_TIMEOUT=0.2):
        response = gql.post('{ product(sku: "DOWN-1") { name inventory { available status } } }')
    payload = response.json()
    assert response.status_code == 200
    assert payload["data"] == {"product": {"name": "Still browsable", "inventory": None}}
    assert [(e["extensions"]["code"], e["path"]) for e in payload["errors"]] == [
        ("INVENTORY_UNAVAILABLE", ["product", "inventory"])
    ]
    assert response["Cache-Control"] == "no-store"


def test_the_catalog_never_writes_stock():
    """Availability is read only here: fulfillment and the order service write it."""
    writes = (".set_available", ".reserve(", ".release(", ".restock(", ".commit(reservation")
    package = Path(catalog_service.__file__).parent
    offenders = [
        f"{path.relative_to(package)}: {call}"
        for path in package.rglob("*.py")
        for call in writes
        if call in path.read_text()
    ]
    assert offenders == []
