"""The shopper's account: an email, a name and a password hashed by Django.

Not ``AUTH_USER_MODEL`` (ADR 0108): staff stay ``auth.User`` in each admin, and a shopper is
never logged in with ``django.contrib.auth.login`` (the shopper session is shared by the
three services, each with its own user table). ``AbstractBaseUser`` gives the hashing
(``set_password``/``check_password``, with the hash upgraded on a successful check).
"""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


def email_normalize(email: str) -> str:
    """One spelling per address: the whole address lower-cased (a shopper types
    ``Alice@Example.com`` one day and ``alice@example.com`` the next)."""
    return email.strip().lower()


class ShopperAccount(AbstractBaseUser):
    email = models.EmailField(max_length=254, unique=True)
    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    # Staff may switch an account off: it can no longer sign in.
    is_active = models.BooleanField(default=True)

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["name"]

    objects = BaseUserManager()

    class Meta:
        ordering = ["id"]
        constraints = [
            # Stored lower-cased by the services; the database's own lower() makes one
            # account per address in any case a guarantee, also for two sign-ups racing.
            models.UniqueConstraint(Lower("email"), name="shopperaccount_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email
