"""QueuePassMiddleware: every admission pass presented to the order API is checked first.

Placed right after django_prometheus's Before middleware (ADR 0105): for paths under
``/api/`` it verifies each pass (cookie ``flashsale_pass_<slug>`` or header
``X-Queue-Pass``) with an HMAC and a clock read against the session cookie's value: no
database, no Redis, no session load. A forged, expired or other-session pass on a buying
(unsafe) request is answered 403 ``QUEUE_PASS_INVALID`` at once; on a safe request (GET
cart, order status: never guarded) it is ignored. Either way a bad pass cookie is deleted in
the answer, so a browser whose session changed (sign-out) is not stuck with it. The valid
ones land in ``request.queue_passes`` (slug -> QueuePass) for the buying services.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from order_service.waitingroom.passes import (
    PassInvalid,
    QueuePass,
    pass_cookie_delete,
    pass_verify,
    presented_tokens,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
API_PREFIX = "/api/"


class QueuePassMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        passes: dict[str, QueuePass] = {}
        request.queue_passes = passes  # type: ignore[attr-defined]
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
        bad: list[tuple[str | None, PassInvalid]] = []
        for cookie_slug, token in presented_tokens(request):
            try:
                qpass = pass_verify(token=token, session_key=session_key)
            except PassInvalid as exc:
                bad.append((cookie_slug, exc))
                continue
            if cookie_slug is not None and cookie_slug != qpass.slug:
                # One room's pass under another room's cookie name: not that room's pass.
                bad.append((cookie_slug, PassInvalid("other_room", qpass.slug)))
                continue
            passes[qpass.slug] = qpass
        if bad and request.method not in SAFE_METHODS:
            first_slug, first = bad[0]
            response: HttpResponse = JsonResponse(
                {
                    "code": "QUEUE_PASS_INVALID",
                    "message": "The waiting room pass is not valid for this session; "
                    "join the queue again.",
                    "detail": {"room": first.slug or first_slug, "reason": first.reason},
                },
                status=403,
            )
            response["Cache-Control"] = "private, no-store"
        else:
            response = self.get_response(request)
        for bad_slug, _reason in bad:
            if bad_slug is not None:
                pass_cookie_delete(response=response, slug=bad_slug)
        return response
