"""Django app config for the fulfillment domain."""

from django.apps import AppConfig


class FulfillmentConfig(AppConfig):
    name = "fulfillment_service.fulfillment"
    label = "fulfillment"
    verbose_name = "Fulfillment"
    default_auto_field = "django.db.models.BigAutoField"
