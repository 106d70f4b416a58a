"""Account errors, each with a stable machine-readable ``code``.

They are order-service domain errors (:class:`OrderError`), so the API's one exception
handler shapes them like every other: ``{"code", "message", "detail"}`` with ``http_status``.
"""

from __future__ import annotations

from order_service.orders.errors import OrderError


class InvalidCredentials(OrderError):
    code = "INVALID_CREDENTIALS"
    http_status = 400
    message = "The email or the password is wrong."


class LockedOut(OrderError):
    """Too many failed sign-ins for this email or from this address (django-axes)."""

    code = "LOCKED_OUT"
    http_status = 429
    message = "Too many failed sign-ins; try again later."

    def __init__(self, *, retry_after: int):
        super().__init__(retry_after=retry_after)
        self.retry_after = retry_after


class EmailTaken(OrderError):
    code = "EMAIL_TAKEN"
    http_status = 409
    message = "An account with this email exists already; sign in instead."


class PasswordTooWeak(OrderError):
    """Refused by ``AUTH_PASSWORD_VALIDATORS``; ``detail.reasons`` lists each validator's
    code (``password_too_short``, ``password_too_common``, ...) and message."""

    code = "PASSWORD_TOO_WEAK"
    http_status = 400
    message = "The password is too weak."


class NotSignedIn(OrderError):
    code = "NOT_SIGNED_IN"
    http_status = 401
    message = "Sign in first."
