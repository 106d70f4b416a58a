"""Settings shared by every service: see base.py."""

import os

ENVIRONMENTS = ("local", "production", "test")


def settings_module(package: str) -> str:
    """The settings module of a service package for ``DJANGO_ENV`` (default ``local``)."""
    name = os.environ.get("DJANGO_ENV", "local")
    if name not in ENVIRONMENTS:
        raise SystemExit(f"DJANGO_ENV={name!r} is not one of {', '.join(ENVIRONMENTS)}")
    return f"{package}.config.settings.{name}"
