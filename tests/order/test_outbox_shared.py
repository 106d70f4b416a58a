"""The shared outbox suite (tests/support/outbox/suite.py) on the order service's outbox:
accepted orders for the fulfillment queue."""

import pytest
from conftest import process_env

from order_service.orders.outbox import outbox
from shared import messages
from tests.support.outbox.suite import *  # noqa: F403 - the shared tests, collected here
from tests.support.outbox.suite import OutboxCase


@pytest.fixture
def outbox_case() -> OutboxCase:
    return OutboxCase(
        service="order", outbox=outbox, queue=messages.FULFILLMENT_QUEUE, env=process_env
    )
