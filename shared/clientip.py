"""The client's address as the edge saw it: one rule for every service (ADR 0024).

The connecting address, unless that is one of ``TRUSTED_PROXIES`` (the edge): then the
right-most address of X-Forwarded-For that is not itself a trusted proxy. A client cannot
choose its own IP by sending the header straight to the app. The order API's rate limits
and every login throttle (django-axes) key on it.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = set(settings.TRUSTED_PROXIES)
    if remote not in trusted:
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for candidate in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            break  # garbage in the header: trust nothing further left
        if candidate not in trusted:
            return candidate
    return remote
