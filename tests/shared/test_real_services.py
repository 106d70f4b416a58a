"""The suite runs on the real engines: PostgreSQL, Redis (django-redis), RabbitMQ."""

import pytest
from django.conf import settings
from django.core.cache import caches
from django.db import connection

pytestmark = pytest.mark.django_db


def test_database_is_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        assert cursor.fetchone()[0].startswith("PostgreSQL")


def test_caches_and_sessions_are_redis():
    for alias in ("default", "sessions"):
        assert caches[alias].__class__.__module__.startswith("django_prometheus.cache.backends")
        caches[alias].set("probe", "v", 5)
        assert caches[alias].get("probe") == "v"
        client = caches[alias].client.get_client()
        assert client.ping() is True
    # Django's cache store (shared.sessions only skips its redundant EXISTS on create).
    assert settings.SESSION_ENGINE == "shared.sessions"
    from django.contrib.sessions.backends.cache import SessionStore as CacheSessionStore

    from shared.sessions import SessionStore

    assert issubclass(SessionStore, CacheSessionStore)


def test_broker_is_rabbitmq():
    from kombu import Connection

    assert settings.CELERY_BROKER_URL.startswith("amqp://")
    with Connection(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.transport.driver_type == "amqp"
        assert "RabbitMQ" in str(conn.connection.server_properties.get("product"))
