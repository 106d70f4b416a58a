"""Fulfillment service settings shared by every environment."""

import os

from shared.settings.base import *  # noqa: F403

SERVICE_NAME = "fulfillment"
ROOT_URLCONF = "fulfillment_service.config.urls"
WSGI_APPLICATION = "fulfillment_service.config.wsgi.application"

INSTALLED_APPS = SHARED_APPS + [
    # domain apps of the fulfillment service
    "fulfillment_service.fulfillment",
]

DATABASES = {"default": database("fulfillment", "fulfillment")}
# The simulated payment provider keeps its own books through its own connection, as a
# remote provider would; its commits do not wait for our WAL flush (see gateway.py).
DATABASES["provider"] = {
    **DATABASES["default"],
    "OPTIONS": {
        **DATABASES["default"].get("OPTIONS", {}),
        "options": "-c synchronous_commit=off",
    },
    "TEST": {"MIRROR": "default"},
}
CACHES = redis_caches("fulfillment")

# Behind the edge each service lives under its own prefix for admin and static files.
STATIC_URL = "/static/fulfillment/"
STATIC_ROOT = STATIC_ROOT_BASE / "fulfillment"
# Staff log in to /admin/fulfillment/ with a session and cookie of their own (ADR 0065).
STAFF_SESSION_PATH = "/admin/fulfillment/"
STAFF_SESSION_COOKIE_NAME = "flashsale_staff_fulfillment"
# Only this admin uses CSRF here: a cookie of its own, so a login to another admin (which
# rotates that one's token) leaves this admin's open forms valid. The order service keeps
# Django's `csrftoken`, which the storefront's script reads for the API.
CSRF_COOKIE_NAME = "flashsale_csrf_fulfillment"

# --- Payment gateway (fulfillment_service.fulfillment.gateway) ---
# The simulated provider stands in for a real one; it can be told to be slow or to fail.
PAYMENT_GATEWAY = env("PAYMENT_GATEWAY", default="simulated")
PAYMENT_LATENCY_MS = env.float("PAYMENT_LATENCY_MS", default=0.0)
PAYMENT_DECLINE_RATE = env.float("PAYMENT_DECLINE_RATE", default=0.0)
PAYMENT_TRANSIENT_ERROR_RATE = env.float("PAYMENT_TRANSIENT_ERROR_RATE", default=0.0)
# A JSON file that retells the running simulated provider (gateway.py); the spike's faults.
PAYMENT_SIMULATION_FILE = env(
    "PAYMENT_SIMULATION_FILE",
    default=(
        os.path.join(os.environ["VAR_DIR"], "payment-simulation.json")
        if os.environ.get("VAR_DIR")
        else ""
    ),
)

# --- Order processing (tasks) ---
# Transient errors (provider unavailable, database or Redis blips) are retried with
# exponential backoff and full jitter; after the last retry the message is dead-lettered.
FULFILLMENT_MAX_RETRIES = env.int("FULFILLMENT_MAX_RETRIES", default=6)
FULFILLMENT_RETRY_BASE_SECONDS = env.float("FULFILLMENT_RETRY_BASE_SECONDS", default=1.0)
FULFILLMENT_RETRY_MAX_SECONDS = env.float("FULFILLMENT_RETRY_MAX_SECONDS", default=60.0)
# Status events go out through the outbox relay process (manage.py fulfillment
# relay_outbox); INLINE also publishes right after each order's commit from the worker.
FULFILLMENT_OUTBOX_INLINE = env.bool("FULFILLMENT_OUTBOX_INLINE", default=False)
# The maintenance loop re-publishes outbox events older than this (relay down).
FULFILLMENT_OUTBOX_GRACE_SECONDS = env.float("FULFILLMENT_OUTBOX_GRACE_SECONDS", default=10.0)
# The periodic maintenance loop (manage.py fulfillment maintain): outbox sweep + invariants.
FULFILLMENT_MAINTAIN_INTERVAL = env.float("FULFILLMENT_MAINTAIN_INTERVAL", default=30.0)

# --- Staff roles (shared.roles, `manage.py fulfillment ensure_roles`; ADR 0067) ---
STAFF_ROLES = {
    # Restocks (the admin's restock action needs "change" on stock); no ledger, no payments.
    "sale manager": [
        "fulfillment.view_stock",
        "fulfillment.change_stock",
        "fulfillment.view_stockreceipt",
        "fulfillment.view_shipment",
    ],
    # The books, read-only (the ledger and payment admins allow no change to anyone).
    "finance": [
        "fulfillment.view_ledgertransaction",
        "fulfillment.view_ledgerentry",
        "fulfillment.view_payment",
    ],
}
