"""The shared outbox suite (tests/outbox_support/suite.py) on the order service's outbox:
accepted orders for the fulfillment queue."""

import pytest
from conftest import process_env
from outbox_support.suite import *  # noqa: F403 - the shared tests, collected here
from outbox_support.suite import OutboxCase

from order_service.orders.outbox import outbox
from shared import messages


@pytest.fixture
def outbox_case() -> OutboxCase:
    return OutboxCase(
        service="order", outbox=outbox, queue=messages.FULFILLMENT_QUEUE, env=process_env
    )
