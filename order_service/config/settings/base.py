"""Order service settings shared by every environment."""

from shared.settings.base import *  # noqa: F403

SERVICE_NAME = "order"
ROOT_URLCONF = "order_service.config.urls"
WSGI_APPLICATION = "order_service.config.wsgi.application"

INSTALLED_APPS = (
    SHARED_APPS
    + [
        # domain apps of the order service
    ]
)

DATABASES = {"default": database("order", "orders")}
CACHES = redis_caches("order")

# Behind the edge each service lives under its own prefix for admin and static files.
STATIC_URL = "/static/order/"
STATIC_ROOT = STATIC_ROOT_BASE / "order"

# Fulfillment's internal API, reached through the local Envoy sidecar (mTLS, retries and
# metrics live there, not here: docs/edge-and-mesh.md).
FULFILLMENT_URL = env("FULFILLMENT_URL", default="http://127.0.0.1:9101")
