"""The catalog's GraphQL schema: the storefront's read API (no mutations: staff edit the
catalog in the admin, and every write goes through catalog.services)."""

from __future__ import annotations

import graphene
from graphene import relay

from catalog_service.catalog import selectors

from . import errors
from .types import (
    Category,
    FlashSale,
    Product,
    ProductConnection,
    check_page_size,
    decode_cursor,
    encode_cursor,
)

DEFAULT_PAGE_SIZE = 20


class Query(graphene.ObjectType):
    # graphene.Field, not relay.ConnectionField: forward paging only (no before/last).
    products = graphene.Field(
        ProductConnection,
        required=True,
        first=graphene.Int(default_value=DEFAULT_PAGE_SIZE),
        after=graphene.String(),
        category=graphene.String(description="A category slug."),
        search=graphene.String(description="Part of the name, or an exact sku."),
        on_sale=graphene.Boolean(description="Only products with (or without) a running sale."),
        description="Active products, in catalog order.",
    )
    product = graphene.Field(
        Product, sku=graphene.String(), slug=graphene.String(), description="One of sku, slug."
    )
    categories = graphene.List(graphene.NonNull(Category), required=True)
    flash_sales = graphene.List(
        graphene.NonNull(FlashSale),
        required=True,
        active=graphene.Boolean(description="true: running now; false: not; null: all."),
        description="By start time, at most 100.",
    )

    @staticmethod
    def resolve_products(
        root,
        info,
        first=DEFAULT_PAGE_SIZE,
        after=None,
        category=None,
        search=None,
        on_sale=None,
        **_,
    ):
        ctx = info.context
        first = DEFAULT_PAGE_SIZE if first is None else first  # `first: null` is the default
        check_page_size(first, ctx.max_page_size)
        rows, has_next = selectors.product_page(
            first=first,
            after_id=decode_cursor("product", after) if after else None,
            category_slug=category,
            search=search,
            on_sale=on_sale,
            now=ctx.now,
        )
        ctx.loaders.register(rows)
        edges = [
            ProductConnection.Edge(node=p, cursor=encode_cursor("product", p.id)) for p in rows
        ]
        return ProductConnection(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=has_next,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )

    @staticmethod
    def resolve_product(root, info, sku=None, slug=None):
        if (sku is None) == (slug is None):
            raise errors.graphql_error("give exactly one of `sku` or `slug`", errors.BAD_USER_INPUT)
        product = selectors.product_get(sku=sku, slug=slug)
        if product is not None:
            info.context.loaders.register([product])
        return product

    @staticmethod
    def resolve_categories(root, info):
        return selectors.category_list()

    @staticmethod
    def resolve_flash_sales(root, info, active=None):
        ctx = info.context
        sales = selectors.flash_sale_list(active=active, now=ctx.now, limit=ctx.max_page_size)
        ctx.loaders.register([s.product for s in sales])
        return sales


schema = graphene.Schema(query=Query, auto_camelcase=True)
