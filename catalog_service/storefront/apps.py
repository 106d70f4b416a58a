"""The storefront page served at ``/``: HTML + a little JS speaking APQ GET to /graphql."""

from django.apps import AppConfig


class StorefrontConfig(AppConfig):
    name = "catalog_service.storefront"
    label = "storefront"
    verbose_name = "Storefront"
