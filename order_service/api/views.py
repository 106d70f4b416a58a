"""Cart and checkout endpoints: transport only (parse, call a service, shape the answer)."""

from __future__ import annotations

import re
from typing import Literal, overload

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_safe
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from order_service.api import serializers as s
from order_service.api.csrf import csrf_enforce, json_only
from order_service.api.errors import InvalidString
from order_service.api.ratelimit import ratelimit_check
from order_service.orders import errors, selectors, services
from order_service.orders.cart import SessionCart, Shopper, shopper_from_session
from order_service.orders.fulfillment import fulfillment_details_get
from shared.text import first_text_problem

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces

_errors = {code: OpenApiResponse(s.ErrorSerializer) for code in (400, 404, 409, 422, 429)}
# Examples name a demo sku (shared.demo; on sale in the demo): docs readers and the fuzzer's
# example phase (tests/system/test_api_fuzz.py) reach a real product with them.
DEMO_SKU = "SKU-000001"
_sku_path = OpenApiParameter(
    "sku", str, OpenApiParameter.PATH, examples=[OpenApiExample("demo sku", value=DEMO_SKU)]
)


_INDEX_LINKS = (
    ("schema", "api:schema", "OpenAPI 3 schema (YAML; ?format=json for JSON)"),
    ("docs", "api:docs", "Swagger UI"),
    ("redoc", "api:redoc", "Redoc"),
    ("cart", "api:cart", "the session's cart (GET); add with POST cart/items"),
    ("orders", "api:orders", "checkout (POST, Idempotency-Key header)"),
)


@require_safe
def api_index(request: HttpRequest) -> HttpResponse:
    """``/api/``: where the schema, the docs and the resources are (JSON, or HTML for a
    browser), instead of a 404."""
    links = {name: reverse(url) for name, url, _ in _INDEX_LINKS}
    if "text/html" in request.headers.get("Accept", "") and request.accepts("text/html"):
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a>: {}</li>',
            ((links[name], links[name], text) for name, _, text in _INDEX_LINKS),
        )
        return HttpResponse(
            format_html(
                '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
                "<title>Flash-sale order API</title></head><body>"
                "<h1>Flash-sale order API</h1><ul>{}</ul></body></html>",
                rows,
            )
        )
    meta = settings.SPECTACULAR_SETTINGS
    return JsonResponse({"name": meta["TITLE"], "version": meta["VERSION"], "links": links})


class OrderApiView(APIView):
    ratelimit_scope = "api"

    def initial(self, request, *args, **kwargs):
        # First: one answer (CSRF_FAILED) for a forged request, signed in or not, and it
        # spends none of the shopper's rate limit.
        json_only(request)
        csrf_enforce(request)
        super().initial(request, *args, **kwargs)
        ratelimit_check(request, scope=self.ratelimit_scope)
        _check_strings(request, kwargs)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Carts and orders are one shopper's: no browser, edge or CDN may keep a copy.
        response["Cache-Control"] = "private, no-store"
        return response

    @overload
    def shopper(self, request, *, create: Literal[True]) -> Shopper: ...
    @overload
    def shopper(self, request, *, create: bool) -> Shopper | None: ...
    def shopper(self, request, *, create: bool) -> Shopper | None:
        # The customer is the session's shopper account (ADR 0108), never request.user.
        return shopper_from_session(request.session, create=create)

    def cart_response(self, request, http_status=status.HTTP_200_OK) -> Response:
        view = selectors.cart_view(
            lines=SessionCart(request.session).lines(), shopper=self.shopper(request, create=False)
        )
        body = {"lines": view.lines, "total": view.total, "currency": view.currency}
        return Response(body, status=http_status)


class CartView(OrderApiView):
    @extend_schema(responses={200: s.CartSerializer, 429: _errors[429]})
    def get(self, request):
        return self.cart_response(request)


class CartItemsView(OrderApiView):
    @extend_schema(
        request=s.CartItemCreateSerializer,
        responses={201: s.CartSerializer, **_errors},
        description="Add units of a sku to the cart (added to what is there already).",
        examples=[
            OpenApiExample("one unit", value={"sku": DEMO_SKU, "quantity": 1}, request_only=True)
        ],
    )
    def post(self, request):
        data = _validated(s.CartItemCreateSerializer, request.data)
        services.cart_item_add(
            cart=SessionCart(request.session),
            shopper=self.shopper(request, create=True),
            sku=data["sku"],
            quantity=data["quantity"],
            passes=_passes(request),
        )
        return self.cart_response(request, status.HTTP_201_CREATED)


class CartItemView(OrderApiView):
    @extend_schema(
        request=s.CartItemUpdateSerializer,
        responses={200: s.CartSerializer, **_errors},
        description="Set the quantity of a sku already in the cart.",
        parameters=[_sku_path],
        examples=[OpenApiExample("two units", value={"quantity": 2}, request_only=True)],
    )
    def patch(self, request, sku: str):
        data = _validated(s.CartItemUpdateSerializer, request.data)
        services.cart_item_set(
            cart=SessionCart(request.session),
            shopper=self.shopper(request, create=True),
            sku=sku,
            quantity=data["quantity"],
            must_exist=True,
            passes=_passes(request),
        )
        return self.cart_response(request)

    @extend_schema(
        request=None, responses={200: s.CartSerializer, **_errors}, parameters=[_sku_path]
    )
    def delete(self, request, sku: str):
        services.cart_item_remove(cart=SessionCart(request.session), sku=sku)
        return self.cart_response(request)


class CheckoutView(OrderApiView):
    ratelimit_scope = "checkout"

    @extend_schema(
        request=s.CheckoutSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                location=OpenApiParameter.HEADER,
                required=True,
                description="A fresh value per purchase (e.g. a uuid). Retrying with the same "
                "key and body replays the first answer; keys are kept 24 h.",
            )
        ],
        responses={202: s.CheckoutAcceptedSerializer, 503: _errors[409], **_errors},
        description="Check out the session's cart (empty body) or the given items: reserve "
        "the stock and accept the order at once (202); fulfillment follows asynchronously.",
    )
    def post(self, request):
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            raise errors.IdempotencyKeyRequired()
        if not _KEY_RE.match(key):
            raise errors.IdempotencyKeyInvalid()
        body = request.data
        data = s.checkout_data(body)
        if data is None:  # not a plain body: the serializer validates it and words why
            data = _validated(s.CheckoutSerializer, body)
        shopper = self.shopper(request, create=True)
        cart = SessionCart(request.session)
        from_cart = "items" not in data
        items = cart.lines() if from_cart else {i["sku"]: i["quantity"] for i in data["items"]}
        result = services.order_checkout(
            shopper=shopper,
            items=items,
            idempotency_key=key,
            fingerprint=services.request_fingerprint(body=body),
            passes=_passes(request),
        )
        if from_cart and not result.replayed:
            cart.clear()
        response = Response(result.body, status=result.status)
        response["Location"] = result.body["status_url"]
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class OrderDetailView(OrderApiView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "include",
                str,
                enum=["fulfillment"],
                description="`fulfillment`: add payment and shipment details, asked of the "
                "fulfillment service through the mesh (`available: false` when it cannot answer)",
            )
        ],
        responses={200: s.OrderSerializer, 404: _errors[404], 429: _errors[429]},
    )
    def get(self, request, order_id: str):
        order = selectors.order_get_for_shopper(
            order_id=order_id, shopper=self.shopper(request, create=False)
        )
        data = s.OrderSerializer(order).data
        if request.query_params.get("include") == "fulfillment":
            data["fulfillment"] = fulfillment_details_get(order_id=order.id)
        return Response(data)


def _passes(request) -> dict:
    """The waiting room passes QueuePassMiddleware verified (ADR 0105)."""
    return getattr(request._request, "queue_passes", None) or {}


def _check_strings(request, path_params: dict) -> None:
    """Every string of the request (path, query, JSON body) is text the service can store
    or look up; else a 400 INVALID_STRING, never the database's or Redis's 500 (ADR 0069)."""
    limit = settings.API_MAX_STRING_LENGTH
    query = {key: request.query_params.getlist(key) for key in request.query_params}
    problem = (
        first_text_problem(path_params, where="path", max_length=limit)
        or first_text_problem(query, where="query", max_length=limit)
        or first_text_problem(request.data, where="body", max_length=limit)
    )
    if problem is not None:
        raise InvalidString(message=problem.message, where=problem.where, reason=problem.reason)


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
