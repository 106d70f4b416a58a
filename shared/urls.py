"""URLs every service mounts: health, readiness and Prometheus metrics."""

from django.urls import path
from django_prometheus import exports

from shared import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", exports.ExportToDjangoView, name="prometheus-django-metrics"),
]
