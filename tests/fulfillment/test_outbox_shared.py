"""The shared outbox suite (tests/support/outbox/suite.py) on fulfillment's outbox: status
events for the order queue."""

import pytest
from django.conf import settings
from fulfillment_support import worker_database_url

from fulfillment_service.fulfillment.outbox import outbox
from shared import messages
from tests.support.outbox.suite import *  # noqa: F403 - the shared tests, collected here
from tests.support.outbox.suite import OutboxCase


def relay_env(**overrides: str) -> dict[str, str]:
    return {
        "DJANGO_ENV": "test",
        "FULFILLMENT_DATABASE_URL": worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "DATABASE_CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


@pytest.fixture
def outbox_case() -> OutboxCase:
    return OutboxCase(
        service="fulfillment", outbox=outbox, queue=messages.ORDER_QUEUE, env=relay_env
    )
