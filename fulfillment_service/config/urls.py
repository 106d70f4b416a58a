"""Fulfillment service URLs: admin under /admin/fulfillment/ (with the dead-letter view),
the internal API under /internal/, health, readiness and metrics."""

from django.contrib import admin
from django.urls import include, path

from fulfillment_service.fulfillment.admin import admin_extra_urls

admin.site.site_header = "Flash-sale · fulfillment"
admin.site.site_title = "fulfillment admin"
# The index links the dead-letter view (it is not a model, so the app list would not).
admin.site.index_template = "admin/fulfillment/index.html"

urlpatterns = [
    path("admin/fulfillment/", include(admin_extra_urls())),
    path("admin/fulfillment/", admin.site.urls),
    path("internal/", include("fulfillment_service.internal_api.urls")),
    path("", include("shared.urls")),
]
