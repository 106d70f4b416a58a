"""The storefront's public GraphQL types. Field names are a contract (docs/catalog.md):
change them only with a new field and a deprecation, and re-run the schema snapshot.

Every relation of Product resolves through the request's CatalogLoaders (loaders.py), so a
page of products costs the same number of SQL queries whatever its size.
"""

from __future__ import annotations

import base64
import binascii

import graphene
from graphene import relay

from shared.inventory import stock_status

from . import errors
from .loaders import INVENTORY_UNAVAILABLE

DEFAULT_REVIEWS = 5


def encode_cursor(kind: str, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{pk}".encode()).decode()


def decode_cursor(kind: str, cursor: str) -> int:
    try:
        prefix, _, pk = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if prefix != kind:
            raise ValueError(prefix)
        return int(pk)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.graphql_error(
            f"`after` is not a {kind} cursor from this API", errors.BAD_USER_INPUT
        ) from None


def check_page_size(first: int, max_page_size: int) -> None:
    # The limits module rejects these before execution; this guards direct schema use.
    if first < 0:
        raise errors.graphql_error("`first` cannot be negative", errors.BAD_USER_INPUT)
    if first > max_page_size:
        raise errors.graphql_error(
            f"`first` is {first}; at most {max_page_size} per page",
            errors.PAGE_SIZE_EXCEEDED,
            limit=max_page_size,
        )


class Money(graphene.ObjectType):
    amount = graphene.Decimal(required=True, description="Decimal amount, as a string.")
    currency = graphene.String(required=True, description="ISO 4217 code, e.g. EUR.")


def money(amount, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


class Category(graphene.ObjectType):
    slug = graphene.String(required=True)
    name = graphene.String(required=True)


class Rating(graphene.ObjectType):
    average = graphene.Float(description="Mean rating 1-5; null without reviews.")
    count = graphene.Int(required=True)


class Review(graphene.ObjectType):
    rating = graphene.Int(required=True)
    title = graphene.String(required=True)
    body = graphene.String(required=True)
    author = graphene.String(required=True)
    created_at = graphene.DateTime(required=True)

    @staticmethod
    def resolve_author(review, info):
        return review.author_name


class ReviewConnection(relay.Connection):
    class Meta:
        node = Review


class StockStatus(graphene.Enum):
    IN_STOCK = "IN_STOCK"
    LOW_STOCK = "LOW_STOCK"
    SOLD_OUT = "SOLD_OUT"


class Inventory(graphene.ObjectType):
    available = graphene.Int(required=True, description="Units that can be bought now.")
    status = graphene.Field(StockStatus, required=True)


class Attribute(graphene.ObjectType):
    name = graphene.String(required=True)
    value = graphene.String(required=True)


class FlashSale(graphene.ObjectType):
    price = graphene.Field(Money, required=True, description="The sale price.")
    starts_at = graphene.DateTime(required=True)
    ends_at = graphene.DateTime(required=True)
    per_shopper_limit = graphene.Int(
        required=True, description="Units one shopper may buy; 0 means no limit."
    )
    product = graphene.Field(lambda: Product, required=True)

    @staticmethod
    def resolve_price(sale, info):
        return money(sale.sale_price, sale.product.currency)


class Product(graphene.ObjectType):
    sku = graphene.String(required=True)
    slug = graphene.String(required=True)
    name = graphene.String(required=True)
    description = graphene.String(required=True)
    images = graphene.List(graphene.NonNull(graphene.String), required=True)
    attributes = graphene.List(graphene.NonNull(Attribute), required=True)
    price = graphene.Field(Money, required=True, description="The regular price.")
    category = graphene.Field(Category, required=True)
    rating = graphene.Field(Rating, required=True)
    reviews = graphene.Field(
        ReviewConnection,
        required=True,
        first=graphene.Int(default_value=DEFAULT_REVIEWS),
        after=graphene.String(description="A review cursor: the reviews older than it."),
        description="Newest reviews first.",
    )
    flash_sale = graphene.Field(FlashSale, description="The flash sale running now, if any.")
    next_flash_sale = graphene.Field(
        FlashSale, description="The next flash sale, not started yet, if any."
    )
    inventory = graphene.Field(
        Inventory, description="Availability from the inventory read model (Redis)."
    )

    @staticmethod
    def resolve_attributes(product, info):
        return [{"name": k, "value": str(v)} for k, v in sorted(product.attributes.items())]

    @staticmethod
    def resolve_price(product, info):
        return money(product.price, product.currency)

    @staticmethod
    def resolve_rating(product, info):
        return info.context.loaders.rating(product)

    @staticmethod
    def resolve_reviews(product, info, first=DEFAULT_REVIEWS, after=None, **_):
        first = DEFAULT_REVIEWS if first is None else first  # `first: null` is the default
        check_page_size(first, info.context.max_page_size)
        after_id = decode_cursor("review", after) if after else None
        rows, has_next = info.context.loaders.reviews(product, first, after_id)
        edges = [ReviewConnection.Edge(node=r, cursor=encode_cursor("review", r.id)) for r in rows]
        return ReviewConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=has_next,
                has_previous_page=after_id is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @staticmethod
    def resolve_flash_sale(product, info):
        sale = info.context.loaders.flash_sale(product)
        if sale is not None:
            sale.product = product  # already loaded: no query for the sale's currency
        return sale

    @staticmethod
    def resolve_next_flash_sale(product, info):
        sale = info.context.loaders.next_flash_sale(product)
        if sale is not None:
            sale.product = product
        return sale

    @staticmethod
    def resolve_inventory(product, info):
        available = info.context.loaders.availability(product)
        if available is INVENTORY_UNAVAILABLE:
            raise errors.graphql_error(
                "availability cannot be read right now", errors.INVENTORY_UNAVAILABLE
            )
        # Unknown (None) is shown as sold out, never guessed: see shared.inventory.
        return {"available": max(available or 0, 0), "status": stock_status(available)}


class ProductConnection(relay.Connection):
    class Meta:
        node = Product
