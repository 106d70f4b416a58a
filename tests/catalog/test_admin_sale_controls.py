"""Sale control from the catalog admin (ADR 0066): start now, end now, extend by N minutes,
each an admin action over catalog.services; the offer read model follows on commit, so the
order service prices and limits from the new window at once; times shown with their zone.
Roles (ADR 0067): "sale manager" runs them, "finance" sees sales but cannot change them."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from catalog_factories import FlashSaleFactory, ProductFactory
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone

from catalog_service.catalog import services
from catalog_service.catalog.errors import FlashSaleInvalid
from catalog_service.catalog.models import FlashSale
from shared.offers import get_offers

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/catalog/catalog/flashsale/"


def act(client, action: str, sale: FlashSale, capture, **extra):
    with capture(execute=True):
        return client.post(
            CHANGELIST, {"action": action, "_selected_action": [sale.pk], **extra}, follow=True
        )


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def offer(redis_client, sku: str):
    return get_offers(redis_client, [sku])[sku]


def test_start_now_opens_an_upcoming_sale_and_republishes(
    admin_client, offers_redis, django_capture_on_commit_callbacks
):
    sale = FlashSaleFactory(
        product=ProductFactory(sku="CTL-1"),
        starts_at=timezone.now() + timedelta(hours=2),
        ends_at=timezone.now() + timedelta(hours=3),
    )
    before = timezone.now()
    page = act(admin_client, "start_now", sale, django_capture_on_commit_callbacks)
    sale.refresh_from_db()
    assert before <= sale.starts_at <= timezone.now()
    published = offer(offers_redis, "CTL-1")
    assert datetime.fromisoformat(published.starts_at) == sale.starts_at
    assert published.on_sale_at(timezone.now())
    [message] = messages_of(page)
    assert message.startswith("CTL-1: started; runs ")
    assert message.count(" UTC") == 2


def test_end_now_closes_a_running_sale_and_the_offer_loses_its_sale_price(
    admin_client, offers_redis, django_capture_on_commit_callbacks
):
    sale = FlashSaleFactory(product=ProductFactory(sku="CTL-2"))
    services.offer_publish_many(product_ids=[sale.product_id])
    assert offer(offers_redis, "CTL-2").sale_price == "60.00"
    act(admin_client, "end_now", sale, django_capture_on_commit_callbacks)
    sale.refresh_from_db()
    assert sale.ends_at <= timezone.now()
    ended = offer(offers_redis, "CTL-2")
    assert (ended.sale_price, ended.starts_at, ended.ends_at) == ("", "", "")
    assert ended.price == "100.00"


def test_extend_asks_for_minutes_then_moves_the_end_exactly(
    admin_client, offers_redis, django_capture_on_commit_callbacks
):
    sale = FlashSaleFactory(product=ProductFactory(sku="CTL-3"))
    old_end = sale.ends_at
    form = admin_client.post(CHANGELIST, {"action": "extend", "_selected_action": [sale.pk]})
    assert form.status_code == 200
    body = form.content.decode()
    assert "Minutes" in body and "times in UTC" in body and "CTL-3" in body
    sale.refresh_from_db()
    assert sale.ends_at == old_end  # nothing changed before "apply"

    page = act(
        admin_client, "extend", sale, django_capture_on_commit_callbacks, apply="1", minutes="45"
    )
    sale.refresh_from_db()
    assert sale.ends_at == old_end + timedelta(minutes=45)
    assert datetime.fromisoformat(offer(offers_redis, "CTL-3").ends_at) == sale.ends_at
    assert messages_of(page)[0].startswith("CTL-3: extended by 45 min; runs ")


@pytest.mark.parametrize("minutes", ["0", "-5", "10081", "soon"])
def test_extend_refuses_a_bad_number_of_minutes(admin_client, minutes):
    sale = FlashSaleFactory(product=ProductFactory(sku=f"CTL-M{minutes}"))
    old_end = sale.ends_at
    page = admin_client.post(
        CHANGELIST,
        {"action": "extend", "_selected_action": [sale.pk], "apply": "1", "minutes": minutes},
    )
    assert page.status_code == 200
    assert "errorlist" in page.content.decode()
    sale.refresh_from_db()
    assert sale.ends_at == old_end


def test_a_control_that_breaks_a_rule_is_reported_and_changes_nothing(
    admin_client, offers_redis, django_capture_on_commit_callbacks
):
    product = ProductFactory(sku="CTL-4", price=Decimal("100.00"))
    running = FlashSaleFactory(product=product)
    upcoming = FlashSaleFactory(
        product=product,
        starts_at=running.ends_at + timedelta(minutes=10),
        ends_at=running.ends_at + timedelta(hours=2),
    )
    page = act(admin_client, "end_now", upcoming, django_capture_on_commit_callbacks)
    assert messages_of(page) == [
        "CTL-4: only a running sale can be ended now (FLASH_SALE_NOT_RUNNING)"
    ]
    page = act(
        admin_client,
        "extend",
        running,
        django_capture_on_commit_callbacks,
        apply="1",
        minutes="30",
    )
    assert messages_of(page) == [
        "CTL-4: another flash sale of this product overlaps this window (FLASH_SALE_OVERLAP)"
    ]
    page = act(admin_client, "start_now", running, django_capture_on_commit_callbacks)
    assert messages_of(page) == [
        "CTL-4: this sale has already started; extend it instead (FLASH_SALE_RUNNING)"
    ]
    for sale in (running, upcoming):
        before = (sale.starts_at, sale.ends_at)
        sale.refresh_from_db()
        assert (sale.starts_at, sale.ends_at) == before
    assert offers_redis.keys("offer:*") == []  # nothing was published


def test_services_end_and_start_edge_cases():
    now = timezone.now()
    ended = FlashSaleFactory(
        product=ProductFactory(sku="CTL-5"),
        starts_at=now - timedelta(hours=3),
        ends_at=now - timedelta(hours=2),
    )
    with pytest.raises(FlashSaleInvalid) as err:
        services.flash_sale_start_now(flash_sale=ended)
    assert err.value.code == "FLASH_SALE_ENDED"
    with pytest.raises(FlashSaleInvalid) as err:
        services.flash_sale_extend(flash_sale=ended, minutes=30)
    assert err.value.code == "FLASH_SALE_ENDED"  # still in the past after 30 min
    reopened = services.flash_sale_extend(flash_sale=ended, minutes=180)
    assert reopened.is_active_at(timezone.now())
    # A sale that started this very moment ends one microsecond after its start.
    fresh = FlashSaleFactory(
        product=ProductFactory(sku="CTL-6"), starts_at=now, ends_at=now + timedelta(hours=1)
    )
    closed = services.flash_sale_end_now(flash_sale=fresh, now=now)
    assert closed.ends_at == now + timedelta(microseconds=1)


def test_list_and_form_show_the_time_zone(admin_client):
    sale = FlashSaleFactory(product=ProductFactory(sku="CTL-7"))
    body = admin_client.get(CHANGELIST).content.decode()
    assert "Times in UTC (server time zone); now " in body
    assert f"{timezone.localtime(sale.ends_at):%Y-%m-%d %H:%M:%S} UTC" in body
    form = admin_client.get(f"{CHANGELIST}{sale.pk}/change/").content.decode()
    assert "Times in UTC" in form


def staff(client, role: str) -> User:
    call_command("ensure_roles", verbosity=0)
    user = User.objects.create_user(username=role.replace(" ", "-"), password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def test_a_sale_manager_runs_the_controls(
    staff_client, offers_redis, django_capture_on_commit_callbacks
):
    staff(staff_client, "sale manager")
    sale = FlashSaleFactory(product=ProductFactory(sku="CTL-8"))
    old_end = sale.ends_at
    page = act(
        staff_client, "extend", sale, django_capture_on_commit_callbacks, apply="1", minutes="5"
    )
    assert page.status_code == 200
    sale.refresh_from_db()
    assert sale.ends_at == old_end + timedelta(minutes=5)


def test_finance_sees_sales_but_has_no_controls(staff_client):
    staff(staff_client, "finance")
    sale = FlashSaleFactory(product=ProductFactory(sku="CTL-9"))
    page = staff_client.get(CHANGELIST)
    assert page.status_code == 200
    body = page.content.decode()
    assert "CTL-9" in body
    assert 'value="extend"' not in body and 'value="end_now"' not in body
    old_end = sale.ends_at
    refused = staff_client.post(
        CHANGELIST,
        {"action": "extend", "_selected_action": [sale.pk], "apply": "1", "minutes": "5"},
    )
    assert refused.status_code == 200  # Django's "No action selected" list, nothing run
    sale.refresh_from_db()
    assert sale.ends_at == old_end
    assert staff_client.get(f"{CHANGELIST}add/").status_code == 403
