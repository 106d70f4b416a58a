"""Cross-site request protection for the order API: Django's own CSRF check, for everyone.

DRF exempts its views from Django's CSRF middleware and checks CSRF only for users logged in
through SessionAuthentication. But the order API's cookie (the shopper's session) authorizes
a cart and a checkout for anonymous shoppers too, so every unsafe method runs Django's check
here, signed in or not: a trusted ``Origin`` (when sent) and the ``X-CSRFToken`` header
matching the ``csrftoken`` cookie. Any GET of the API hands out the cookie to a client that
has none; the storefront sends it back on each unsafe request. See docs/security.md.
"""

from __future__ import annotations

from django.conf import settings
from django.middleware.csrf import get_token
from rest_framework import exceptions, status
from rest_framework.authentication import CSRFCheck

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfFailed(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "CSRF_FAILED"

    def __init__(self, reason: str):
        super().__init__(f"Cross-site request refused: {reason}")
        self.reason = reason


def _no_response(_request):  # CsrfViewMiddleware wants a get_response it never calls here
    return None


def not_json(django_request) -> str | None:
    """The body's media type when it is not JSON (none is fine), for any order-service
    view on a Django request (the API below, the waiting room's views)."""
    content_type = django_request.META.get("CONTENT_TYPE", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type if media_type and media_type != "application/json" else None


def csrf_refusal(django_request) -> str | None:
    """Why Django's CSRF check refuses this unsafe request (None: it passes)."""
    check = CSRFCheck(_no_response)
    check.process_request(django_request)
    reason = check.process_view(django_request, _no_response, (), {})
    return str(reason) if reason else None  # DRF's CSRFCheck._reject returns the reason


def json_only(request) -> None:
    """The order API reads JSON only: any other body is 415 before anything reads it (the
    CSRF check would otherwise parse a form body, and a multipart one without a boundary
    is a 500 in Django's parser)."""
    if request.method in SAFE_METHODS:
        return
    media_type = not_json(request._request)
    if media_type:
        raise exceptions.UnsupportedMediaType(media_type)


def csrf_enforce(request) -> None:
    """Raise :class:`CsrfFailed` unless an unsafe request passes Django's CSRF check; on a
    safe one, make sure the client gets a ``csrftoken`` cookie to send back."""
    django_request = request._request
    if request.method in SAFE_METHODS:
        if settings.CSRF_COOKIE_NAME not in django_request.COOKIES:
            get_token(django_request)  # the middleware sets the cookie on the response
        return
    reason = csrf_refusal(django_request)
    if reason:
        raise CsrfFailed(reason)
