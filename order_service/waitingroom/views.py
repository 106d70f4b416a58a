"""The waiting room's HTTP API under ``/queue/`` (docs/waiting-room.md): plain Django JSON
views, not DRF, because they must be cheap. ``rooms`` and ``status`` are the same for
everyone and touch no session (the edge caches them: ADR 0104); ``join`` and ``pass`` are
the shopper's own (CSRF as the order API, ``private, no-store``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from order_service.api.csrf import csrf_refusal, not_json
from order_service.orders.cart import shopper_from_session
from order_service.orders.errors import OrderError
from order_service.waitingroom import errors, selectors, services
from order_service.waitingroom.passes import pass_cookie_set

MAX_BODY = 1024


def _json(body: dict[str, Any], *, status: int = 200, public_max_age: int | None = None):
    response = JsonResponse(body, status=status)
    if public_max_age is None:
        response["Cache-Control"] = "private, no-store"
    else:
        response["Cache-Control"] = f"public, max-age={public_max_age}"
    return response


def _error(exc: OrderError, *, public_max_age: int | None = None) -> JsonResponse:
    return _json(
        {"code": exc.code, "message": exc.message, "detail": exc.detail},
        status=exc.http_status,
        public_max_age=public_max_age,
    )


@require_safe
def rooms_view(request: HttpRequest) -> HttpResponse:
    return _json({"rooms": selectors.rooms_list()}, public_max_age=5)


@require_safe
def status_view(request: HttpRequest, slug: str) -> HttpResponse:
    status = selectors.room_status(slug=slug)
    if status is None:
        return _error(errors.UnknownRoom(room=slug), public_max_age=1)
    return _json(selectors.status_document(slug=slug, status=status), public_max_age=1)


def _refusal(request: HttpRequest) -> JsonResponse | None:
    """The order API's checks for an unsafe request (api/csrf.py): a JSON body (or none),
    small, and Django's CSRF check (trusted Origin, X-CSRFToken matching the cookie)."""
    if not_json(request):
        return _json(
            {"code": "UNSUPPORTED_MEDIA_TYPE", "message": "JSON only.", "detail": {}}, status=415
        )
    reason = csrf_refusal(request)
    if reason:
        return _json(
            {
                "code": "CSRF_FAILED",
                "message": f"Cross-site request refused: {reason}",
                "detail": {"reason": str(reason)},
            },
            status=403,
        )
    if len(request.body) > MAX_BODY:
        return _json(
            {
                "code": "BODY_TOO_LARGE",
                "message": f"The body is at most {MAX_BODY} bytes.",
                "detail": {},
            },
            status=413,
        )
    if request.body.strip():
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _json(
                {"code": "MALFORMED_JSON", "message": "The body is a JSON object.", "detail": {}},
                status=400,
            )
    return None


def _holder(request: HttpRequest, *, create: bool) -> str | None:
    """The session's shopper id as the cart and checkout see it (orders/cart.py):
    ``customer:<id>`` when signed in (ADR 0109), else the guest's id, given one here when
    ``create``. One notion of who the shopper is for the room and the buying paths."""
    shopper = shopper_from_session(request.session, create=create)
    return shopper.shopper_id if shopper else None


def _session_key(request: HttpRequest) -> str:
    if request.session.session_key is None:
        request.session.save()  # the pass binds to the key: it must exist now
    return str(request.session.session_key)


def _iso(unix: float | int) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


@csrf_exempt
@require_POST
def join_view(request: HttpRequest, slug: str) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    holder = _holder(request, create=True)
    assert holder is not None
    try:
        joined = services.room_join(slug=slug, holder=holder)
    except OrderError as exc:
        return _error(exc)
    status = joined.status
    if status.kind == "CLOSED":
        return _json({"room": slug, "state": "closed", "admitted": True, "ticket": None})
    position = joined.ticket - status.admitted_through if joined.ticket is not None else None
    body: dict[str, Any] = {
        "room": slug,
        "ticket": joined.ticket,
        "state": status.state,
        "position": position,
        "admitted": joined.admitted,
        "estimated_wait_s": (
            round(max(0, position) / status.rate, 1) if position is not None else None
        ),
        "opens_at": selectors.status_document(slug=slug, status=status)["opens_at"],
        "status_url": f"/queue/{slug}/status",
        "pass_url": f"/queue/{slug}/pass",
    }
    response = _json(body)
    if joined.admitted:
        try:
            issued = services.room_pass_issue(
                slug=slug, holder=holder, session_key=_session_key(request)
            )
        except OrderError:
            return response  # admitted a moment ago, not now (sold out): the pass view says
        if issued.token and issued.qpass:
            pass_cookie_set(response=response, token=issued.token, qpass=issued.qpass)
            body["expires_at"] = _iso(issued.qpass.expires_at)
            body["pass"] = issued.token  # for API clients: the X-Queue-Pass header
            response.content = json.dumps(body).encode()
    return response


@csrf_exempt
@require_POST
def pass_view(request: HttpRequest, slug: str) -> HttpResponse:
    refused = _refusal(request)
    if refused is not None:
        return refused
    holder = _holder(request, create=False)
    try:
        if holder is None:
            raise errors.QueueNotJoined(room=slug)
        issued = services.room_pass_issue(
            slug=slug, holder=holder, session_key=_session_key(request)
        )
    except OrderError as exc:
        return _error(exc)
    if issued.token is None or issued.qpass is None:  # closed: nothing is guarded
        return _json({"admitted": True, "expires_at": None, "room": slug, "state": "closed"})
    response = _json(
        {
            "admitted": True,
            "room": slug,
            "ticket": issued.qpass.ticket,
            "expires_at": _iso(issued.qpass.expires_at),
            # For API clients: send it back as the X-Queue-Pass header.
            "pass": issued.token,
        }
    )
    pass_cookie_set(response=response, token=issued.token, qpass=issued.qpass)
    return response
