"""The category list counts products per listed category (a correlated count on the
product_category_id index, ADR 0102), not with a join over every product."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog_service.catalog.models import Category, Product

pytestmark = pytest.mark.django_db


def test_the_category_list_shows_and_sorts_by_product_counts(admin_client):
    Category.objects.create(slug="empty", name="Empty")
    two = Category.objects.create(slug="two", name="Two")
    one = Category.objects.create(slug="one", name="One")
    for n, category in enumerate([two, two, one]):
        Product.objects.create(
            sku=f"CNT-{n}",
            slug=f"cnt-{n}",
            name=f"Count {n}",
            price=Decimal("1.00"),
            category=category,
        )
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get("/admin/catalog/catalog/category/", {"o": "3"})
    assert page.status_code == 200
    rows = [(c.slug, c._products) for c in page.context["cl"].result_list]
    assert rows == [("empty", 0), ("one", 1), ("two", 2)]
    assert page.context["cl"].result_count == 3
    # No GROUP BY over the products: the count is a subquery per category.
    assert [
        q["sql"]
        for q in captured.captured_queries
        if "GROUP BY" in q["sql"] and "LEFT OUTER JOIN" in q["sql"]
    ] == []
