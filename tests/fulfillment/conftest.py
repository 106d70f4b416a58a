"""Fixtures for the fulfillment tests: a clean test Redis DB and broker vhost, stock in
PostgreSQL and Redis, and real Celery worker processes."""

from __future__ import annotations

import pytest
from django.conf import settings
from fulfillment_support import Worker, purge_queues

from fulfillment_service.fulfillment.models import Stock
from fulfillment_service.fulfillment.stock import inventory_client
from shared.inventory import EPOCH_KEY, Inventory


@pytest.fixture(autouse=True)
def clean_redis():
    """The tests' own Redis database (TEST_REDIS_URL), never the platform's db 0."""
    assert not settings.REDIS_URL.endswith("/0"), "run the tests with REDIS_URL=$TEST_REDIS_URL"
    client = inventory_client().client
    client.flushdb()
    client.set(EPOCH_KEY, "test")  # a sale open on a rebuilt Redis (ADR 0088)
    yield
    client.flushdb()


@pytest.fixture(autouse=True)
def close_charge_threads():
    """A batch's provider calls run on threads with their own connections (drain.py):
    closed after each test, or the test database could not be dropped."""
    yield
    from fulfillment_service.fulfillment.drain import charge_pools_shutdown

    charge_pools_shutdown()


@pytest.fixture
def inventory() -> Inventory:
    return inventory_client()


@pytest.fixture
def clean_broker():
    assert "flashsale_test" in settings.CELERY_BROKER_URL, "use the test vhost"
    purge_queues()
    yield
    purge_queues()


@pytest.fixture
def stock(inventory):
    """stock(sku=units, ...): rows in PostgreSQL and matching Redis availability."""

    def make(**units: int) -> None:
        for sku, n in units.items():
            Stock.objects.create(sku=sku, on_hand=n, received=n)
            inventory.set_available(sku=sku, available=n)

    return make


@pytest.fixture
def workers(tmp_path):
    """start(**env) -> a started Worker; every worker is stopped at the end."""
    started: list[Worker] = []

    def start(**env: str) -> Worker:
        worker = Worker(tmp_path, **env)
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.stop()
