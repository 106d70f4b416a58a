"""Shopper account endpoints under /api/account/: transport only (ADR 0108).

They are order API views (OrderApiView): JSON only, Django's CSRF check on every POST,
the API's rate limits and string checks, ``Cache-Control: private, no-store``. Sign-in is
throttled by django-axes through ``authenticate`` (order_service.accounts.services).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util

from axes.helpers import get_lockout_message
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from order_service.accounts import errors, selectors, services
from order_service.accounts.models import ShopperAccount
from order_service.api import account_serializers as a
from order_service.api import serializers as s
from order_service.api.views import OrderApiView, _validated

_error = OpenApiResponse(s.ErrorSerializer)
# The waiting room re-issues its passes for the new session key (SPEC13, "The pass"); the
# module comes with the waiting room, so this branch works without it.
_PASSES_MODULE = "order_service.waitingroom.passes"


def _account_body(account: ShopperAccount | None) -> dict:
    if account is None:
        return {"signed_in": False}
    return {"signed_in": True, "email": account.email, "name": account.name}


@functools.cache
def _passes_present() -> bool:
    parent = _PASSES_MODULE.rpartition(".")[0]
    return (
        importlib.util.find_spec(parent) is not None
        and importlib.util.find_spec(_PASSES_MODULE) is not None
    )


def _passes_rebind(request, response, *, old_session_key: str | None) -> None:
    if old_session_key and _passes_present():
        passes = importlib.import_module(_PASSES_MODULE)
        passes.passes_rebind(request, response, old_session_key=old_session_key)


class AccountView(OrderApiView):
    @extend_schema(
        responses={200: a.AccountSerializer, 429: _error},
        description="Who is signed in to this session: `signed_in`, and the email and name.",
    )
    def get(self, request):
        account = selectors.account_from_session(session=request.session)
        return Response(_account_body(account))


class SignupView(OrderApiView):
    @extend_schema(
        request=a.SignupSerializer,
        responses={201: a.AccountSerializer, 400: _error, 409: _error, 429: _error},
        description="Create an account and sign in to it (the cart stays). 400 "
        "PASSWORD_TOO_WEAK (`detail.reasons`), 409 EMAIL_TAKEN.",
        examples=[
            OpenApiExample(
                "new shopper",
                value={"email": "ada@example.com", "password": "correct horse 42", "name": "Ada"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = _validated(a.SignupSerializer, request.data)
        old_key = request.session.session_key
        account = services.account_signup(
            request=request._request,
            email=data["email"],
            password=data["password"],
            name=data["name"],
        )
        response = Response(_account_body(account), status=status.HTTP_201_CREATED)
        _passes_rebind(request._request, response, old_session_key=old_key)
        return response


class SigninView(OrderApiView):
    @extend_schema(
        request=a.SigninSerializer,
        responses={200: a.AccountSerializer, 400: _error, 429: _error},
        description="Sign in (the cart stays; the session gets a new key). 400 "
        "INVALID_CREDENTIALS; 429 LOCKED_OUT after LOGIN_FAILURE_LIMIT failures for the "
        "email or from the address, for LOGIN_LOCKOUT_MINUTES (the right password too).",
        examples=[
            OpenApiExample(
                "sign in",
                value={"email": "ada@example.com", "password": "correct horse 42"},
                request_only=True,
            )
        ],
    )
    def post(self, request):
        data = _validated(a.SigninSerializer, request.data)
        old_key = request.session.session_key
        account = services.account_signin(
            request=request._request, email=data["email"], password=data["password"]
        )
        response = Response(_account_body(account))
        _passes_rebind(request._request, response, old_session_key=old_key)
        return response


class SignoutView(OrderApiView):
    @extend_schema(
        request=None,
        responses={204: None, 429: _error},
        description="Sign out: the session is forgotten (account, cart, shopper id).",
    )
    def post(self, request):
        services.account_signout(request=request._request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccountOrdersView(OrderApiView):
    @extend_schema(
        responses={200: a.AccountOrdersSerializer, 401: _error, 429: _error},
        description="The signed-in account's orders, newest first, from every session and "
        "device (at most ACCOUNT_ORDERS_MAX). 401 NOT_SIGNED_IN for a guest.",
    )
    def get(self, request):
        account = selectors.account_from_session(session=request.session)
        if account is None:
            raise errors.NotSignedIn()
        orders = selectors.account_orders(account=account)
        return Response(a.AccountOrdersSerializer({"orders": orders}).data)


def axes_lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: under /api/ the sign-in view's own 429 LOCKED_OUT stands;
    elsewhere (the admin's login form) django-axes' plain answer, as without the setting."""
    if original_response is not None and request.path.startswith("/api/"):
        return original_response
    return HttpResponse(
        get_lockout_message(), status=getattr(settings, "AXES_HTTP_RESPONSE_CODE", 429)
    )
