"""Catalog service URLs: admin under /admin/catalog/, health, readiness and metrics."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Flash-sale · catalog"
admin.site.site_title = "catalog admin"

urlpatterns = [
    path("admin/catalog/", admin.site.urls),
    path("", include("shared.urls")),
]
