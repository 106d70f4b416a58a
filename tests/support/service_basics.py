"""Checks every service must pass as a Django project: admin, health, metrics, settings chain.

Each service's tests import these (``from tests.support.service_basics import *``); the
service under test is the one whose settings the pytest process runs with.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def service() -> str:
    return settings.SERVICE_NAME


@pytest.mark.django_db
def test_settings_are_this_service(service):
    # The settings module pytest runs with (--ds) and the service it names agree.
    assert os.environ["DJANGO_SETTINGS_MODULE"] == f"{service}_service.config.settings.test"
    assert settings.ROOT_URLCONF == f"{service}_service.config.urls"
    assert settings.DATABASES["default"]["ENGINE"] == "django_prometheus.db.backends.postgresql"


@pytest.mark.django_db
def test_admin_login_page_is_served_under_its_prefix(client, service):
    response = client.get(f"/admin/{service}/login/")
    assert response.status_code == 200
    assert f"{service} admin".encode() in response.content


@pytest.mark.django_db
def test_admin_requires_login(client, service):
    response = client.get(f"/admin/{service}/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/{service}/login/")


@pytest.mark.django_db
def test_staff_can_open_the_admin(admin_client, service):
    assert admin_client.get(f"/admin/{service}/").status_code == 200


@pytest.mark.django_db
def test_metrics_expose_http_db_and_cache_metrics(client):
    cache.set("metrics-probe", 1, 5)
    cache.get("metrics-probe")
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_method_total" in body
    assert "django_db_execute_total" in body
    assert "django_cache_get_total" in body


def test_production_settings_refuse_to_start_without_secrets(service):
    env = {"DJANGO_ENV": "production", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", service, "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_unknown_environment_is_refused(service):
    result = subprocess.run(
        [sys.executable, "manage.py", service, "check"],
        cwd=ROOT,
        env={"DJANGO_ENV": "staging", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "DJANGO_ENV='staging' is not one of local, production, test" in result.stderr
