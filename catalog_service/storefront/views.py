"""The storefront's pages (docs/storefront.md, ADR 0075): server-rendered shells plus one
small script.

Nothing personal is ever in these HTML pages: product data comes from /graphql as
persisted-query GETs (cacheable at the edge and by a CDN), the cart and orders from the
order API under /api/, asked by the browser with the shopper's session cookie; the waiting
room's place and pass from the order service under /queue/ (ADR 0110). So the grid,
product, waiting-room and account pages are public and cacheable; the cart and order pages
are marked ``no-store`` only because their URLs belong to one shopper.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import cache
from pathlib import Path

from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from catalog_service.catalog import selectors
from catalog_service.graphql.persisted import query_hash
from catalog_service.graphql.queries import query_text

PAGE_SIZE = 24
SCRIPT = "storefront/storefront.js"
PUBLIC = "public, max-age=60"
PERSONAL = "private, no-store"


@cache
def _script_url() -> str:
    # The file's own hash in the URL: a new script is a new URL, so NGINX may let browsers
    # keep it (expires) without anyone seeing an old script after a deploy.
    source = Path(__file__).resolve().parent / "static" / SCRIPT
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    return f"{staticfiles_storage.url(SCRIPT)}?v={digest}"


def _queries(*names: str) -> dict[str, dict[str, str]]:
    """The persisted queries a page uses: its script sends the hash, the text only once."""
    out = {}
    for name in names:
        text = query_text(f"storefront_{name}")
        out[name] = {"hash": query_hash(text), "query": text}
    return out


def _page(request, template: str, *, queries: tuple[str, ...], cache_control: str, **context):
    context.update(queries=_queries(*queries), script_url=_script_url())
    response = render(request, f"storefront/{template}", context)
    response["Cache-Control"] = cache_control
    return response


@require_GET
def storefront(request: HttpRequest) -> HttpResponse:
    """``/``: the grid. Filters and the page cursor are in the URL (so in the cache key)."""
    return _page(
        request,
        "grid.html",
        queries=("grid",),
        cache_control=PUBLIC,
        page_size=PAGE_SIZE,
        category=request.GET.get("category", ""),
        on_sale=request.GET.get("on_sale") == "1",
    )


@require_GET
def product_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/products/<slug>``: one product; 404 for a slug the catalog does not sell."""
    product = selectors.product_get(slug=slug)
    if product is None:
        raise Http404("no such product")
    return _page(
        request,
        "product.html",
        queries=("product",),
        cache_control=PUBLIC,
        slug=product.slug,
        name=product.name,
    )


@require_GET
def cart_page(request: HttpRequest) -> HttpResponse:
    """``/cart``: the script reads and changes the cart through /api/cart."""
    return _page(request, "cart.html", queries=(), cache_control=PERSONAL)


@require_GET
def order_page(request: HttpRequest, order_id: uuid.UUID) -> HttpResponse:
    """``/orders/<id>``: the script follows /api/orders/<id> (only its shopper may read it)."""
    return _page(request, "order.html", queries=(), cache_control=PERSONAL, order_id=order_id)


@require_GET
def waiting_room_page(request: HttpRequest, slug: str) -> HttpResponse:
    """``/waiting-room/<slug>``: the same shell for everyone (ADR 0110). The script joins the
    queue (``POST /queue/<slug>/join``), follows the shared status document and takes the
    pass; the catalog does not know the rooms (they are the order service's), so an unknown
    slug is told by the join's ``UNKNOWN_ROOM``, not by a 404 here."""
    return _page(request, "waiting_room.html", queries=(), cache_control=PUBLIC, slug=slug)


@require_GET
def account_signin_page(request: HttpRequest) -> HttpResponse:
    """``/account/signin``: the form posts to ``/api/account/signin`` from the script."""
    return _page(request, "account_signin.html", queries=(), cache_control=PUBLIC)


@require_GET
def account_signup_page(request: HttpRequest) -> HttpResponse:
    """``/account/signup``: the form posts to ``/api/account/signup`` from the script."""
    return _page(request, "account_signup.html", queries=(), cache_control=PUBLIC)


@require_GET
def account_page(request: HttpRequest) -> HttpResponse:
    """``/account``: the script fills in the name and "my orders" from ``/api/account``."""
    return _page(request, "account.html", queries=(), cache_control=PUBLIC)
