"""A Django test client whose logins are staff logins (shared.sessions, ADR 0065).

Django's ``Client.force_login`` writes the shopper's session cookie; the admins read only
their own staff cookie, so an admin test logs in through this client instead (the
``admin_client`` fixture in tests/conftest.py uses it).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import login
from django.http import HttpRequest
from django.test import Client

from shared.sessions import StaffSessionStore


class StaffClient(Client):
    def _login(self, user, backend=None):
        request = HttpRequest()
        request.session = StaffSessionStore()
        login(request, user, backend)
        request.session.save()
        name = settings.STAFF_SESSION_COOKIE_NAME
        self.cookies[name] = request.session.session_key
        self.cookies[name].update(
            {"path": settings.STAFF_SESSION_PATH, "max-age": None, "httponly": True}
        )
