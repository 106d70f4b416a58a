"""Real gunicorn processes over HTTP: the flash-sale rush and sessions across instances."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import wait_until

from order_service.orders.models import Order, OutboxMessage
from tests.support.shopper import ShopperSession

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]


def test_500_concurrent_checkouts_against_stock_100(order_server, sale, fulfillment_queue):
    server = order_server(workers=4)
    sku = sale.sku("RUSH", stock=100, limit=2)
    shoppers = [ShopperSession() for _ in range(500)]

    def fill_cart(i: int) -> int:
        r = shoppers[i].post(
            f"{server.url}/api/cart/items", json={"sku": sku, "quantity": 1}, timeout=30
        )
        return r.status_code

    def buy(i: int) -> tuple[int, dict]:
        start.wait()
        r = shoppers[i].post(
            f"{server.url}/api/orders", headers={"Idempotency-Key": f"rush-{i}"}, timeout=60
        )
        return r.status_code, r.json()

    lowest = [100]
    stop = threading.Event()

    def watch():  # availability must never be seen below zero
        while not stop.is_set():
            value = sale.available(sku)
            lowest[0] = min(lowest[0], value)
            time.sleep(0.002)

    with ThreadPoolExecutor(max_workers=64) as pool:
        assert Counter(pool.map(fill_cart, range(500))) == {201: 500}
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start = threading.Event()
    with ThreadPoolExecutor(max_workers=100) as pool:
        futures = [pool.submit(buy, i) for i in range(500)]
        start.set()  # all at once, like T0 of the sale
        results = [f.result(timeout=120) for f in futures]
    stop.set()
    watcher.join(timeout=5)

    statuses = Counter(status for status, _ in results)
    assert statuses == {202: 100, 409: 400}
    assert Counter(body["code"] for status, body in results if status == 409) == {"SOLD_OUT": 400}
    assert sale.available(sku) == 0
    assert lowest[0] >= 0
    accepted = {body["order_id"] for status, body in results if status == 202}
    assert len(accepted) == 100
    assert {str(i) for i in Order.objects.values_list("id", flat=True)} == accepted
    assert len(sale.reservations()) == 100
    # Every accepted order was handed off (published after commit, confirmed).
    wait_until(
        lambda: not OutboxMessage.objects.filter(published_at__isnull=True).exists(),
        timeout=30,
        message="outbox not published",
    )
    assert fulfillment_queue.wait_count(100) == 100
    delivered = fulfillment_queue.drain()
    assert sorted(m["payload"]["order_id"] for m in delivered) == sorted(accepted)


def test_a_session_created_on_one_instance_is_served_by_another(order_server, sale):
    first, second = order_server(workers=1), order_server(workers=1)
    sku = sale.sku("S", stock=10)
    shopper = ShopperSession()
    r = shopper.post(f"{first.url}/api/cart/items", json={"sku": sku, "quantity": 2}, timeout=10)
    assert r.status_code == 201

    cart = shopper.get(f"{second.url}/api/cart", timeout=10).json()
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [(sku, 2)]

    r = shopper.post(f"{second.url}/api/orders", headers={"Idempotency-Key": "x"}, timeout=10)
    assert r.status_code == 202
    status_url = r.json()["status_url"]
    assert shopper.get(f"{first.url}{status_url}", timeout=10).json()["status"] == "accepted"

    # The instance that created the session dies; the shopper goes on with the other one.
    shopper.post(f"{first.url}/api/cart/items", json={"sku": sku, "quantity": 1}, timeout=10)
    first.stop(sig=signal.SIGKILL)
    cart = shopper.get(f"{second.url}/api/cart", timeout=10).json()
    assert [(line["sku"], line["quantity"]) for line in cart["lines"]] == [(sku, 1)]
    assert shopper.get(f"{second.url}{status_url}", timeout=10).status_code == 200
    # A stranger (no session cookie) cannot read the order on any instance.
    assert requests.get(f"{second.url}{status_url}", timeout=10).status_code == 404
