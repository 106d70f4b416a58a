"""Fixtures for the catalog tests: the real Redis test database (flushed around each test;
only that database), a GraphQL helper and the product graph data."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import redis
from django.conf import settings
from django.test import Client

from shared.inventory import Inventory


@pytest.fixture(autouse=True)
def redis_db():
    """The tests' own Redis database, empty at the start of each test."""
    urls = {settings.REDIS_URL, settings.INVENTORY_REDIS_URL, settings.OFFERS_REDIS_URL}
    clients = []
    for url in urls:
        db = int(urlsplit(url).path.lstrip("/") or 0)
        assert db != 0, f"refusing to flush Redis db 0 ({url}); set REDIS_URL=$TEST_REDIS_URL"
        clients.append(redis.Redis.from_url(url, decode_responses=True))
    for client in clients:
        client.flushdb()
    yield clients[0]
    for client in clients:
        client.flushdb()
        client.close()


@pytest.fixture
def inventory() -> Inventory:
    return Inventory.from_url(settings.INVENTORY_REDIS_URL)


@pytest.fixture
def offers_redis():
    client = redis.Redis.from_url(settings.OFFERS_REDIS_URL, decode_responses=True)
    yield client
    client.close()


class GraphQL:
    """POST or GET a query to /graphql through Django's test client."""

    def __init__(self, client: Client):
        self.client = client

    def post(self, query: str, variables: dict | None = None, **extra):
        body = {"query": query, "variables": variables or {}}
        body.update(extra)
        return self.client.post("/graphql", json.dumps(body), content_type="application/json")

    def data(self, query: str, variables: dict | None = None) -> dict:
        response = self.post(query, variables)
        payload = response.json()
        assert response.status_code == 200, payload
        assert "errors" not in payload, payload["errors"]
        return payload["data"]


@pytest.fixture
def gql(client) -> GraphQL:
    return GraphQL(client)
