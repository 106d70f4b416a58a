"""Order service URLs: the REST API under /api/, the waiting room under /queue/, admin under
/admin/order/, health, readiness and metrics (with the waiting room's gauges)."""

from django.contrib import admin
from django.urls import include, path

from order_service.waitingroom.metrics import metrics_view

admin.site.site_header = "Flash-sale · order"
admin.site.site_title = "order admin"

urlpatterns = [
    path("api/", include("order_service.api.urls")),
    path("queue/", include("order_service.waitingroom.urls")),
    path("admin/order/", admin.site.urls),
    # Before shared.urls: django-prometheus's export plus the room gauges read from Redis.
    path("metrics", metrics_view, name="prometheus-django-metrics"),
    path("", include("shared.urls")),
]
