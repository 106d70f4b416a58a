"""Fulfillment service settings shared by every environment."""

from shared.settings.base import *  # noqa: F403

SERVICE_NAME = "fulfillment"
ROOT_URLCONF = "fulfillment_service.config.urls"
WSGI_APPLICATION = "fulfillment_service.config.wsgi.application"

INSTALLED_APPS = (
    SHARED_APPS
    + [
        # domain apps of the fulfillment service
    ]
)

DATABASES = {"default": database("fulfillment", "fulfillment")}
CACHES = redis_caches("fulfillment")

# Behind the edge each service lives under its own prefix for admin and static files.
STATIC_URL = "/static/fulfillment/"
STATIC_ROOT = STATIC_ROOT_BASE / "fulfillment"
