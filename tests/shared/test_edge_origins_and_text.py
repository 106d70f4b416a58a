"""Settings that follow the runner's edge (ADR 0065) and the string checks every API uses
(shared.text, ADR 0069)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.text import LONE_SURROGATE, NUL_BYTE, TOO_LONG, first_text_problem, text_problem

ROOT = Path(__file__).resolve().parents[2]


def settings_of(module: str, **env: str) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({'origins': s.CSRF_TRUSTED_ORIGINS, "
        "'proxy': s.SECURE_PROXY_SSL_HEADER, 'staff': [s.STAFF_SESSION_PATH, "
        "s.STAFF_SESSION_COOKIE_NAME]}))"
    )
    base = {k: v for k, v in os.environ.items() if k != "CSRF_TRUSTED_ORIGINS"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": module, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("service", ["catalog", "order", "fulfillment"])
def test_local_trusted_origins_follow_the_edge_ports(service):
    found = settings_of(
        f"{service}_service.config.settings.local", EDGE_PORT="18080", EDGE_TLS_PORT="18443"
    )
    assert found["origins"] == [
        "http://127.0.0.1:18080",
        "http://localhost:18080",
        "http://[::1]:18080",
        "https://127.0.0.1:18443",
        "https://localhost:18443",
        "https://[::1]:18443",
    ]
    assert found["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert found["staff"] == [f"/admin/{service}/", f"flashsale_staff_{service}"]


def test_trusted_origins_from_the_environment_win():
    found = settings_of(
        "catalog_service.config.settings.local",
        CSRF_TRUSTED_ORIGINS="https://shop.example.com,https://admin.example.com",
    )
    assert found["origins"] == ["https://shop.example.com", "https://admin.example.com"]


def test_edge_host_joins_the_local_origins():
    found = settings_of(
        "order_service.config.settings.local", EDGE_HOST="10.1.2.3", EDGE_PORT="8080"
    )
    assert found["origins"][:2] == ["http://10.1.2.3:8080", "http://127.0.0.1:8080"]


@pytest.mark.parametrize(
    "value, reason",
    [
        ("ok", None),
        ("a\x00b", NUL_BYTE),
        ("\ud800", LONE_SURROGATE),
        ("x\udfffy", LONE_SURROGATE),
        ("x" * 11, TOO_LONG),
        ("é" * 10, None),
        ("\U0001f600", None),  # a real astral character is fine
    ],
)
def test_text_problem(value, reason):
    problem = text_problem(value, where="v", max_length=10)
    assert (problem.reason if problem else None) == reason


def test_first_text_problem_walks_json_and_names_the_place_safely():
    value = {"a": [1, {"b": "fine"}, {"c": "bad\x00"}], "d": "x"}
    problem = first_text_problem(value, where="body", max_length=100)
    assert (problem.where, problem.reason) == ("body.a[2].c", NUL_BYTE)
    key = first_text_problem({"k\ud800": 1}, where="body")
    assert (key.where, key.reason) == ("body.k? (name)", LONE_SURROGATE)
    assert key.message.encode("utf-8")  # the message itself is always valid text
    assert first_text_problem({"a": ["b", 2, None, True]}, max_length=1) is None
