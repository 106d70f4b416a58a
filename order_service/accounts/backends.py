"""``django.contrib.auth.authenticate`` for shopper accounts, so django-axes (the first
backend) counts every failed sign-in and locks out per email and per address (ADR 0108).

Only a call that asks for shoppers (``realm="shopper"``) is answered here: the admins'
login forms call ``authenticate(username=, password=)`` as well, and a shopper account must
never come back from a staff login.
"""

from __future__ import annotations

from django.http import HttpRequest

from order_service.accounts.models import ShopperAccount, email_normalize

SHOPPER_REALM = "shopper"


class ShopperAccountBackend:
    """No ``get_user``: nothing is ever logged in with this backend (Django's test
    ``force_login`` and the staff sessions take the first backend that has one, the staff
    ``ModelBackend``), and no permissions: a shopper is nobody in an admin."""

    def authenticate(
        self,
        request: HttpRequest | None,
        *,
        username: str | None = None,
        password: str | None = None,
        realm: str | None = None,
    ) -> ShopperAccount | None:
        if realm != SHOPPER_REALM or username is None or password is None:
            return None
        account = ShopperAccount.objects.filter(email=email_normalize(username)).first()
        if account is None:
            # Hash anyway, so the answer takes as long for an unknown email as for a wrong
            # password (Django's ModelBackend does the same).
            ShopperAccount().set_password(password)
            return None
        if account.check_password(password) and account.is_active:
            return account
        return None
