"""Request ids and structured logs.

A request id is taken from the incoming ``X-Request-ID`` header (when it is sane) or made up,
kept in a context variable for the life of the request or task, written into every log
record, echoed in the response, and passed on to outgoing HTTP calls (:mod:`shared.http`)
and Celery tasks (:mod:`shared.celery`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

REQUEST_ID_HEADER = "X-Request-ID"
_META_KEY = "HTTP_X_REQUEST_ID"
# Accept what proxies and clients usually send (uuids, hex, base64-ish), bounded in length,
# so that a client cannot inject log lines or huge values.
_VALID = re.compile(r"^[A-Za-z0-9._:+/=-]{1,128}$")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value: str | None) -> str | None:
    """The value if it is an acceptable request id, else None."""
    if value and _VALID.match(value):
        return value
    return None


def get_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


class RequestIdMiddleware:
    """Bind the request id for the request, and return it in the response header."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        request_id = clean_request_id(request.META.get(_META_KEY)) or new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` and ``service`` to every record (``-`` when there is none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        record.service = getattr(settings, "SERVICE_NAME", "") or "-"
        return True
