"""Two kinds of session in one browser: the shopper's (platform-wide) and staff's (per admin).

The shopper's session (cart, shopper id) is one Redis session shared by every instance of
every service (R5): cookie ``SESSION_COOKIE_NAME`` on path ``/``. Each service's admin has
its own user table, so an admin login kept in that same session would flush it for the
other two admins and wipe the cart (ADR 0065). Under ``STAFF_SESSION_PATH``
(``/admin/<service>/``) this middleware uses a staff session instead:

* its own cookie, ``STAFF_SESSION_COOKIE_NAME``, scoped to that path, so a browser sends
  each admin only its own staff cookie and never sends one to the storefront or the API;
* its own store, the ``staff_sessions`` cache alias (key prefix ``<service>:staff-session``),
  so a staff session key means nothing to another service or to the shopper paths.

The shopper's cookie still reaches admin paths (its path is ``/``) but is neither read nor
written there. Everything else is Django's SessionMiddleware, parameterised by the cookie.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass
from importlib import import_module

from django.conf import settings
from django.contrib.sessions.backends.base import UpdateError
from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date

STAFF_SESSION_CACHE_ALIAS = "staff_sessions"


class SessionStore(CacheSessionStore):
    """Django's cache session store (``SESSION_ENGINE = "shared.sessions"``), creating a
    session in one round trip: Django asks the cache whether a fresh random key exists
    before it adds it, yet the add itself (SET NX) already refuses a taken key and
    ``create()`` then draws another. A new shopper's first checkout saves that trip. The
    key: 160 random bits in lowercase base32, 32 characters out of Django's own alphabet
    (10 us here against 175 us for ``get_random_string``'s ``secrets.choice`` per character)."""

    def _get_new_session_key(self) -> str:
        return base64.b32encode(secrets.token_bytes(20)).decode().lower()


class StaffSessionStore(SessionStore):
    """The shared session store on the service's own staff alias."""

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = caches[STAFF_SESSION_CACHE_ALIAS]

    def get_session_cookie_age(self) -> int:
        # A staff login lasts a working day, not the shopper's week.
        return settings.STAFF_SESSION_COOKIE_AGE


@dataclass(frozen=True)
class SessionCookie:
    name: str
    path: str
    store: type


def session_cookie_for(path: str) -> SessionCookie:
    """The staff session under the service's admin prefix, the shopper's everywhere else."""
    staff_path = getattr(settings, "STAFF_SESSION_PATH", "")
    if staff_path and path.startswith(staff_path):
        return SessionCookie(settings.STAFF_SESSION_COOKIE_NAME, staff_path, StaffSessionStore)
    store = import_module(settings.SESSION_ENGINE).SessionStore
    return SessionCookie(settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_PATH, store)


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's SessionMiddleware (a subclass, as the admin's system check asks) with a
    cookie and store per path: both methods are Django's, parameterised by the cookie."""

    def process_request(self, request: HttpRequest) -> None:
        cookie = session_cookie_for(request.path)
        request.session_cookie = cookie  # type: ignore[attr-defined]
        request.session = cookie.store(request.COOKIES.get(cookie.name))

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            cookie: SessionCookie = request.session_cookie  # type: ignore[attr-defined]
            accessed = request.session.accessed
            modified = request.session.modified
            empty = request.session.is_empty()
        except AttributeError:
            return response
        if cookie.name in request.COOKIES and empty:
            response.delete_cookie(
                cookie.name,
                path=cookie.path,
                domain=settings.SESSION_COOKIE_DOMAIN,
                samesite=settings.SESSION_COOKIE_SAMESITE,
            )
            need_vary_cookie = True
        else:
            need_vary_cookie = accessed
            if (modified or settings.SESSION_SAVE_EVERY_REQUEST) and not empty:
                if request.session.get_expire_at_browser_close():
                    max_age = None
                    expires = None
                else:
                    max_age = request.session.get_expiry_age()
                    expires = http_date(time.time() + max_age)
                if response.status_code < 500:
                    try:
                        request.session.save()
                    except UpdateError:
                        raise SessionInterrupted(
                            "The request's session was deleted before the request completed."
                        ) from None
                    assert request.session.session_key is not None  # save() gave it one
                    response.set_cookie(
                        cookie.name,
                        request.session.session_key,
                        max_age=max_age,
                        expires=expires,
                        domain=settings.SESSION_COOKIE_DOMAIN,
                        path=cookie.path,
                        secure=settings.SESSION_COOKIE_SECURE,
                        httponly=settings.SESSION_COOKIE_HTTPONLY,
                        samesite=settings.SESSION_COOKIE_SAMESITE,
                    )
                    need_vary_cookie = True
        if need_vary_cookie:
            patch_vary_headers(response, ("Cookie",))
        return response
