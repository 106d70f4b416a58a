"""Catalog service URLs: storefront at /, GraphQL at /graphql, admin under /admin/catalog/,
health, readiness and metrics."""

from django.contrib import admin
from django.urls import include, path

from catalog_service.graphql.views import CatalogGraphQLView
from catalog_service.storefront.views import storefront

admin.site.site_header = "Flash-sale · catalog"
admin.site.site_title = "catalog admin"

urlpatterns = [
    path("", storefront, name="storefront"),
    path("graphql", CatalogGraphQLView.as_view(), name="graphql"),
    path("admin/catalog/", admin.site.urls),
    path("", include("shared.urls")),
]
