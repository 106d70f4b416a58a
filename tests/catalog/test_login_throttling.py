"""Login throttling (django-axes) on the admin: failures counted per username and per client
address (the edge's, never a header a client sent), a lock-out with a clear message, one
audit log line per failure, and the unlock staff do from the admin.

The same settings come from shared/settings/base.py for all three services; the system
test tests/system/test_hostile_clients.py locks and lifts every admin through the edge.
"""

from __future__ import annotations

import logging

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db

LOGIN = "/admin/catalog/login/"


@pytest.fixture
def staff():
    return get_user_model().objects.create_superuser("boss", "boss@example.com", "right-pass-91")


def _login(client, password, ip="203.0.113.9"):
    return client.post(
        LOGIN,
        {"username": "boss", "password": password, "next": "/admin/catalog/"},
        REMOTE_ADDR=ip,
    )


def test_five_failures_lock_the_account_even_for_the_right_password(client, staff, caplog):
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            assert _login(client, "guess").status_code == 200  # the form again, with its error
        locked = _login(client, "guess")
    assert locked.status_code == 429
    assert b"too many login attempts" in locked.content.lower()
    # Locked: the right password is refused too, from this and from another address.
    assert _login(client, "right-pass-91").status_code == 429
    assert _login(client, "right-pass-91", ip="198.51.100.4").status_code == 429
    # The audit trail: every failure and every refused attempt while locked, with the
    # account and the address (a log line each too).
    log = AccessFailureLog.objects.filter(username="boss").order_by("attempt_time")
    assert [(row.ip_address, row.locked_out) for row in log] == [("203.0.113.9", False)] * 4 + [
        ("203.0.113.9", True),
        ("203.0.113.9", True),
        ("198.51.100.4", True),
    ]
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("axes")]
    failures = [m for m in lines if "login failure by" in m]
    assert len(failures) == 7
    assert all('username: "boss"' in m for m in failures)


def test_staff_unlock_from_the_admin_lifts_the_lock(client, staff, staff_client):
    for _ in range(5):
        _login(client, "guess")
    assert _login(client, "right-pass-91").status_code == 429
    # Another staff member deletes the attempts in the admin (axes' AccessAttempt admin).
    other = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-pass-77")
    ops = staff_client
    ops.force_login(other)
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    assert ids
    r = ops.post(
        "/admin/catalog/axes/accessattempt/",
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert r.status_code == 302
    assert AccessAttempt.objects.count() == 0
    assert _login(client, "right-pass-91").status_code == 302  # logged in


def test_a_forwarded_for_header_from_a_client_does_not_dodge_the_ip_lock(client, staff):
    # Straight to the app (not through a trusted proxy): X-Forwarded-For is not believed.
    for n in range(5):
        client.post(
            LOGIN,
            {"username": f"user{n}", "password": "guess"},
            REMOTE_ADDR="203.0.113.50",
            HTTP_X_FORWARDED_FOR=f"10.9.9.{n}",
        )
    r = _login(client, "right-pass-91", ip="203.0.113.50")
    assert r.status_code == 429
