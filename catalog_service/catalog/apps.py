"""The catalog domain app: categories, products, reviews and flash sales."""

from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog_service.catalog"
    label = "catalog"
    verbose_name = "Catalog"
