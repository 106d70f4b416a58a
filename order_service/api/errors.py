"""Every API error as ``{"code", "message", "detail"}`` with a stable machine-readable code."""

from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from order_service.api.csrf import CsrfFailed
from order_service.orders.errors import OrderError
from shared.jsonbounds import JsonTooComplex


class RateLimited(exceptions.APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "RATE_LIMITED"
    default_detail = "Too many requests; retry after the time in Retry-After."

    def __init__(self, *, retry_after: int, scope: str):
        super().__init__()
        self.retry_after = max(1, retry_after)
        self.scope = scope


class InvalidString(exceptions.APIException):
    """A string no part of the service can take: NUL, lone surrogate, over-long (ADR 0069)."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "INVALID_STRING"

    def __init__(self, *, message: str, where: str, reason: str):
        super().__init__(message)
        self.message = message
        self.where = where
        self.reason = reason


def error_response(*, code: str, message: str, http_status: int, detail=None, retry_after=None):
    response = Response(
        {"code": code, "message": message, "detail": detail or {}}, status=http_status
    )
    if retry_after is not None:
        response["Retry-After"] = str(int(retry_after))
    return response


def api_exception_handler(exc, context):
    if isinstance(exc, OrderError):
        return error_response(
            code=exc.code,
            message=exc.message,
            http_status=exc.http_status,
            detail=exc.detail,
            retry_after=getattr(exc, "retry_after", None),
        )
    if isinstance(exc, RateLimited):
        return error_response(
            code="RATE_LIMITED",
            message=str(exc.detail),
            http_status=429,
            detail={"scope": exc.scope},
            retry_after=exc.retry_after,
        )
    if isinstance(exc, CsrfFailed):
        return error_response(
            code="CSRF_FAILED",
            message=str(exc.detail),
            http_status=403,
            detail={"reason": exc.reason},
        )
    if isinstance(exc, JsonTooComplex):
        return error_response(
            code=exc.code,
            message=exc.message,
            http_status=exc.http_status,
            detail={"limit": exc.limit},
        )
    if isinstance(exc, InvalidString):
        return error_response(
            code="INVALID_STRING",
            message=exc.message,
            http_status=400,
            detail={"where": exc.where, "reason": exc.reason},
        )
    if isinstance(exc, exceptions.ParseError):
        return error_response(
            code="MALFORMED_JSON", message=str(exc.detail), http_status=400, detail={}
        )
    if isinstance(exc, exceptions.ValidationError):
        return error_response(
            code="VALIDATION_ERROR",
            message="The request body is not valid.",
            http_status=400,
            detail={"fields": exc.detail},
        )
    response = exception_handler(exc, context)
    if response is not None and isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        response.data = {"code": str(code).upper(), "message": str(exc.detail), "detail": {}}
    return response
