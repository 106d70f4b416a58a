"""Writes go through services, which republish the offer read model (shared.offers) after
commit; flash-sale rules refuse bad input with a stable code and write nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from catalog_factories import CategoryFactory, FlashSaleFactory, ProductFactory
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from catalog_service.catalog import services
from catalog_service.catalog.errors import CatalogError, FlashSaleInvalid
from catalog_service.catalog.models import FlashSale, Product
from shared.offers import (
    OFFERS_EPOCH_KEY,
    Offer,
    get_offers,
    offer_key,
    offers_epoch,
    offers_epoch_set,
    redis_run_id,
)

pytestmark = pytest.mark.django_db


def test_product_create_publishes_its_offer_after_commit(
    offers_redis, django_capture_on_commit_callbacks
):
    category = CategoryFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        product = services.product_create(
            sku="OFF-1", name="Kettle", price=Decimal("30"), category=category, currency="eur"
        )
        assert get_offers(offers_redis, ["OFF-1"]) == {"OFF-1": None}  # not before commit
    assert len(callbacks) == 1
    assert product.slug == "kettle-off-1"
    assert get_offers(offers_redis, ["OFF-1"]) == {
        "OFF-1": Offer(sku="OFF-1", name="Kettle", price="30.00", currency="EUR")
    }


def test_flash_sale_create_update_delete_republish(
    offers_redis, django_capture_on_commit_callbacks
):
    product = ProductFactory(sku="OFF-2", name="Lamp", price=Decimal("80.00"))
    starts = timezone.now() - timedelta(minutes=1)
    ends = starts + timedelta(hours=3)
    with django_capture_on_commit_callbacks(execute=True):
        sale = services.flash_sale_create(
            product=product,
            sale_price=Decimal("40.00"),
            starts_at=starts,
            ends_at=ends,
            per_shopper_limit=2,
        )
    offer = get_offers(offers_redis, ["OFF-2"])["OFF-2"]
    assert offer == Offer(
        sku="OFF-2",
        name="Lamp",
        price="80.00",
        currency="EUR",
        sale_price="40.00",
        starts_at=starts.isoformat(),
        ends_at=ends.isoformat(),
        per_shopper_limit=2,
    )
    assert offer.on_sale_at(timezone.now())

    sale.sale_price = Decimal("35.50")
    with django_capture_on_commit_callbacks(execute=True):
        services.flash_sale_save(flash_sale=sale)
    assert get_offers(offers_redis, ["OFF-2"])["OFF-2"].sale_price == "35.50"

    with django_capture_on_commit_callbacks(execute=True):
        services.flash_sale_delete(flash_sale=sale)
    assert get_offers(offers_redis, ["OFF-2"])["OFF-2"] == Offer(
        sku="OFF-2", name="Lamp", price="80.00", currency="EUR"
    )


def test_the_next_planned_sale_is_published_ahead(offers_redis, django_capture_on_commit_callbacks):
    product = ProductFactory(sku="OFF-3", price=Decimal("10.00"))
    now = timezone.now()
    FlashSaleFactory(
        product=product,
        starts_at=now - timedelta(days=2),
        ends_at=now - timedelta(days=1),
        sale_price=Decimal("5.00"),
    )
    later = now + timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        services.flash_sale_create(
            product=product,
            sale_price=Decimal("7.00"),
            starts_at=later,
            ends_at=later + timedelta(hours=1),
        )
    offer = get_offers(offers_redis, ["OFF-3"])["OFF-3"]
    assert (offer.sale_price, offer.starts_at) == ("7.00", later.isoformat())
    assert not offer.on_sale_at(now)


def test_product_update_and_delete(offers_redis, django_capture_on_commit_callbacks):
    product = ProductFactory(sku="OFF-4", price=Decimal("10.00"))
    with django_capture_on_commit_callbacks(execute=True):
        services.product_update(product=product, price=Decimal("12.00"), is_active=False)
    offer = get_offers(offers_redis, ["OFF-4"])["OFF-4"]
    assert (offer.price, offer.active) == ("12.00", False)
    with pytest.raises(CatalogError) as exc:
        services.product_update(product=product, sku="OTHER")
    assert exc.value.code == "FIELD_NOT_EDITABLE"
    with django_capture_on_commit_callbacks(execute=True):
        services.product_delete(product=product)
    assert offers_redis.exists(offer_key("OFF-4")) == 0


def test_a_rolled_back_edit_publishes_nothing(offers_redis, django_capture_on_commit_callbacks):
    product = ProductFactory(sku="OFF-5", price=Decimal("10.00"))
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.product_update(product=product, price=Decimal("1.00"))
        raise RuntimeError("crash after the save")
    assert callbacks == []
    assert get_offers(offers_redis, ["OFF-5"]) == {"OFF-5": None}
    assert Product.objects.get(sku="OFF-5").price == Decimal("10.00")


@pytest.mark.parametrize(
    "price, starts, ends, code",
    [
        ("100.00", 0, 60, "FLASH_SALE_INVALID"),  # not below the regular price
        ("0.00", 0, 60, "FLASH_SALE_INVALID"),
        ("50.00", 60, 0, "FLASH_SALE_INVALID"),  # ends before it starts
        ("50.00", 30, 90, "FLASH_SALE_OVERLAP"),  # overlaps the existing 0..60
    ],
)
def test_flash_sale_rules_refuse_and_write_nothing(price, starts, ends, code):
    product = ProductFactory(price=Decimal("100.00"))
    now = timezone.now()
    FlashSaleFactory(product=product, starts_at=now, ends_at=now + timedelta(minutes=60))
    # rule checks away from the existing sale, except the overlap case
    shift = timedelta(days=0 if code == "FLASH_SALE_OVERLAP" else 1)
    with pytest.raises(FlashSaleInvalid) as exc:
        services.flash_sale_create(
            product=product,
            sale_price=Decimal(price),
            starts_at=now + shift + timedelta(minutes=starts),
            ends_at=now + shift + timedelta(minutes=ends),
        )
    assert exc.value.code == code
    assert FlashSale.objects.filter(product=product).count() == 1


def test_publish_offers_command_republishes_everything(offers_redis, capsys):
    products = ProductFactory.create_batch(3)
    FlashSaleFactory(product=products[0], per_shopper_limit=2)
    offers_redis.flushdb()
    call_command("publish_offers")
    out = capsys.readouterr().out
    assert out.startswith("Publishing offers ...\nPublished 3 offers in ")
    offers = get_offers(offers_redis, [p.sku for p in products])
    assert [o.per_shopper_limit for o in offers.values()] == [2, 0, 0]
    assert [o.sale_price for o in offers.values()] == ["60.00", "", ""]


def test_a_complete_publication_marks_the_offers_and_a_restart_meanwhile_does_not(
    offers_redis,
):
    ProductFactory.create_batch(2)
    assert offers_epoch(offers_redis) is None  # an empty Redis: the order service pauses
    services.offer_publish_many(product_ids=[])  # a partial publication marks nothing
    assert offers_epoch(offers_redis) is None
    services.offer_publish_many()
    assert offers_epoch(offers_redis) == redis_run_id(offers_redis)
    offers_redis.delete(OFFERS_EPOCH_KEY)
    # Redis restarted during the publication (another run id): no marker (ADR 0088).
    assert offers_epoch_set(offers_redis, run_id="another-server") is False
    assert offers_epoch(offers_redis) is None


def test_redis_down_at_publish_keeps_the_committed_edit_and_says_how_to_fix(
    private_redis, django_capture_on_commit_callbacks, caplog
):
    product = ProductFactory(sku="OFF-6", price=Decimal("10.00"))
    url = private_redis.url(0)
    private_redis.stop()
    with (
        override_settings(OFFERS_REDIS_URL=url, REDIS_TIMEOUT=0.2),
        django_capture_on_commit_callbacks(execute=True),
    ):
        services.product_update(product=product, price=Decimal("11.00"))
    assert Product.objects.get(sku="OFF-6").price == Decimal("11.00")
    assert any("run `manage.py catalog publish_offers`" in r.getMessage() for r in caplog.records)
