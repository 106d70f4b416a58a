"""Outgoing HTTP between services: a requests session that carries the request id.

Only the request id is added here. TLS, retries and latency metrics for calls between
services are the mesh's job (Envoy sidecars), not the application's.
"""

from __future__ import annotations

from typing import Any

import requests

from shared.logging import REQUEST_ID_HEADER, get_request_id


class RequestIdSession(requests.Session):
    """A :class:`requests.Session` that adds ``X-Request-ID`` from the current context."""

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        request_id = get_request_id()
        if request_id and REQUEST_ID_HEADER not in headers:
            headers[REQUEST_ID_HEADER] = request_id
        kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)


def session() -> RequestIdSession:
    return RequestIdSession()
