"""The monolith's GraphQL schema: the storefront's product query, straight from the database.

The same field names as the catalog's schema for ``product(slug:)`` and ``categories``
(catalog_service/graphql/queries/storefront_product.graphql runs unchanged); resolvers read
PostgreSQL on every request, availability included (no Redis, no loaders: the old shop).
"""

from __future__ import annotations

import base64

import graphene
from django.utils import timezone

from bench.baseline.models import Category, FlashSale, Product, Review, Stock

LOW_STOCK = 10


class Money(graphene.ObjectType):
    amount = graphene.Decimal(required=True)
    currency = graphene.String(required=True)


class CategoryType(graphene.ObjectType):
    slug = graphene.String(required=True)
    name = graphene.String(required=True)


class Attribute(graphene.ObjectType):
    name = graphene.String(required=True)
    value = graphene.String(required=True)


class Rating(graphene.ObjectType):
    average = graphene.Float()
    count = graphene.Int(required=True)


class ReviewNode(graphene.ObjectType):
    rating = graphene.Int(required=True)
    title = graphene.String(required=True)
    body = graphene.String(required=True)
    author = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)


class ReviewEdge(graphene.ObjectType):
    cursor = graphene.String(required=True)
    node = graphene.Field(ReviewNode, required=True)


class PageInfo(graphene.ObjectType):
    has_next_page = graphene.Boolean(required=True)
    end_cursor = graphene.String()


class ReviewConnection(graphene.ObjectType):
    edges = graphene.List(graphene.NonNull(ReviewEdge), required=True)
    page_info = graphene.Field(PageInfo, required=True)


class Sale(graphene.ObjectType):
    price = graphene.Field(Money, required=True)
    starts_at = graphene.DateTime(required=True)
    ends_at = graphene.DateTime(required=True)
    per_shopper_limit = graphene.Int(required=True)


class Inventory(graphene.ObjectType):
    available = graphene.Int(required=True)
    status = graphene.String(required=True)


def _sale(sale: FlashSale | None, currency: str) -> dict | None:
    if sale is None:
        return None
    return {
        "price": {"amount": sale.sale_price, "currency": currency},
        "starts_at": sale.starts_at,
        "ends_at": sale.ends_at,
        "per_shopper_limit": sale.per_shopper_limit,
    }


class ProductType(graphene.ObjectType):
    sku = graphene.String(required=True)
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    images = graphene.List(graphene.NonNull(graphene.String), required=True)
    attributes = graphene.List(graphene.NonNull(Attribute), required=True)
    price = graphene.Field(Money, required=True)
    category = graphene.Field(CategoryType, required=True)
    rating = graphene.Field(Rating, required=True)
    reviews = graphene.Field(
        ReviewConnection,
        required=True,
        first=graphene.Int(default_value=5),
        after=graphene.String(),
    )
    flash_sale = graphene.Field(Sale)
    next_flash_sale = graphene.Field(Sale)
    inventory = graphene.Field(Inventory)

    @staticmethod
    def resolve_attributes(product: Product, info):
        return [{"name": k, "value": str(v)} for k, v in (product.attributes or {}).items()]

    @staticmethod
    def resolve_price(product: Product, info):
        return {"amount": product.price, "currency": product.currency}

    @staticmethod
    def resolve_rating(product: Product, info):
        ratings = list(product.reviews.values_list("rating", flat=True))
        return {"average": sum(ratings) / len(ratings) if ratings else None, "count": len(ratings)}

    @staticmethod
    def resolve_reviews(product: Product, info, first: int, after: str | None = None):
        offset = int(base64.urlsafe_b64decode(after.encode()).decode()) if after else 0
        rows = list(
            Review.objects.filter(product=product).order_by("-created_at", "-id")[
                offset : offset + first + 1
            ]
        )
        edges = [
            {
                "cursor": base64.urlsafe_b64encode(str(offset + i + 1).encode()).decode(),
                "node": {
                    "rating": r.rating,
                    "title": r.title,
                    "body": r.body,
                    "author": r.author_name,
                    "created_at": r.created_at,
                },
            }
            for i, r in enumerate(rows[:first])
        ]
        return {
            "edges": edges,
            "page_info": {
                "has_next_page": len(rows) > first,
                "end_cursor": edges[-1]["cursor"] if edges else None,
            },
        }

    @staticmethod
    def resolve_flash_sale(product: Product, info):
        now = timezone.now()
        sale = product.flash_sales.filter(starts_at__lte=now, ends_at__gt=now).first()
        return _sale(sale, product.currency)

    @staticmethod
    def resolve_next_flash_sale(product: Product, info):
        sale = product.flash_sales.filter(starts_at__gt=timezone.now()).order_by("starts_at")
        return _sale(sale.first(), product.currency)

    @staticmethod
    def resolve_inventory(product: Product, info):
        stock = Stock.objects.filter(sku=product.sku).first()
        available = stock.on_hand if stock else 0
        status = (
            "SOLD_OUT" if available <= 0 else "LOW_STOCK" if available <= LOW_STOCK else "IN_STOCK"
        )
        return {"available": available, "status": status}


class Query(graphene.ObjectType):
    categories = graphene.List(graphene.NonNull(CategoryType), required=True)
    product = graphene.Field(ProductType, sku=graphene.String(), slug=graphene.String())

    @staticmethod
    def resolve_categories(root, info):
        return Category.objects.order_by("name")

    @staticmethod
    def resolve_product(root, info, sku: str | None = None, slug: str | None = None):
        found = Product.objects.select_related("category").filter(is_active=True)
        return found.filter(**({"sku": sku} if sku else {"slug": slug})).first()


schema = graphene.Schema(query=Query)
