"""Catalog service settings shared by every environment."""

from shared.settings.base import *

SERVICE_NAME = "catalog"
ROOT_URLCONF = "catalog_service.config.urls"
WSGI_APPLICATION = "catalog_service.config.wsgi.application"

INSTALLED_APPS = [
    *SHARED_APPS,
    "graphene_django",
    # domain apps of the catalog service
    "catalog_service.catalog",
    "catalog_service.storefront",
]

DATABASES = {"default": database("catalog", "catalog")}
CACHES = redis_caches("catalog")

# Behind the edge each service lives under its own prefix for admin and static files.
STATIC_URL = "/static/catalog/"
STATIC_ROOT = STATIC_ROOT_BASE / "catalog"
# Staff log in to /admin/catalog/ with a session and cookie of their own (ADR 0065).
STAFF_SESSION_PATH = "/admin/catalog/"
STAFF_SESSION_COOKIE_NAME = "flashsale_staff_catalog"
# Only this admin uses CSRF here: a cookie of its own, so a login to another admin (which
# rotates that one's token) leaves this admin's open forms valid. The order service keeps
# Django's `csrftoken`, which the storefront's script reads for the API.
CSRF_COOKIE_NAME = "flashsale_csrf_catalog"

# Product pictures (the demo seed draws them): files under the static root's media/ tree,
# so the edge's /static/ location serves them and no page needs another host (ADR 0076).
MEDIA_URL = "/static/media/catalog/"
MEDIA_ROOT = STATIC_ROOT_BASE / "media" / "catalog"
READINESS_CHECKS = [
    "database",
    "redis",
]  # catalog never talks to the broker: see docs/architecture.md

# --- Read models in Redis (shared/): availability (read only here) and offers (written here).
OFFERS_REDIS_URL = env("OFFERS_REDIS_URL", default=INVENTORY_REDIS_URL)

# --- GraphQL (catalog_service/graphql/, docs/catalog.md) ---
GRAPHENE = {"SCHEMA": "catalog_service.graphql.schema.schema"}
GRAPHIQL = env.bool("GRAPHIQL", default=False)  # local.py turns it on
GRAPHQL_INTROSPECTION = env.bool("GRAPHQL_INTROSPECTION", default=False)
GRAPHQL_MAX_DEPTH = env.int("GRAPHQL_MAX_DEPTH", default=10)
GRAPHQL_MAX_COST = env.int("GRAPHQL_MAX_COST", default=5000)
GRAPHQL_MAX_PAGE_SIZE = env.int("GRAPHQL_MAX_PAGE_SIZE", default=100)
GRAPHQL_MAX_ALIASES = env.int("GRAPHQL_MAX_ALIASES", default=20)
GRAPHQL_MAX_BODY_BYTES = env.int("GRAPHQL_MAX_BODY_BYTES", default=16 * 1024)
# Longest string literal or variable value taken (a slug is at most 160, a search term less).
GRAPHQL_MAX_STRING_LENGTH = env.int("GRAPHQL_MAX_STRING_LENGTH", default=1024)
# Cache-Control of successful GET answers: short, so a sale price or stock status is at most
# this old at the edge, with stale-while-revalidate so a spike never waits on the origin.
GRAPHQL_GET_MAX_AGE = env.int("GRAPHQL_GET_MAX_AGE", default=1)
GRAPHQL_GET_STALE_WHILE_REVALIDATE = env.int("GRAPHQL_GET_STALE_WHILE_REVALIDATE", default=10)
# Automatic persisted queries live in the default cache (Redis) for this long.
GRAPHQL_APQ_TTL = env.int("GRAPHQL_APQ_TTL", default=7 * 24 * 3600)

# --- Staff roles (shared.roles, `manage.py catalog ensure_roles`; ADR 0067) ---
STAFF_ROLES = {
    # Runs the sale: flash sales (the admin's start/end/extend controls need "change").
    "sale manager": [
        "catalog.view_product",
        "catalog.view_category",
        "catalog.view_flashsale",
        "catalog.add_flashsale",
        "catalog.change_flashsale",
    ],
    # Reads prices and sales to reconcile the books; changes nothing.
    "finance": ["catalog.view_product", "catalog.view_flashsale"],
}
