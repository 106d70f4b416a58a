"""Fixtures for the order service's tests: real Redis, PostgreSQL and RabbitMQ.

* Offers and stock are written into the test Redis database the way the catalog and
  fulfillment would (shared.offers.publish_offers, Inventory.set_available), each test with
  skus of its own.
* ``fulfillment_queue`` reads what the order service handed off, straight from RabbitMQ.
* ``order_server`` starts real gunicorn processes on free ports against the test database
  (the test must use ``transactional_db`` so that they see its rows and it sees theirs).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from kombu import Connection

from flashops.processes import ManagedProcess, free_port, gunicorn_process, wait_for_port
from shared.celery import service_queue
from shared.inventory import EPOCH_KEY, Inventory, available_key
from shared.offers import OFFERS_EPOCH_KEY, Offer, publish_offers

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# Generous limits for every test but the rate-limit ones (they set their own).
HIGH_RATES = {
    "RATELIMIT_CHECKOUT_SHOPPER": "100000/m",
    "RATELIMIT_CHECKOUT_IP": "100000/m",
    "RATELIMIT_API_SHOPPER": "100000/m",
    "RATELIMIT_API_IP": "100000/m",
}


@pytest.fixture(scope="session")
def redis_client() -> redis.Redis:
    # Nothing is flushed: the database may be shared with other suites run in sequence
    # (tox), so every test works with skus, shoppers and addresses of its own.
    return redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)


@pytest.fixture(autouse=True)
def _high_rate_limits(settings):
    for name, value in HIGH_RATES.items():
        setattr(settings, name, value)


@pytest.fixture
def inv(redis_client) -> Inventory:
    return Inventory(redis_client)


class Sale:
    """Publishes offers and stock for skus unique to one test."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.inventory = Inventory(client)
        self.prefix = f"T{uuid.uuid4().hex[:8].upper()}"
        # A sale open on a rebuilt Redis (ADR 0088): without the markers checkout pauses.
        client.set(EPOCH_KEY, "test")
        client.set(OFFERS_EPOCH_KEY, "test")

    def sku(
        self,
        name: str = "A",
        *,
        stock: int | None = 100,
        limit: int = 0,
        window: str | None = "active",
        price: str = "20.00",
        sale_price: str = "9.99",
        currency: str = "EUR",
        active: bool = True,
    ) -> str:
        sku = f"{self.prefix}-{name}"
        now = datetime.now(UTC)
        starts = ends = ""
        if window == "active":
            starts, ends = now - timedelta(hours=1), now + timedelta(hours=1)
        elif window == "future":
            starts, ends = now + timedelta(hours=1), now + timedelta(hours=2)
        elif window == "past":
            starts, ends = now - timedelta(hours=2), now - timedelta(hours=1)
        offer = Offer(
            sku=sku,
            name=f"Product {name}",
            price=price,
            currency=currency,
            sale_price=sale_price if window else "",
            starts_at=starts.isoformat() if starts else "",
            ends_at=ends.isoformat() if ends else "",
            per_shopper_limit=limit,
            active=active,
        )
        publish_offers(self.client, [offer])
        if stock is not None:
            self.inventory.set_available(sku=sku, available=stock)
        return sku

    def available(self, sku: str) -> int | None:
        value = self.client.get(available_key(sku))
        return None if value is None else int(value)

    def reservations(self) -> list[str]:
        """Open reservations holding any of this test's skus."""
        return sorted(
            key
            for key in self.client.scan_iter(match="inv:res:*", count=1000)
            if any(field.startswith(self.prefix) for field in self.client.hkeys(key))
        )


@pytest.fixture
def sale(redis_client) -> Sale:
    return Sale(redis_client)


# --- RabbitMQ --------------------------------------------------------------------------------


class QueueReader:
    """Reads (and removes) the Celery messages of one queue on a broker."""

    def __init__(self, url: str, name: str):
        self.url, self.name = url, name

    def _queue(self, conn):
        queue = service_queue(self.name)(conn.default_channel)
        queue.declare()
        return queue

    def count(self) -> int:
        with Connection(self.url, connect_timeout=5) as conn:
            return self._queue(conn).queue_declare(passive=True).message_count

    def purge(self) -> None:
        with Connection(self.url, connect_timeout=5) as conn:
            self._queue(conn).purge()

    def drain(self) -> list[dict]:
        """Every message now in the queue: ``{"task", "id", "payload"}``, acknowledged."""
        out = []
        with Connection(self.url, connect_timeout=5) as conn:
            queue = self._queue(conn)
            for _ in range(100_000):
                message = queue.get(no_ack=False)
                if message is None:
                    break
                args, _kwargs, _embed = message.decode()
                out.append(
                    {
                        "task": message.headers["task"],
                        "id": message.headers["id"],
                        "delivery_mode": message.properties.get("delivery_mode"),
                        "payload": args[0],
                    }
                )
                message.ack()
        return out

    def wait_count(self, expected: int, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        count = self.count()
        while count < expected and time.monotonic() < deadline:
            time.sleep(0.2)
            count = self.count()
        return count


@pytest.fixture
def fulfillment_queue() -> QueueReader:
    reader = QueueReader(settings.CELERY_BROKER_URL, "fulfillment")
    reader.purge()
    return reader


# --- real processes ---------------------------------------------------------------------------


def database_url_for_children() -> str:
    db = settings.DATABASES["default"]
    return (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )


def process_env(**overrides: str) -> dict[str, str]:
    """Environment for a child process of the order service on the test database."""
    env = {
        "DJANGO_ENV": "test",
        "ORDER_DATABASE_URL": database_url_for_children(),
        "REDIS_URL": settings.REDIS_URL,
        "INVENTORY_REDIS_URL": settings.INVENTORY_REDIS_URL,
        "OFFERS_REDIS_URL": settings.OFFERS_REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DATABASE_CONN_MAX_AGE": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **HIGH_RATES,
    }
    env.update(overrides)
    return env


class OrderServer:
    def __init__(self, process: ManagedProcess, port: int):
        self.process, self.port = process, port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self, sig=None) -> None:
        if sig is None:
            self.process.stop()
        else:
            self.process.stop(sig=sig)


@pytest.fixture
def order_server(tmp_path):
    """Factory: ``order_server(workers=2, **env)`` -> a running gunicorn of the order service."""
    started: list[OrderServer] = []

    def start(*, workers: int = 2, **env: str) -> OrderServer:
        port = free_port()
        process = gunicorn_process(
            "order_service.config.wsgi",
            port=port,
            root=REPO,
            workers=workers,
            env=process_env(SERVICE="order", **env),
            log_path=tmp_path / f"gunicorn-{port}.log",
        )
        server = OrderServer(process, port)
        started.append(server)
        wait_for_port(port, timeout=30, proc=process.proc)
        # Ready when a worker answers (not only the master's socket).
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn never answered:\n{process.log()[-3000:]}")
            time.sleep(0.1)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def manage_process(tmp_path):
    """Factory: ``manage_process("outbox_relay", "--once", **env)`` -> a started ManagedProcess."""
    started: list[ManagedProcess] = []

    def start(*args: str, log_name: str | None = None, **env: str) -> ManagedProcess:
        name = log_name or f"{args[0]}-{len(started)}"
        process = ManagedProcess(
            [sys.executable, str(REPO / "manage.py"), "order", *args],
            env=process_env(**env),
            cwd=REPO,
            log_path=tmp_path / f"{name}.log",
        ).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def wait_until(predicate, *, timeout: float, interval: float = 0.2, message: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s: {message}")
        time.sleep(interval)
