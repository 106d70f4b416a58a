"""The checkout's write is prepared on its connection and survives a dead one (ADR 0112).

No health check precedes it (shared/prepared.py): a connection PostgreSQL dropped is found
dead by the write itself, replaced, and the write sent once more. When the first send did
commit (the answer was lost with the connection), the second is refused by the key's
unique constraint and the checkout recognises its own order: one order, one reservation.
Transactional: checkouts commit as in production.
"""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, connection, connections
from django.test import Client

from order_service.orders.cart import Shopper
from order_service.orders.models import IdempotencyKey, Order, OutboxMessage
from order_service.orders.services import idempotency_guard
from shared import prepared
from tests.support.order_api import checkout_one

pytestmark = pytest.mark.django_db(transaction=True)


def terminate_django_backend() -> None:
    """PostgreSQL drops the test's connection from outside, as a restart or failover
    would: Django does not know until it uses it."""
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"],
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
    ) as other:
        assert other.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)


def test_the_write_is_a_prepared_statement_on_its_connection(sale):
    a = sale.sku("A", stock=10)
    client = Client()
    for key in ("one", "two"):
        assert checkout_one(client, a, key).status_code == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared_now = [row[0] for row in cursor.fetchall()]
    assert any("INSERT INTO orders_order" in text for text in prepared_now), prepared_now


def test_a_connection_postgresql_dropped_is_replaced_and_the_order_accepted(sale):
    a = sale.sku("A", stock=10)
    client = Client()
    assert checkout_one(client, a, "before").status_code == 202
    terminate_django_backend()
    r = checkout_one(client, a, "after")
    assert r.status_code == 202, r.content
    assert Order.objects.count() == 2
    assert sale.available(a) == 8
    assert len(sale.reservations()) == 2


class Sends:
    """Every send of the write (shared/prepared.py's ``_execute``), by order id; ``then``
    runs after a send that went through."""

    def __init__(self, monkeypatch):
        self.order_ids: list = []
        self.then = None
        real = prepared._execute

        def send(db, sql, params):
            self.order_ids.append(params["order_id"])
            real(db, sql, params)
            if self.then is not None:
                self.then(db)

        monkeypatch.setattr(prepared, "_execute", send)


@pytest.fixture
def sends(monkeypatch) -> Sends:
    return Sends(monkeypatch)


def test_a_write_that_committed_before_its_connection_broke_is_its_own_order(sale, sends):
    a = sale.sku("A", stock=10)
    client = Client()

    def lose_the_first_answer(db):
        if len(sends.order_ids) == 1:
            db.connection.close()  # the answer never arrives
            raise OperationalError("server closed the connection unexpectedly")

    sends.then = lose_the_first_answer
    r = checkout_one(client, a, "ambiguous", quantity=2)
    assert r.status_code == 202, r.content
    assert r.get("Idempotent-Replayed") is None
    calls = sends.order_ids
    assert len(calls) == 2 and calls[0] == calls[1]  # the same order, sent twice
    order = Order.objects.get()
    assert str(order.id) == r.json()["order_id"] == str(calls[0])
    assert IdempotencyKey.objects.get().order_id == order.id
    assert OutboxMessage.objects.filter(order_id=order.id).count() == 1
    # The reservation of the committed order stands: 2 units, once.
    assert sale.available(a) == 8
    assert len(sale.reservations()) == 1


def test_a_refused_statement_is_not_sent_again(sale, sends):
    """Only a lost connection is retried: a refusal (a constraint) is the caller's."""
    a = sale.sku("A", stock=10)
    client = Client()
    assert checkout_one(client, a, "first").status_code == 202
    sends.order_ids.clear()
    # The same key after its marker is lost: the key's constraint refuses the insert.
    guard = idempotency_guard(shopper=Shopper(client.session["shopper_id"]), key="first")
    sale.client.delete(guard.marker_key)
    again = checkout_one(client, a, "first")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert len(sends.order_ids) == 1
    assert Order.objects.count() == 1
    assert sale.available(a) == 9


def test_no_health_check_round_trip_precedes_the_write(sale, monkeypatch):
    a = sale.sku("A", stock=10)
    client = Client()
    assert checkout_one(client, a, "warm").status_code == 202  # the connection exists now
    checks = []
    real = connections["default"].is_usable

    def counting_is_usable():
        checks.append(1)
        return real()

    monkeypatch.setattr(connections["default"], "is_usable", counting_is_usable)
    assert checkout_one(client, a, "measured").status_code == 202
    assert checks == []  # Django's SELECT 1 before a request's first query: not sent
