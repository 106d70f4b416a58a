"""Order service settings shared by every environment."""

from typing import Any

from shared.settings.base import *

SERVICE_NAME = "order"
ROOT_URLCONF = "order_service.config.urls"
WSGI_APPLICATION = "order_service.config.wsgi.application"

INSTALLED_APPS = [
    *SHARED_APPS,
    "rest_framework",
    "drf_spectacular",
    # Swagger UI and Redoc assets served locally (pinned; no CDN: ADR 0068)
    "drf_spectacular_sidecar",
    # domain apps of the order service
    "order_service.orders",
    "order_service.accounts",
    "order_service.waitingroom",
]

# The waiting room's pass is checked first, before anything loads a session (ADR 0105).
MIDDLEWARE = [
    MIDDLEWARE[0],  # django_prometheus's Before: every request is still counted
    "order_service.waitingroom.middleware.QueuePassMiddleware",
    *MIDDLEWARE[1:],
]

DATABASES = {"default": database("order", "orders")}
# Not None: psycopg prepares nothing on a connection whose threshold is None (Django's
# default). Only shared/prepared.py's cursor asks for it (the checkout's write, ADR 0112);
# the ORM's client-binding cursors never prepare. No pooler sits in front of PostgreSQL.
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 5
CACHES = redis_caches("order")
# django-ratelimit's counters: same Redis and keys as ``default``, one round trip per
# counter (shared/ratecache.py, ADR 0098).
CACHES["ratelimit"] = {
    **CACHES["default"],
    "BACKEND": "shared.ratecache.RateCounterCache",
}

# Behind the edge each service lives under its own prefix for admin and static files.
STATIC_URL = "/static/order/"
STATIC_ROOT = STATIC_ROOT_BASE / "order"
# Staff log in to /admin/order/ with a session and cookie of their own (ADR 0065).
STAFF_SESSION_PATH = "/admin/order/"
STAFF_SESSION_COOKIE_NAME = "flashsale_staff_order"

# --- REST API (transport only: order_service/api) ---
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PARSER_CLASSES": ["order_service.api.parsers.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "order_service.api.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Flash-sale order API",
    "DESCRIPTION": "Cart (kept in the shared Redis session) and checkout. See docs/order.md.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ and /api/redoc/ load their JS and CSS from drf-spectacular-sidecar (static
    # files of this service), never from a CDN; no online validator badge either.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
}

# --- Checkout (docs/order.md) ---
# How long an Idempotency-Key is remembered (seconds); `manage.py order idempotency_cleanup`
# (also run by the outbox relay) deletes expired keys.
IDEMPOTENCY_KEY_TTL = env.int("IDEMPOTENCY_KEY_TTL", default=24 * 3600)
# How long a checkout holds the in-flight lock of its key (a crashed request frees it then).
IDEMPOTENCY_LOCK_TTL = env.int("IDEMPOTENCY_LOCK_TTL", default=30)
# Per-shopper reservation counters expire with the sale; this when the offer has no window.
SHOPPER_COUNTER_TTL = env.int("SHOPPER_COUNTER_TTL", default=7 * 24 * 3600)
CART_MAX_LINES = env.int("CART_MAX_LINES", default=50)
# Longest string the API takes anywhere (path, query, body): a sku is at most 64 (ADR 0069).
API_MAX_STRING_LENGTH = env.int("API_MAX_STRING_LENGTH", default=1024)
CART_MAX_QUANTITY = env.int("CART_MAX_QUANTITY", default=99)  # when the offer has no limit

# --- Outbox: the relay (shared/outbox; OUTBOX_* in shared/settings/base.py) ---
# A reservation with no order this long (seconds, over two sweeps) is given back by the relay.
ORPHAN_RESERVATION_AGE = env.float("ORPHAN_RESERVATION_AGE", default=120.0)

# --- Shopper accounts (order_service/accounts, docs/accounts.md, ADR 0108) ---
# Shoppers sign in through authenticate(realm="shopper"): django-axes first (it counts and
# locks out), then the shopper backend (it answers only that realm, so a shopper's right
# password wins over a staff user of the same name), then the staff users of this admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "order_service.accounts.backends.ShopperAccountBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# A locked-out sign-in under /api/ keeps the API's own answer (429 LOCKED_OUT as JSON).
AXES_LOCKOUT_CALLABLE = "order_service.api.account_views.axes_lockout_response"
# Django's four validators, for shoppers' and staff's passwords alike.
AUTH_PASSWORD_VALIDATORS: list[dict[str, Any]] = [  # type: ignore[no-redef]
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ["username", "email", "name", "first_name", "last_name"]},
    },
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env.int("PASSWORD_MIN_LENGTH", default=8)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# "My orders" lists at most this many (newest first).
ACCOUNT_ORDERS_MAX = env.int("ACCOUNT_ORDERS_MAX", default=100)

# --- Rate limits in the app (second layer behind NGINX's limit_req); django-ratelimit rates ---
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_CHECKOUT_SHOPPER = env("RATELIMIT_CHECKOUT_SHOPPER", default="10/m")
RATELIMIT_CHECKOUT_IP = env("RATELIMIT_CHECKOUT_IP", default="120/m")
RATELIMIT_API_SHOPPER = env("RATELIMIT_API_SHOPPER", default="120/m")
RATELIMIT_API_IP = env("RATELIMIT_API_IP", default="1200/m")

# The offer read model (written by the catalog) lives beside the inventory counters.
OFFERS_REDIS_URL = env("OFFERS_REDIS_URL", default=INVENTORY_REDIS_URL)

# Checkout keeps accepting orders into the outbox while RabbitMQ is down (R4): the broker is
# reported as degraded, not as a reason to leave the load balancer's pool. So is a sale
# paused while Redis's counters are rebuilt (ADR 0088): checkout answers SALE_PAUSED fast,
# and the cart and order status still work. `bin/platform up` waits for it to be ok.
READINESS_CHECKS = [*READINESS_CHECKS, "sale"]
READINESS_DEGRADED_OK = ["broker", "sale"]

# Fulfillment's internal API, reached through the local Envoy sidecar (mTLS, retries and
# metrics live there, not here: docs/edge-and-mesh.md).
FULFILLMENT_URL = env("FULFILLMENT_URL", default="http://127.0.0.1:9101")
FULFILLMENT_TIMEOUT = env.float("FULFILLMENT_TIMEOUT", default=2.0)

# --- Waiting room (order_service/waitingroom, docs/waiting-room.md) ---
# How long an admitted shopper may take to fetch the pass before the place is lost (s).
QUEUE_CLAIM_SECONDS = env.int("QUEUE_CLAIM_SECONDS", default=30)

# --- Staff roles (shared.roles, `manage.py order ensure_roles`; ADR 0067) ---
# The order admin is read-only for everybody (orders, outbox, idempotency keys) but for the
# waiting rooms, which the sale manager defines and runs.
STAFF_ROLES = {
    "sale manager": [
        "orders.view_order",
        "orders.view_orderline",
        "waitingroom.view_waitingroom",
        "waitingroom.add_waitingroom",
        "waitingroom.change_waitingroom",
    ],
    "finance": ["orders.view_order", "orders.view_orderline"],
}
