"""factory-boy factories for the catalog's models (tests build rows with these)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from catalog_service.catalog.models import Category, FlashSale, Product, Review


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    sku = factory.Sequence(lambda n: f"TST-{n:06d}")
    slug = factory.LazyAttribute(lambda p: p.sku.lower())
    name = factory.Sequence(lambda n: f"Test product {n}")
    description = "A product made by a test."
    images = factory.LazyAttribute(lambda p: [f"https://img.test/{p.sku}.jpg"])
    attributes = factory.LazyFunction(lambda: {"colour": "red"})
    price = Decimal("100.00")
    currency = "EUR"
    category = factory.SubFactory(CategoryFactory)


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    product = factory.SubFactory(ProductFactory)
    rating = 4
    title = factory.Sequence(lambda n: f"Review {n}")
    body = "Fine."
    author_name = "Tester"
    created_at = factory.Sequence(lambda n: timezone.now() - timedelta(hours=n))


class FlashSaleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FlashSale

    product = factory.SubFactory(ProductFactory)
    sale_price = Decimal("60.00")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))
    ends_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=1))
    per_shopper_limit = 2
