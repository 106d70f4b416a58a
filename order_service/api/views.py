"""Cart and checkout endpoints: transport only (parse, call a service, shape the answer)."""

from __future__ import annotations

import re

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from order_service.api import serializers as s
from order_service.api.ratelimit import ratelimit_check
from order_service.orders import errors, selectors, services
from order_service.orders.cart import SessionCart, Shopper, shopper_from_session
from order_service.orders.fulfillment import fulfillment_details_get

IDEMPOTENCY_HEADER = "Idempotency-Key"
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces

_errors = {code: OpenApiResponse(s.ErrorSerializer) for code in (400, 404, 409, 422, 429)}


class OrderApiView(APIView):
    ratelimit_scope = "api"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        ratelimit_check(request, scope=self.ratelimit_scope)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Carts and orders are one shopper's: no browser, edge or CDN may keep a copy.
        response["Cache-Control"] = "private, no-store"
        return response

    def shopper(self, request, *, create: bool) -> Shopper | None:
        user = request.user
        customer_id = user.pk if user.is_authenticated else None
        return shopper_from_session(request.session, customer_id=customer_id, create=create)

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
    )
    def post(self, request):
        data = _validated(s.CartItemCreateSerializer, request.data)
        services.cart_item_add(
            cart=SessionCart(request.session),
            shopper=self.shopper(request, create=True),
            sku=data["sku"],
            quantity=data["quantity"],
        )
        return self.cart_response(request, status.HTTP_201_CREATED)


class CartItemView(OrderApiView):
    @extend_schema(
        request=s.CartItemUpdateSerializer,
        responses={200: s.CartSerializer, **_errors},
        description="Set the quantity of a sku already in the cart.",
    )
    def patch(self, request, sku: str):
        data = _validated(s.CartItemUpdateSerializer, request.data)
        services.cart_item_set(
            cart=SessionCart(request.session),
            shopper=self.shopper(request, create=True),
            sku=sku,
            quantity=data["quantity"],
            must_exist=True,
        )
        return self.cart_response(request)

    @extend_schema(request=None, responses={200: s.CartSerializer, **_errors})
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


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
