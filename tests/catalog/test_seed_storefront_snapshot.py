"""seed_demo (fast, idempotent, with progress and a summary), the storefront page at /,
and the committed schema snapshot that CI diffs."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from catalog_service.catalog.management.commands import graphql_snapshot
from catalog_service.catalog.models import Category, FlashSale, Product, Review
from catalog_service.graphql.queries import query_text
from shared.demo import FLASH_SALE_SKUS, demo_skus
from shared.offers import get_offers

pytestmark = pytest.mark.django_db


def test_seed_demo_loads_a_realistic_catalog_and_is_idempotent(capsys, offers_redis):
    # How long it takes is measured by bench/seed_demo.py, not asserted here.
    call_command("seed_demo", products=60, reviews_min=10, reviews_max=30)
    out = capsys.readouterr().out
    assert out.startswith("Seeding the catalog demo: 60 products ...\n  categories: 12 (12 new)")
    assert "  products: 60/60 new\n" in out
    assert "flash sales: 20 new" in out
    assert "Catalog demo ready in" in out and "60 products (60 new)" in out

    skus = demo_skus(60)
    assert sorted(Product.objects.values_list("sku", flat=True)) == skus
    assert Category.objects.count() == 12
    per_product = [p.reviews.count() for p in Product.objects.all()]
    assert min(per_product) >= 10 and max(per_product) <= 30
    now = timezone.now()
    running = FlashSale.objects.filter(starts_at__lte=now, ends_at__gt=now)
    assert sorted(running.values_list("product__sku", flat=True)) == skus[:FLASH_SALE_SKUS]
    assert set(running.values_list("per_shopper_limit", flat=True)) == {2}
    offers = get_offers(offers_redis, skus)
    assert all(o is not None for o in offers.values())
    assert sum(1 for o in offers.values() if o.on_sale_at(now)) == FLASH_SALE_SKUS

    counts = (Product.objects.count(), Review.objects.count(), FlashSale.objects.count())
    call_command("seed_demo", products=60, reviews_min=10, reviews_max=30)
    again = capsys.readouterr().out
    assert "60 products (0 new), 0 new categories, 0 new reviews, 0 new flash sales" in again
    assert (Product.objects.count(), Review.objects.count(), FlashSale.objects.count()) == counts


def test_seed_demo_refuses_bad_options():
    with pytest.raises(CommandError, match="need --products >= 1"):
        call_command("seed_demo", products=0)


def test_storefront_page_speaks_apq_get(client):
    # The grid page carries its persisted query (hash and text) for its script, which is
    # tested in a real browser (tests/system/test_storefront_browser.py).
    response = client.get("/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=60"
    body = response.content.decode()
    text = query_text("storefront_grid")
    sha = hashlib.sha256(text.encode()).hexdigest()
    queries = json.loads(re.search(r'id="storefront-queries"[^>]*>(.*?)</script>', body).group(1))
    assert queries == {"grid": {"hash": sha, "query": text}}
    for shown in ("flashSale", "rating", "inventory", "perShopperLimit"):
        assert shown in text


def test_schema_snapshot_is_current():
    assert graphql_snapshot.SNAPSHOT.read_text() == graphql_snapshot.schema_sdl()
    call_command("graphql_snapshot", "--check")


def test_schema_snapshot_check_fails_with_a_diff_when_stale(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "schema.graphql"
    stale.write_text(graphql_snapshot.schema_sdl().replace("perShopperLimit", "limit"))
    monkeypatch.setattr(graphql_snapshot, "SNAPSHOT", stale)
    with pytest.raises(
        CommandError, match=re.escape("run `python manage.py catalog graphql_snapshot`")
    ):
        call_command("graphql_snapshot", "--check")
    assert "+  perShopperLimit: Int!" in capsys.readouterr().out
    call_command("graphql_snapshot")
    assert stale.read_text() == graphql_snapshot.schema_sdl()
