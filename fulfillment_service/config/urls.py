"""Fulfillment service URLs: admin under /admin/fulfillment/, health, readiness and metrics."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Flash-sale · fulfillment"
admin.site.site_title = "fulfillment admin"

urlpatterns = [
    path("admin/fulfillment/", admin.site.urls),
    path("", include("shared.urls")),
]
