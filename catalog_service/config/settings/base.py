"""Catalog service settings shared by every environment."""

from shared.settings.base import *  # noqa: F403

SERVICE_NAME = "catalog"
ROOT_URLCONF = "catalog_service.config.urls"
WSGI_APPLICATION = "catalog_service.config.wsgi.application"

INSTALLED_APPS = (
    SHARED_APPS
    + [
        # domain apps of the catalog service
    ]
)

DATABASES = {"default": database("catalog", "catalog")}
CACHES = redis_caches("catalog")

# Behind the edge each service lives under its own prefix for admin and static files.
STATIC_URL = "/static/catalog/"
STATIC_ROOT = STATIC_ROOT_BASE / "catalog"
READINESS_CHECKS = [
    "database",
    "redis",
]  # catalog never talks to the broker: see docs/architecture.md
