"""Order service URLs: the REST API under /api/, admin under /admin/order/, health,
readiness and metrics."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Flash-sale · order"
admin.site.site_title = "order admin"

urlpatterns = [
    path("api/", include("order_service.api.urls")),
    path("admin/order/", admin.site.urls),
    path("", include("shared.urls")),
]
