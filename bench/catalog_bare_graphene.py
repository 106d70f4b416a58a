"""A bare graphene query for the catalog bench: the same shape as the product graph (20
products, 5 reviews each) over objects built in memory, no Django, no database, no Redis.

It is the ceiling GraphQL itself puts on the product graph on this machine:
    gunicorn bench.catalog_bare_graphene:application --bind 127.0.0.1:PORT
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs

import graphene

NOW = datetime(2026, 11, 25, tzinfo=UTC)


class Money(graphene.ObjectType):
    amount = graphene.Decimal(required=True)
    currency = graphene.String(required=True)


class Category(graphene.ObjectType):
    slug = graphene.String(required=True)
    name = graphene.String(required=True)


class Rating(graphene.ObjectType):
    average = graphene.Float()
    count = graphene.Int(required=True)


class Review(graphene.ObjectType):
    rating = graphene.Int(required=True)
    title = graphene.String(required=True)
    body = graphene.String(required=True)
    author = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)


class ReviewEdge(graphene.ObjectType):
    node = graphene.Field(Review)


class ReviewConnection(graphene.ObjectType):
    edges = graphene.List(ReviewEdge, required=True)


class FlashSale(graphene.ObjectType):
    price = graphene.Field(Money, required=True)
    starts_at = graphene.DateTime(required=True)
    ends_at = graphene.DateTime(required=True)
    per_shopper_limit = graphene.Int(required=True)


class Inventory(graphene.ObjectType):
    available = graphene.Int(required=True)
    status = graphene.String(required=True)


class Product(graphene.ObjectType):
    sku = graphene.String(required=True)
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    images = graphene.List(graphene.NonNull(graphene.String), required=True)
    price = graphene.Field(Money, required=True)
    category = graphene.Field(Category, required=True)
    rating = graphene.Field(Rating, required=True)
    reviews = graphene.Field(ReviewConnection, required=True, first=graphene.Int())
    flash_sale = graphene.Field(FlashSale)
    inventory = graphene.Field(Inventory)

    @staticmethod
    def resolve_reviews(product, info, first=5):
        return {"edges": [{"node": r} for r in product["reviews"][:first]]}


class ProductEdge(graphene.ObjectType):
    cursor = graphene.String(required=True)
    node = graphene.Field(Product)


class PageInfo(graphene.ObjectType):
    has_next_page = graphene.Boolean(required=True)
    end_cursor = graphene.String()


class ProductConnection(graphene.ObjectType):
    edges = graphene.List(ProductEdge, required=True)
    page_info = graphene.Field(PageInfo, required=True)


def _product(i: int) -> dict:
    return {
        "sku": f"SKU-{i:06d}",
        "slug": f"product-{i}",
        "name": f"Product {i}",
        "images": [f"https://images.example.com/{i}/1.jpg"],
        "price": {"amount": Decimal("99.90"), "currency": "EUR"},
        "category": {"slug": "audio", "name": "Audio"},
        "rating": {"average": 4.2, "count": 25},
        "reviews": [
            {"rating": 4, "title": "Good", "body": "Works.", "author": "Ann", "created_at": NOW}
            for _ in range(10)
        ],
        "flash_sale": {
            "price": {"amount": Decimal("49.95"), "currency": "EUR"},
            "starts_at": NOW,
            "ends_at": NOW,
            "per_shopper_limit": 2,
        }
        if i <= 5
        else None,
        "inventory": {"available": 100, "status": "IN_STOCK"},
    }


PRODUCTS = [_product(i) for i in range(1, 101)]


class Query(graphene.ObjectType):
    products = graphene.Field(
        ProductConnection,
        required=True,
        first=graphene.Int(),
        after=graphene.String(),
        category=graphene.String(),
        on_sale=graphene.Boolean(),
    )

    @staticmethod
    def resolve_products(root, info, first=20, **_):
        edges = [{"cursor": p["sku"], "node": p} for p in PRODUCTS[:first]]
        return {"edges": edges, "page_info": {"has_next_page": True, "end_cursor": "x"}}


schema = graphene.Schema(query=Query)


def application(environ, start_response):
    params = parse_qs(environ.get("QUERY_STRING", ""))
    query = params.get("query", [""])[0]
    variables = json.loads(params.get("variables", ["{}"])[0])
    result = schema.execute(query, variables=variables)
    payload = {"data": result.data}
    if result.errors:
        payload["errors"] = [str(e) for e in result.errors]
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
