"""The checkout accept path's round trips (ADRs 0097-0099), and the guarantees kept on it.

Transactional (``transaction=True``): checkouts commit as in production, so the replay
marker is written after the commit and the counts below are those of a real request. Each
count is exact: a new round trip on this path is a change to justify (docs/order.md).
"""

from __future__ import annotations

import collections
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis.connection
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key, get_usage

from order_service.orders.cart import Shopper
from order_service.orders.models import IdempotencyKey, Order
from order_service.orders.services import idempotency_guard
from shared.inventory import shopper_key
from shared.offers import Offer, publish_offers

pytestmark = pytest.mark.django_db(transaction=True)
CONNECTION_SETUP = {"HELLO", "SELECT", "CLIENT", "AUTH"}


class Trips:
    """Redis round trips (a pipeline or a script is one) and SQL statements, by name."""

    def __init__(self):
        self.redis: collections.Counter[str] = collections.Counter()
        self.sql: list[str] = []


@pytest.fixture
def trips(monkeypatch):
    seen = Trips()
    send = redis.connection.AbstractConnection.send_packed_command

    def counting_send(self, command, check_health=True):
        first = bytes(command[0] if isinstance(command, list | tuple) else command)
        name = first.split(b"\r\n")[2].decode().upper()
        if name not in CONNECTION_SETUP:  # once per pooled connection, not per request
            seen.redis[name] += 1
        return send(self, command, check_health)

    def counting_execute(execute, statement, params, many, context):
        seen.sql.append(" ".join(statement.split())[:60])
        return execute(statement, params, many, context)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting_send)
    with connection.execute_wrapper(counting_execute):
        yield seen


def checkout(client, body, key):
    return client.post(
        "/api/orders", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def order_sql(trips: Trips) -> list[str]:
    # The relay's publish (and its UPDATE) is the outbox's business (ADR 0092), not the
    # accept path's: none may happen in the request.
    return list(trips.sql)


def test_a_new_shoppers_checkout_is_four_redis_round_trips_and_one_statement(sale, trips):
    a = sale.sku("A", stock=10, limit=3)
    client = Client()
    client.get("/api/cart")  # the CSRF cookie: its own round trips do not count below
    trips.redis.clear()
    trips.sql.clear()
    r = checkout(client, {"items": [{"sku": a, "quantity": 2}]}, key="new")
    assert r.status_code == 202, r.content
    # The 2 rate-limit counters (one script, ADR 0107), the lock + marker + waiting-room
    # guard + offers + reservation script, after commit the marker + unlock + relay wake-up
    # script (ADR 0092: the request never talks to RabbitMQ; ADR 0107), the new session
    # (SET NX, no EXISTS).
    assert dict(trips.redis) == {"EVALSHA": 3, "SET": 1}
    assert order_sql(trips) == [order_sql(trips)[0]]
    assert order_sql(trips)[0].startswith("WITH new_order AS ( INSERT INTO orders_order")
    assert sale.available(a) == 8


def test_a_replay_is_answered_from_the_marker_without_sql(sale, trips):
    a = sale.sku("A", stock=10)
    client = Client()
    first = checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="again")
    trips.redis.clear()
    trips.sql.clear()
    again = checkout(client, {"items": [{"quantity": 1, "sku": a}]}, key="again")
    assert (again.status_code, again.json()) == (202, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert trips.sql == []
    # The 2 rate-limit counters (one script), one script answering the replay (before the
    # waiting room's guard: a retry of an accepted order needs no pass), the session.
    assert dict(trips.redis) == {"EVALSHA": 2, "GET": 1}
    assert sale.available(a) == 9
    assert Order.objects.count() == 1
    other = checkout(client, {"items": [{"sku": a, "quantity": 2}]}, key="again")
    assert (other.status_code, other.json()["code"]) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert sale.available(a) == 9
    assert len(sale.reservations()) == 1


def test_a_lost_marker_replays_from_the_unique_key(sale, redis_client):
    """Redis lost the marker (restart, or the process died after the commit): the key's
    unique constraint refuses the second order and the stored answer is replayed."""
    a = sale.sku("A", stock=10, limit=1)
    client = Client()
    first = checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="lost")
    guard = idempotency_guard(shopper=Shopper(client.session["shopper_id"]), key="lost")
    assert redis_client.delete(guard.marker_key) == 1
    again = checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="lost")
    # Refused by the reservation (limit 1 already held), answered from the database.
    assert (again.status_code, again.json()) == (202, first.json())
    assert again["Idempotent-Replayed"] == "true"
    assert sale.available(a) == 9
    assert Order.objects.count() == IdempotencyKey.objects.count() == 1
    assert len(sale.reservations()) == 1
    assert redis_client.get(guard.lock_key) is None

    b = sale.sku("B", stock=10)
    first = checkout(client, {"items": [{"sku": b, "quantity": 1}]}, key="lost-b")
    guard = idempotency_guard(shopper=Shopper(client.session["shopper_id"]), key="lost-b")
    redis_client.delete(guard.marker_key)
    # Reserved again, then the insert clashes on the key: the reservation goes back.
    again = checkout(client, {"items": [{"sku": b, "quantity": 1}]}, key="lost-b")
    assert (again.status_code, again.json()) == (202, first.json())
    assert sale.available(b) == 9
    assert Order.objects.count() == 2
    assert len(sale.reservations()) == 2
    assert redis_client.get(guard.lock_key) is None


def test_the_marker_and_the_lock_live_as_configured(sale, redis_client, settings):
    a = sale.sku("A", stock=10)
    client = Client()
    checkout(client, {"items": [{"sku": a, "quantity": 1}]}, key="ttl")
    guard = idempotency_guard(shopper=Shopper(client.session["shopper_id"]), key="ttl")
    assert settings.IDEMPOTENCY_KEY_TTL - 5 <= redis_client.ttl(guard.marker_key)
    assert redis_client.ttl(guard.marker_key) <= settings.IDEMPOTENCY_KEY_TTL
    assert redis_client.exists(guard.lock_key) == 0


def test_shopper_counters_outlive_a_long_sale(sale, redis_client, settings):
    now = datetime.now(UTC)
    sku = f"{sale.prefix}-LONG"
    publish_offers(
        redis_client,
        [
            Offer(
                sku=sku,
                name="long sale",
                price="20.00",
                currency="EUR",
                sale_price="9.99",
                starts_at=(now - timedelta(hours=1)).isoformat(),
                ends_at=(now + timedelta(days=30)).isoformat(),
                per_shopper_limit=2,
            )
        ],
    )
    sale.inventory.set_available(sku=sku, available=5)
    short = sale.sku("SHORT", stock=5, limit=2)  # ends in an hour: the default life
    client = Client()
    assert checkout(client, {"items": [{"sku": sku, "quantity": 1}]}, key="l").status_code == 202
    assert checkout(client, {"items": [{"sku": short, "quantity": 1}]}, key="s").status_code == 202
    shopper_id = client.session["shopper_id"]
    thirty_one_days = (30 + 1) * 24 * 3600
    assert thirty_one_days - 60 <= redis_client.ttl(shopper_key(sku, shopper_id))
    assert redis_client.ttl(shopper_key(sku, shopper_id)) <= thirty_one_days
    assert settings.SHOPPER_COUNTER_TTL - 60 <= redis_client.ttl(shopper_key(short, shopper_id))
    assert redis_client.ttl(shopper_key(short, shopper_id)) <= settings.SHOPPER_COUNTER_TTL


def test_rate_counters_count_as_django_ratelimit_expects(rf, redis_client, trips):
    """One round trip per hit; the same counts, key and expiry as add + incr would give."""
    cache = caches["ratelimit"]
    request = rf.post("/api/orders")
    group = f"test.{uuid.uuid4().hex}"
    trips.redis.clear()
    counts = [
        get_usage(request, group=group, key=lambda g, r: "k", rate="3/m", increment=True)
        for _ in range(4)
    ]
    assert [u["count"] for u in counts] == [1, 2, 3, 4]
    assert [u["should_limit"] for u in counts] == [False, False, False, True]
    assert dict(trips.redis) == {"EVALSHA": 4}
    # A read without increment counts nothing.
    peek = get_usage(request, group=group, key=lambda g, r: "k", rate="3/m", increment=False)
    assert peek["count"] == 4
    window = _get_window("k", 60)
    full_key = cache.make_key(_make_cache_key(group, window, "3/m", "k", None))
    assert redis_client.get(full_key) == "4"
    assert 0 < redis_client.ttl(full_key) <= 60 + EXPIRATION_FUDGE
    # add(key, 1) that finds the counter counts the hit; the incr after it answers from it.
    assert cache.add("plain", 5, 30) is True
    assert cache.add("plain", 1, 30) is False
    assert cache.incr("plain") == 6
    assert cache.incr("plain") == 7  # anything else is django-redis's own behaviour
    cache.delete("plain")


def test_count_many_counts_several_limits_in_one_round_trip(rf, redis_client, trips):
    """Two limits of one request: one script for both, the same counts as one by one."""
    cache = caches["ratelimit"]
    request = rf.post("/api/orders")
    group = f"test.{uuid.uuid4().hex}"

    def both():
        return [
            get_usage(request, group=f"{group}.{k}", key=lambda g, r: k, rate=rate, increment=True)
            for k, rate in (("a", "2/m"), ("b", "5/m"))
        ]

    trips.redis.clear()
    rounds = [cache.count_many(both) for _ in range(3)]
    assert [[u["count"] for u in r] for r in rounds] == [[1, 1], [2, 2], [3, 3]]
    assert [[u["should_limit"] for u in r] for r in rounds] == [
        [False, False],
        [False, False],
        [True, False],
    ]
    assert dict(trips.redis) == {"EVALSHA": 3}
    for k, rate in (("a", "2/m"), ("b", "5/m")):
        full_key = cache.make_key(
            _make_cache_key(f"{group}.{k}", _get_window(k, 60), rate, k, None)
        )
        assert redis_client.get(full_key) == "3"
        assert 0 < redis_client.ttl(full_key) <= 60 + EXPIRATION_FUDGE
