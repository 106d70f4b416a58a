"""``/``: the storefront page. The HTML is static; its script asks /graphql for products
with the APQ GET protocol (hash first, register by POST only if the server does not know
it), so the browse traffic it makes is the cacheable kind."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog_service.graphql.persisted import query_hash
from catalog_service.graphql.queries import query_text

PAGE_SIZE = 24


@require_GET
def storefront(request: HttpRequest) -> HttpResponse:
    query = query_text("product_graph")
    response = render(
        request,
        "storefront/index.html",
        {"query": query, "query_hash": query_hash(query), "page_size": PAGE_SIZE},
    )
    response["Cache-Control"] = "public, max-age=60"
    return response
