"""Staff manage the catalog in the admin (search, filters, list columns); saves go through
the services, so they republish offers, and flash-sale rules show as form errors."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from catalog_factories import CategoryFactory, FlashSaleFactory, ProductFactory, ReviewFactory
from django.utils import timezone

from catalog_service.catalog import services
from catalog_service.catalog.models import FlashSale, Product
from shared.offers import get_offers

pytestmark = pytest.mark.django_db

ADMIN = "/admin/catalog/catalog"


def listed(admin_client, path: str, model: str) -> set[int]:
    """The primary keys a changelist shows: its result rows, each linking to its change page."""
    response = admin_client.get(f"{ADMIN}/{model}/{path}")
    assert response.status_code == 200
    shown = {obj.pk for obj in response.context["cl"].result_list}
    links = set(
        map(int, re.findall(rf'href="{ADMIN}/{model}/(\d+)/change/', response.content.decode()))
    )
    assert links == shown
    return shown


def test_category_search_matches_name_or_slug(admin_client):
    audio = CategoryFactory(slug="audio", name="Audio")
    pro = CategoryFactory(slug="pro-audio", name="Studio gear")
    CategoryFactory(slug="cameras", name="Cameras")
    assert listed(admin_client, "?q=aud", "category") == {audio.pk, pro.pk}


def test_product_search_and_active_filter(admin_client):
    shown = ProductFactory(sku="ADM-1")
    ProductFactory(sku="ADM-9", is_active=False)  # found by the search, not by the filter
    ProductFactory(sku="OTH-1")  # active, not found by the search
    assert listed(admin_client, "?q=ADM&is_active__exact=1", "product") == {shown.pk}
    assert len(listed(admin_client, "?q=ADM", "product")) == 2


def test_review_rating_filter_and_product_search(admin_client):
    product = ProductFactory(sku="ADM-1")
    five = ReviewFactory(product=product, rating=5)
    ReviewFactory(product=product, rating=4)
    ReviewFactory(product=ProductFactory(sku="OTH-1"), rating=5)
    assert listed(admin_client, "?rating=5&q=ADM", "review") == {five.pk}


def test_flash_sale_status_filter(admin_client):
    now = timezone.now()
    hour = timedelta(hours=1)
    sales = {
        "running": FlashSaleFactory(starts_at=now - hour, ends_at=now + hour),
        "upcoming": FlashSaleFactory(starts_at=now + hour, ends_at=now + 2 * hour),
        "ended": FlashSaleFactory(starts_at=now - 2 * hour, ends_at=now - hour),
    }
    for status, sale in sales.items():
        assert listed(admin_client, f"?status={status}", "flashsale") == {sale.pk}, status
    assert listed(admin_client, "", "flashsale") == {s.pk for s in sales.values()}


def test_product_changelist_columns(admin_client):
    ProductFactory(sku="ADM-2", name="Column check", price=Decimal("12.50"))
    body = admin_client.get(f"{ADMIN}/product/?q=ADM-2").content.decode()
    for text in ("ADM-2", "Column check", "12.50", "EUR"):
        assert text in body


def test_admin_product_save_republishes_the_offer(
    admin_client, offers_redis, django_capture_on_commit_callbacks
):
    product = ProductFactory(sku="ADM-3", name="Old name", price=Decimal("20.00"))
    form = {
        "sku": "ADM-3",
        "slug": product.slug,
        "name": "New name",
        "description": "",
        "images": "[]",
        "attributes": "{}",
        "price": "25.00",
        "currency": "EUR",
        "category": product.category_id,
        "is_active": "on",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{ADMIN}/product/{product.id}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    offer = get_offers(offers_redis, ["ADM-3"])["ADM-3"]
    assert (offer.name, offer.price) == ("New name", "25.00")


def test_admin_flash_sale_overlap_is_a_form_error_and_writes_nothing(admin_client):
    product = ProductFactory(price=Decimal("100.00"))
    FlashSaleFactory(product=product)
    now = timezone.now()
    form = {
        "product": product.id,
        "sale_price": "50.00",
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": (now + timedelta(hours=2)).strftime("%Y-%m-%d"),
        "ends_at_1": (now + timedelta(hours=2)).strftime("%H:%M:%S"),
        "per_shopper_limit": "2",
    }
    response = admin_client.post(f"{ADMIN}/flashsale/add/", form)
    assert response.status_code == 200
    assert "another flash sale of this product overlaps this window" in response.content.decode()
    assert FlashSale.objects.filter(product=product).count() == 1


def test_admin_delete_goes_through_the_service(
    admin_client, offers_redis, django_capture_on_commit_callbacks
):
    product = ProductFactory(sku="ADM-4")
    services.offer_publish_many(product_ids=[product.id])
    assert get_offers(offers_redis, ["ADM-4"])["ADM-4"] is not None
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"{ADMIN}/product/",
            {"action": "delete_selected", "_selected_action": [product.id], "post": "yes"},
        )
    assert response.status_code == 302
    assert not Product.objects.filter(sku="ADM-4").exists()
    assert get_offers(offers_redis, ["ADM-4"]) == {"ADM-4": None}
