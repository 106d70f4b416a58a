"""A shopper's HTTP client for tests and benchmarks that talk to the order API over HTTP.

It behaves as the storefront does in a browser: it keeps the session and ``csrftoken``
cookies and sends the token back as ``X-CSRFToken`` on every unsafe request (the order API
runs Django's CSRF check for every shopper: order_service/api/csrf.py). A token it does not
have yet is fetched with one ``GET /api/cart`` from the same base URL.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

CSRF_COOKIE = "csrftoken"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ShopperSession(requests.Session):
    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        if method.upper() in UNSAFE and "/api/" in url:
            token = self.cookies.get(CSRF_COOKIE)
            if token is None:
                parts = urlsplit(url)
                super().request("GET", f"{parts.scheme}://{parts.netloc}/api/cart", timeout=10)
                token = self.cookies.get(CSRF_COOKIE)
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRFToken", token or "")
            kwargs["headers"] = headers
        return super().request(method, url, *args, **kwargs)
