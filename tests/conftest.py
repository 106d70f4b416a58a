"""Fixtures every service's tests share.

``admin_client`` replaces pytest-django's: the admins keep staff logins in a session of
their own (shared.sessions, ADR 0065), which Django's ``force_login`` does not write.
"""

from __future__ import annotations

import pytest

# Fixtures for real processes (private Redis / RabbitMQ): test support, not an installed plugin.
pytest_plugins = ["tests.support.plugin"]


@pytest.fixture
def admin_client(db, admin_user):
    from tests.support.staff import StaffClient

    client = StaffClient()
    client.force_login(admin_user)
    return client


@pytest.fixture
def staff_client(db):
    """A logged-out staff client: ``staff_client.force_login(user)`` logs in to the admin."""
    from tests.support.staff import StaffClient

    return StaffClient()
