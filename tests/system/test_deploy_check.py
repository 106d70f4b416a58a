"""Production settings pass ``check --deploy`` with the environment docker-compose.yml gives.

Each service's Django ``check --deploy --fail-level WARNING`` runs in a child process with
``DJANGO_ENV=production`` and exactly the container environment of that service in
docker-compose.yml (secrets filled in as a user's .env would: a 50-character random key).
The negative cases prove the check is live: a short key, a disabled HTTPS redirect and a
missing secret each make it fail.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from test_compose import load_compose, resolved_environment, sample_env

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("catalog", "order", "fulfillment")


def container_env(service: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    compose = load_compose(ROOT)
    values = sample_env(compose) | {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    }
    env = resolved_environment(compose["services"][service], values)
    # The container's tmpfs; here a directory of the test's own.
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    env |= overrides
    # Only what a container would have: no developer variables leak in.
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env}


def deploy_check(service: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", service, "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_production_settings_pass_check_deploy_with_the_compose_environment(service, tmp_path):
    env = container_env(service, tmp_path)
    assert env["DJANGO_ENV"] == "production"
    assert len(env["DJANGO_SECRET_KEY"]) >= 50
    result = deploy_check(service, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."


def test_check_deploy_fails_on_a_short_secret_key(tmp_path):
    result = deploy_check("order", container_env("order", tmp_path, DJANGO_SECRET_KEY="short"))
    assert result.returncode == 1
    assert "security.W009" in result.stderr


def test_check_deploy_fails_without_the_https_redirect(tmp_path):
    env = container_env("catalog", tmp_path, SECURE_SSL_REDIRECT="false")
    result = deploy_check("catalog", env)
    assert result.returncode == 1
    assert "security.W008" in result.stderr


@pytest.mark.parametrize(
    ("service", "missing"),
    [
        ("catalog", "DJANGO_SECRET_KEY"),
        ("order", "DJANGO_ALLOWED_HOSTS"),
        ("fulfillment", "FULFILLMENT_DATABASE_URL"),
    ],
)
def test_production_refuses_to_start_without_a_required_variable(service, missing, tmp_path):
    env = container_env(service, tmp_path)
    del env[missing]
    result = deploy_check(service, env)
    assert result.returncode == 1
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr
