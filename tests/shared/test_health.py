"""Liveness and readiness: real PostgreSQL, a private Redis and a private RabbitMQ."""

import pytest
from django.test import override_settings

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_dependencies(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0", READINESS_CHECKS=["redis"]):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "catalog"}
    assert response["Cache-Control"].startswith("max-age=0")


def test_readyz_ok_when_every_dependency_answers(client, private_redis, private_rabbitmq):
    checks = ["database", "redis", "broker"]
    with override_settings(
        REDIS_URL=private_redis.url(),
        CELERY_BROKER_URL=private_rabbitmq.url,
        READINESS_CHECKS=checks,
    ):
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["down"] == []
    assert [body["checks"][name]["status"] for name in checks] == ["ok", "ok", "ok"]


def test_readyz_names_redis_when_it_stops_and_recovers(client, private_redis):
    with override_settings(REDIS_URL=private_redis.url(), READINESS_CHECKS=["database", "redis"]):
        assert client.get("/readyz").status_code == 200
        private_redis.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["down"] == ["redis"]
        assert response.json()["checks"]["database"]["status"] == "ok"
        assert "ConnectionError" in response.json()["checks"]["redis"]["error"]
        private_redis.start()
        assert client.get("/readyz").status_code == 200


def test_readyz_names_the_broker_when_rabbitmq_stops_and_recovers(client, private_rabbitmq):
    with override_settings(
        CELERY_BROKER_URL=private_rabbitmq.url, READINESS_CHECKS=["database", "broker"]
    ):
        assert client.get("/readyz").status_code == 200
        private_rabbitmq.stop()
        try:
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["down"] == ["broker"]
            assert response.json()["status"] == "unavailable"
        finally:
            private_rabbitmq.start()
        assert client.get("/readyz").status_code == 200


def test_readyz_names_the_database_when_it_cannot_connect(client, settings):
    from django.db import connections

    # A throw-away connection object pointed at a closed port, not the shared server.
    original = connections["default"].settings_dict.copy()
    connections["default"].close()
    connections["default"].settings_dict["PORT"] = "1"
    try:
        settings.READINESS_CHECKS = ["database"]
        response = client.get("/readyz")
    finally:
        connections["default"].close()
        connections["default"].settings_dict.update(original)
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]


def test_a_tolerated_dependency_is_reported_but_keeps_the_instance_ready(client, private_redis):
    with override_settings(
        REDIS_URL=private_redis.url(),
        READINESS_CHECKS=["database", "redis"],
        READINESS_DEGRADED_OK=["redis"],
    ):
        private_redis.stop()
        response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["down"] == []
    assert body["degraded"] == ["redis"]
    assert body["checks"]["redis"]["status"] == "down"
