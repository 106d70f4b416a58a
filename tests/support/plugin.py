"""pytest plugin (tests/conftest.py registers it): fixtures for private Redis and RabbitMQ."""

from __future__ import annotations

import pytest

from flashops.processes import PrivateRabbitMQ, PrivateRedis


@pytest.fixture
def private_redis(tmp_path):
    """A Redis of the test's own, to stop and start at will."""
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def private_rabbitmq(tmp_path_factory):
    """A RabbitMQ node of the module's own (it takes ~10 s to boot, so one per module)."""
    node = PrivateRabbitMQ(tmp_path_factory.mktemp("rabbitmq")).start()
    try:
        yield node
    finally:
        node.destroy()
