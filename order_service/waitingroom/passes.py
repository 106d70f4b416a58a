"""The admission pass: a signed, short-lived token for one room and one session (ADR 0105).

``v1.<slug>.<ticket>.<expires unix s>.<b64url HMAC-SHA256>``, the HMAC over (slug, ticket,
expires, session key) with a key derived from SECRET_KEY (salt ``waitingroom.pass``).
Checking one costs an HMAC and a clock read: no database, no Redis, no session load, so
the first middleware checks every pass presented (middleware.py). Bound to the value of
the session cookie: copied into another session it fails. Sign-in changes the session key
(``cycle_key``): :func:`passes_rebind` re-issues the valid passes for the new key.
"""

from __future__ import annotations

import base64
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare, salted_hmac

VERSION = "v1"
SALT = "waitingroom.pass"
COOKIE_PREFIX = "flashsale_pass_"
HEADER = "X-Queue-Pass"
_TOKEN_RE = re.compile(
    r"^v1\.([a-z0-9-]{1,64})\.([0-9]{1,12})\.([0-9]{1,12})\.([A-Za-z0-9_-]{43})$"
)


@dataclass(frozen=True)
class QueuePass:
    slug: str
    ticket: int
    expires_at: int


class PassInvalid(Exception):
    def __init__(self, reason: str, slug: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.slug = slug


def cookie_name(slug: str) -> str:
    return f"{COOKIE_PREFIX}{slug}"


def _mac(*, slug: str, ticket: int, expires_at: int, session_key: str) -> str:
    message = f"{VERSION}\n{slug}\n{ticket}\n{expires_at}\n{session_key}"
    digest = salted_hmac(SALT, message, algorithm="sha256").digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def pass_sign(*, slug: str, ticket: int, expires_at: int, session_key: str) -> str:
    mac = _mac(slug=slug, ticket=ticket, expires_at=expires_at, session_key=session_key)
    return f"{VERSION}.{slug}.{ticket}.{expires_at}.{mac}"


def pass_verify(*, token: str, session_key: str | None, now: float | None = None) -> QueuePass:
    """The pass ``token`` stands for, or :class:`PassInvalid` (malformed, forged, bound to
    another session, expired)."""
    match = _TOKEN_RE.match(token)
    if match is None:
        raise PassInvalid("malformed")
    slug, ticket, expires = match.group(1), int(match.group(2)), int(match.group(3))
    if not session_key:
        raise PassInvalid("no_session", slug)
    expected = _mac(slug=slug, ticket=ticket, expires_at=expires, session_key=session_key)
    # Forged and other-session passes look the same: the HMAC differs.
    if not constant_time_compare(expected, match.group(4)):
        raise PassInvalid("signature", slug)
    if expires <= (time.time() if now is None else now):
        raise PassInvalid("expired", slug)
    return QueuePass(slug=slug, ticket=ticket, expires_at=expires)


def pass_cookie_set(*, response: HttpResponse, token: str, qpass: QueuePass) -> None:
    response.set_cookie(
        cookie_name(qpass.slug),
        token,
        max_age=max(1, qpass.expires_at - int(time.time())),
        path="/",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def pass_cookie_delete(*, response: HttpResponse, slug: str) -> None:
    response.delete_cookie(cookie_name(slug), path="/", samesite="Lax")


def presented_tokens(request: HttpRequest) -> list[tuple[str | None, str]]:
    """Every pass the request carries: (cookie slug or None for the header, token)."""
    tokens: list[tuple[str | None, str]] = [
        (name[len(COOKIE_PREFIX) :], value)
        for name, value in request.COOKIES.items()
        if name.startswith(COOKIE_PREFIX)
    ]
    header = request.headers.get(HEADER)
    if header:
        tokens += [(None, value.strip()) for value in header.split(",") if value.strip()]
    return tokens


def passes_rebind(
    request: HttpRequest, response: HttpResponse, *, old_session_key: str | None
) -> list[QueuePass]:
    """After the session key changed (sign-in's ``cycle_key``): re-issue, for the new key,
    every pass cookie that was valid for the old one. Returns the passes re-issued."""
    new_key = request.session.session_key
    rebound = []
    for cookie_slug, token in presented_tokens(request):
        if cookie_slug is None:
            continue  # a header pass is the API client's to renew
        try:
            qpass = pass_verify(token=token, session_key=old_session_key)
        except PassInvalid:
            continue
        if not new_key or qpass.slug != cookie_slug:
            continue
        fresh = pass_sign(
            slug=qpass.slug, ticket=qpass.ticket, expires_at=qpass.expires_at, session_key=new_key
        )
        pass_cookie_set(response=response, token=fresh, qpass=qpass)
        rebound.append(qpass)
    return rebound
