"""The monolith's one Django app."""

from django.apps import AppConfig


class MonolithConfig(AppConfig):
    name = "bench.baseline"
    label = "monolith"
    default_auto_field = "django.db.models.BigAutoField"
