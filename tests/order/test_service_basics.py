"""The order service as a Django project: admin, health, metrics, settings chain."""

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache

pytestmark = pytest.mark.django_db
SERVICE = "order"
ROOT = Path(__file__).resolve().parents[2]


def test_settings_are_this_service():
    assert settings.SERVICE_NAME == SERVICE
    assert settings.ROOT_URLCONF == f"{SERVICE}_service.config.urls"
    assert settings.DATABASES["default"]["ENGINE"] == "django_prometheus.db.backends.postgresql"


def test_admin_login_page_is_served_under_its_prefix(client):
    response = client.get(f"/admin/{SERVICE}/login/")
    assert response.status_code == 200
    assert f"{SERVICE} admin".encode() in response.content


def test_admin_requires_login(client):
    response = client.get(f"/admin/{SERVICE}/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"/admin/{SERVICE}/login/")


def test_staff_can_open_the_admin(admin_client):
    assert admin_client.get(f"/admin/{SERVICE}/").status_code == 200


def test_metrics_expose_http_db_and_cache_metrics(client):
    cache.set("metrics-probe", 1, 5)
    cache.get("metrics-probe")
    client.get("/healthz")
    body = client.get("/metrics").content.decode()
    assert "django_http_requests_total_by_method_total" in body
    assert "django_db_execute_total" in body
    assert "django_cache_get_total" in body


def test_production_settings_refuse_to_start_without_secrets():
    env = {"DJANGO_ENV": "production", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "manage.py", SERVICE, "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_unknown_environment_is_refused():
    result = subprocess.run(
        [sys.executable, "manage.py", SERVICE, "check"],
        cwd=ROOT,
        env={"DJANGO_ENV": "staging", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "DJANGO_ENV='staging' is not one of local, production, test" in result.stderr
