"""Redis came back empty: checkout pauses, and the order service restores what only it
knows (ADR 0088; orders/restore.py). The rebuild end to end, with fulfillment and a real
Redis restart, is tests/system/test_faults_audit.py."""

from __future__ import annotations

import pytest

from order_service.orders.restore import inventory_reservations_restore
from shared.inventory import EPOCH_KEY, RESTORED_KEY, reservation_key, shopper_key
from shared.offers import OFFERS_EPOCH_KEY, offer_key
from tests.support.order_api import checkout_one

pytestmark = pytest.mark.django_db


def test_no_epoch_pauses_checkout_and_reserves_nothing(client, sale, redis_client):
    a = sale.sku("A", stock=5)
    redis_client.delete(EPOCH_KEY)
    r = checkout_one(client, a, "k1")
    assert r.status_code == 503
    assert r.json()["code"] == "SALE_PAUSED"
    assert r["Retry-After"] == "1"
    assert sale.available(a) == 5
    assert sale.reservations() == []
    redis_client.set(EPOCH_KEY, "test")
    assert checkout_one(client, a, "k1").status_code == 202  # the same key, once resumed
    assert sale.available(a) == 4


def test_readiness_reports_a_paused_sale_as_degraded_until_the_epoch_is_back(
    client, sale, redis_client
):
    """The instance stays in the pool (200: cart and status still work) and says why
    checkout pauses; `bin/platform up` waits for "ok" before printing the URLs."""
    redis_client.delete(EPOCH_KEY)
    paused = client.get("/readyz")
    assert paused.status_code == 200
    body = paused.json()
    assert (body["status"], body["degraded"], body["down"]) == ("degraded", ["sale"], [])
    assert body["checks"]["sale"]["status"] == "down"
    assert "inv:epoch missing" in body["checks"]["sale"]["error"]
    redis_client.set(EPOCH_KEY, "test")
    body = client.get("/readyz").json()
    assert (body["status"], body["checks"]["sale"]["status"]) == ("ok", "ok")


def test_a_missing_offer_while_offers_are_not_republished_is_paused_not_unknown(
    client, sale, redis_client
):
    a = sale.sku("A", stock=5)
    redis_client.delete(offer_key(a), OFFERS_EPOCH_KEY)
    r = checkout_one(client, a, "k1")
    assert (r.status_code, r.json()["code"]) == (503, "SALE_PAUSED")
    added = client.post("/api/cart/items", {"sku": a, "quantity": 1}, "application/json")
    assert (added.status_code, added.json()["code"]) == (503, "SALE_PAUSED")
    redis_client.set(OFFERS_EPOCH_KEY, "test")
    r = checkout_one(client, a, "k1")
    assert (r.status_code, r.json()["code"]) == (422, "UNKNOWN_SKU")


def test_restore_writes_back_open_reservations_and_shopper_counters(client, sale, redis_client):
    a = sale.sku("A", stock=10, limit=5)
    b = sale.sku("B", stock=10)
    first = checkout_one(client, a, "k1", quantity=2).json()["order_id"]
    second = checkout_one(client, b, "k2", quantity=3).json()["order_id"]
    shopper = client.session["shopper_id"]
    # What an empty restart leaves of this test's keys: nothing.
    before = {
        "res_first": redis_client.hgetall(reservation_key(first)),
        "counter": redis_client.get(shopper_key(a, shopper)),
    }
    redis_client.delete(
        EPOCH_KEY, RESTORED_KEY, reservation_key(first), reservation_key(second),
        shopper_key(a, shopper), shopper_key(b, shopper),
    )  # fmt: skip

    restored = inventory_reservations_restore(grace=0)

    assert (restored.reservations, restored.units, restored.shopper_counters) == (2, 5, 2)
    assert redis_client.hgetall(reservation_key(first)) == before["res_first"]
    assert redis_client.hgetall(reservation_key(second)) == {
        b: "3",
        f"shopper:{b}": shopper_key(b, shopper),
    }
    assert redis_client.get(shopper_key(a, shopper)) == before["counter"] == "2"
    assert redis_client.get(RESTORED_KEY) == restored.marker
    # Only while no epoch is set: live counters already count these reservations.
    assert inventory_reservations_restore(grace=0) is None
    redis_client.set(EPOCH_KEY, "test")
    redis_client.delete(RESTORED_KEY)
    assert inventory_reservations_restore(grace=0) is None
