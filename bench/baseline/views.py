"""The monolith's HTTP views: the platform's public paths, bodies and answers."""

from __future__ import annotations

import hashlib
import json
import uuid

from django.http import HttpRequest, JsonResponse
from django.middleware.csrf import get_token
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from bench.baseline.models import Order, PersistedQuery
from bench.baseline.schema import schema
from bench.baseline.services import Refusal, cart_line_check, order_checkout


def _error(status: int, code: str, message: str, detail: dict | None = None) -> JsonResponse:
    return JsonResponse({"code": code, "message": message, "detail": detail or {}}, status=status)


def csrf_failure(request: HttpRequest, reason: str = "") -> JsonResponse:
    return _error(403, "CSRF_FAILED", "CSRF check failed", {"reason": reason})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


# --- GraphQL: Apollo's persisted-query protocol over GET and POST -------------------------


def _gql_error(message: str, code: str, status: int = 200) -> JsonResponse:
    return JsonResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]}, status=status
    )


@csrf_exempt
@require_http_methods(["GET", "POST"])
def graphql_view(request: HttpRequest) -> JsonResponse:
    try:
        if request.method == "GET":
            params = {k: request.GET.get(k) for k in ("query", "variables", "extensions")}
            body = {k: json.loads(v) if v and k != "query" else v for k, v in params.items()}
        else:
            body = json.loads(request.body or b"{}")
    except ValueError:
        return _gql_error("the request is not JSON", "BAD_REQUEST", 400)
    query = body.get("query")
    apq = (body.get("extensions") or {}).get("persistedQuery")
    if apq:
        sha = apq.get("sha256Hash", "")
        if query:
            if hashlib.sha256(query.encode()).hexdigest() != sha:
                return _gql_error(
                    "provided sha does not match query", "PERSISTED_QUERY_HASH_MISMATCH", 400
                )
            PersistedQuery.objects.get_or_create(sha256=sha, defaults={"query": query})
        else:
            stored = PersistedQuery.objects.filter(sha256=sha).first()
            if stored is None:
                return _gql_error("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND")
            query = stored.query
    if not query:
        return _gql_error("no query", "BAD_REQUEST", 400)
    result = schema.execute(query, variable_values=body.get("variables") or {})
    out: dict = {"data": result.data}
    if result.errors:
        out["errors"] = [
            {"message": str(e), "extensions": {"code": "BAD_USER_INPUT"}} for e in result.errors
        ]
    return JsonResponse(out)


# --- the cart (in the database session) and checkout -------------------------------------


def _shopper(request: HttpRequest) -> str:
    if "shopper_id" not in request.session:
        request.session["shopper_id"] = f"anon:{uuid.uuid4()}"
    return request.session["shopper_id"]


def _cart_answer(request: HttpRequest) -> dict:
    lines, total = [], 0
    for sku, quantity in request.session.get("cart", {}).items():
        problem = None
        try:
            product, price, limit, available = cart_line_check(sku=sku, quantity=quantity)
        except Refusal as refusal:
            problem, price, limit, available, product = refusal.code, 0, 0, 0, None
        line_total = price * quantity
        total += 0 if problem else line_total
        lines.append(
            {
                "sku": sku,
                "name": product.name if product else "",
                "quantity": quantity,
                "unit_price": str(price),
                "currency": "EUR",
                "line_total": str(line_total),
                "available": available,
                "problem": problem,
                "per_shopper_limit": limit,
            }
        )
    return {"lines": lines, "total": str(total), "currency": "EUR"}


@require_http_methods(["GET"])
def cart_view(request: HttpRequest) -> JsonResponse:
    get_token(request)  # hands out the CSRF cookie, as the order API does
    return JsonResponse(_cart_answer(request))


@require_http_methods(["POST"])
def cart_items_view(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body)
        sku, quantity = str(body["sku"]), int(body.get("quantity", 1))
    except (ValueError, KeyError, TypeError):
        return _error(400, "VALIDATION_ERROR", "sku and quantity are required")
    cart = request.session.get("cart", {})
    try:
        cart_line_check(sku=sku, quantity=cart.get(sku, 0) + quantity)
    except Refusal as refusal:
        return _error(refusal.status, refusal.code, refusal.code.lower(), refusal.detail)
    _shopper(request)
    cart[sku] = cart.get(sku, 0) + quantity
    request.session["cart"] = cart
    return JsonResponse(_cart_answer(request), status=201)


@require_http_methods(["POST"])
def orders_view(request: HttpRequest) -> JsonResponse:
    key = request.headers.get("Idempotency-Key", "")
    if not key:
        return _error(400, "IDEMPOTENCY_KEY_REQUIRED", "Idempotency-Key header required")
    try:
        body = json.loads(request.body) if request.body else {}
        lines = body.get("items") or [
            {"sku": s, "quantity": q} for s, q in request.session.get("cart", {}).items()
        ]
        items = {str(line["sku"]): int(line["quantity"]) for line in lines}
    except (ValueError, KeyError, TypeError, AttributeError):
        return _error(400, "VALIDATION_ERROR", "items: [{sku, quantity}]")
    if not items:
        return _error(422, "CART_EMPTY", "nothing to check out")
    try:
        order = order_checkout(shopper_id=_shopper(request), items=items, idempotency_key=key)
    except Refusal as refusal:
        return _error(refusal.status, refusal.code, refusal.code.lower(), refusal.detail)
    if not body.get("items"):
        request.session["cart"] = {}
    status_url = f"/api/orders/{order.id}"
    response = JsonResponse(
        {"order_id": str(order.id), "status": order.status, "status_url": status_url}, status=202
    )
    response["Location"] = status_url
    return response


@require_http_methods(["GET"])
def order_view(request: HttpRequest, order_id) -> JsonResponse:
    order = Order.objects.filter(id=order_id, shopper_id=request.session.get("shopper_id")).first()
    if order is None:
        return _error(404, "ORDER_NOT_FOUND", "no such order")
    return JsonResponse(
        {
            "order_id": str(order.id),
            "status": order.status,
            "reason": order.failure_reason,
            "total": str(order.total),
            "currency": order.currency,
            "created_at": order.created_at.isoformat(),
            "lines": [
                {"sku": line.sku, "quantity": line.quantity, "unit_price": str(line.unit_price)}
                for line in order.lines.all()
            ],
        }
    )
