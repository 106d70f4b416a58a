"""Catalog service settings shared by every environment."""

from shared.settings.base import *  # noqa: F403

SERVICE_NAME = "catalog"
ROOT_URLCONF = "catalog_service.config.urls"
WSGI_APPLICATION = "catalog_service.config.wsgi.application"

INSTALLED_APPS = SHARED_APPS + [
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
# Cache-Control of successful GET answers: short, so a sale price or stock status is at most
# this old at the edge, with stale-while-revalidate so a spike never waits on the origin.
GRAPHQL_GET_MAX_AGE = env.int("GRAPHQL_GET_MAX_AGE", default=1)
GRAPHQL_GET_STALE_WHILE_REVALIDATE = env.int("GRAPHQL_GET_STALE_WHILE_REVALIDATE", default=10)
# Automatic persisted queries live in the default cache (Redis) for this long.
GRAPHQL_APQ_TTL = env.int("GRAPHQL_APQ_TTL", default=7 * 24 * 3600)
