"""Writes of shopper accounts: sign up, sign in, sign out (ADR 0108).

Signing in writes two keys in the shopper's session and nothing of Django's login:
``account_id`` and ``shopper_id = customer:<id>`` (order_service.orders.cart). The session
key is cycled first (against session fixation) and everything else in the session, the cart
first of all, stays. Sign-in goes through ``django.contrib.auth.authenticate`` so that
django-axes counts failures and locks out per email and per client address.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in, user_login_failed
from django.contrib.auth.password_validation import validate_password
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django_redis import get_redis_connection  # type: ignore[import-untyped]

from order_service.accounts import errors
from order_service.accounts.backends import SHOPPER_REALM
from order_service.accounts.models import ShopperAccount, email_normalize
from order_service.orders.cart import ACCOUNT_KEY, SHOPPER_KEY

logger = logging.getLogger(__name__)


def account_signup(
    *, request: HttpRequest, email: str, password: str, name: str = ""
) -> ShopperAccount:
    """Create an account and sign this session in to it.

    Refused with PASSWORD_TOO_WEAK (AUTH_PASSWORD_VALIDATORS, each reason listed) or
    EMAIL_TAKEN (any case of the address: emails are stored lower-cased).
    """
    email = email_normalize(email)
    account = ShopperAccount(email=email, name=name.strip())
    try:
        # Any object with the attributes the validators compare works (the stubs say User).
        validate_password(password, user=account)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons = [
            {"code": error.code or "invalid", "message": " ".join(error.messages)}
            for error in exc.error_list
        ]
        raise errors.PasswordTooWeak(reasons=reasons) from exc
    account.set_password(password)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:  # the unique email: also a sign-up racing this one
        raise errors.EmailTaken() from exc
    logger.info("account signed up", extra={"account_id": account.pk})
    _session_start(request=request, account=account)
    return account


def account_signin(*, request: HttpRequest, email: str, password: str) -> ShopperAccount:
    """Sign this session in; INVALID_CREDENTIALS or, past LOGIN_FAILURE_LIMIT failures for
    the email or the address, LOCKED_OUT (the right password too, until the cool-off)."""
    email = email_normalize(email)
    user = authenticate(request, username=email, password=password, realm=SHOPPER_REALM)
    _refuse_if_locked_out(request)
    if not isinstance(user, ShopperAccount):
        if user is not None:
            # A staff user (ModelBackend) whose username is this email: no shopper sign-in,
            # and a failure like any other (authenticate() only reports it when nobody
            # answered).
            user_login_failed.send(
                sender=__name__, credentials={"username": email}, request=request
            )
            _refuse_if_locked_out(request)
        raise errors.InvalidCredentials()
    _session_start(request=request, account=user)
    # Django's login() would send this: django-axes clears the email's failures
    # (AXES_RESET_ON_SUCCESS) and Django records last_login. login() itself is not called.
    user_logged_in.send(sender=ShopperAccount, request=request, user=user)
    return user


def account_sessions_end(*, account_id: int) -> int:
    """Delete every session that signed in to the account: their next request is a new
    guest's. The order admin calls it whenever staff save the account switched off. The
    session keys are those each sign-in remembered; the list is kept (it expires with the
    longest session), because a request of one of them in flight at this very moment can
    still write its session back once: saving the account again ends that one too."""
    client = get_redis_connection(settings.SESSION_CACHE_ALIAS)
    cache = caches[settings.SESSION_CACHE_ALIAS]
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = [key.decode() for key in client.smembers(_sessions_index(account_id))]
    if not keys:
        return 0
    # The sessions' own cache keys: deleting them all at once counts those that existed.
    ended = int(client.delete(*(cache.make_key(store(session_key=key).cache_key) for key in keys)))
    logger.info("account sessions ended", extra={"account_id": account_id, "count": ended})
    return ended


def _sessions_index(account_id: int) -> str:
    # Beside the sessions, under their alias's prefix; it lives as long as a session may.
    return caches[settings.SESSION_CACHE_ALIAS].make_key(f"account-sessions:{account_id}")


def account_signout(*, request: HttpRequest) -> None:
    """Forget the session: the account, the cart and the shopper id (a new guest next)."""
    request.session.flush()


def _refuse_if_locked_out(request: HttpRequest) -> None:
    # django-axes marks the request when it refused it, or when this failure locked it out.
    if getattr(request, "axes_locked_out", False):
        raise errors.LockedOut(retry_after=int(settings.AXES_COOLOFF_TIME.total_seconds()))


def _session_start(*, request: HttpRequest, account: ShopperAccount) -> None:
    session: Any = request.session
    # A new key against session fixation; the data (the cart) moves to it. What was bound
    # to the old key (a waiting-room pass) is the caller's to re-issue.
    session.cycle_key()
    session[ACCOUNT_KEY] = account.pk
    session[SHOPPER_KEY] = f"customer:{account.pk}"
    # Remembered so that switching the account off ends this session (account_sessions_end).
    client = get_redis_connection(settings.SESSION_CACHE_ALIAS)
    index = _sessions_index(account.pk)
    pipe = client.pipeline(transaction=False)
    pipe.sadd(index, session.session_key)
    pipe.expire(index, settings.SESSION_COOKIE_AGE)
    pipe.execute()
