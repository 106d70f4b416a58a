"""Render the local Prometheus configuration and the exporters' settings from the environment.

Used by ``bin/platform render`` (and so by ``bin/platform up``) and by the tests, like
:mod:`edgemesh` for NGINX and Envoy. Every port comes from the environment with the
defaults in :data:`flashops.defaults.DEFAULTS`; the system tests pass free ports for all of
them. What each job scrapes and why: docs/runbook.md ("Day of the sale") and ADR 0070.
Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from flashops import edgemesh
from flashops.defaults import DEPLOY, settings

PROMETHEUS_DIR = DEPLOY / "prometheus"
RULES = PROMETHEUS_DIR / "alerts.yml"
RULES_TESTS = PROMETHEUS_DIR / "alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "flashsale.json"

# The ports `bin/platform up` refuses to start on when something already listens there.
PORT_VARIABLES = (
    "PROMETHEUS_PORT",
    "ORDER_RELAY_METRICS_PORT",
    "FULFILLMENT_RELAY_METRICS_PORT",
    "FULFILLMENT_MAINTAIN_METRICS_PORT",
    "NGINX_EXPORTER_PORT",
    "REDIS_EXPORTER_PORT",
    "POSTGRES_EXPORTER_PORT",
)


def broker_api_url(env: Mapping[str, str]) -> str:
    """RabbitMQ's management API for Flower's broker tab: the broker's host and
    credentials, the management port (``FLOWER_BROKER_API`` overrides)."""
    if env.get("FLOWER_BROKER_API"):
        return env["FLOWER_BROKER_API"]
    s = settings(env)
    url = urlsplit(env["CELERY_BROKER_URL"])
    user = quote(unquote(url.username or "guest"), safe="")
    password = quote(unquote(url.password or "guest"), safe="")
    host = url.hostname or "127.0.0.1"
    return f"http://{user}:{password}@{host}:{s['RABBITMQ_MANAGEMENT_PORT']}/api/"


def postgres_exporter_dsn(env: Mapping[str, str]) -> str:
    """One connection (the order service's own role, no superuser): pg_stat_database covers
    every database of the server. (Several DSNs of one server make the exporter report the
    same series twice, and Prometheus refuses the scrape.)"""
    url = env["ORDER_DATABASE_URL"]
    return url + ("&" if "?" in url else "?") + "sslmode=disable"


def exporter_env(env: Mapping[str, str]) -> dict[str, str]:
    """Variables the Procfile's exporter and Flower lines read."""
    return {
        "FLOWER_BROKER_API": broker_api_url(env),
        "POSTGRES_EXPORTER_DSN": env.get("POSTGRES_EXPORTER_DSN") or postgres_exporter_dsn(env),
        "NGINX_STATUS_URL": env.get("NGINX_STATUS_URL")
        or f"http://127.0.0.1:{settings(env)['EDGE_PORT']}/edge/stub_status",
    }


def prometheus_values(env: Mapping[str, str]) -> dict[str, str]:
    s = settings(env)

    def targets(service: str) -> str:
        return json.dumps([f"127.0.0.1:{port}" for port in edgemesh.service_ports(s, service)])

    broker = urlsplit(env["CELERY_BROKER_URL"])
    return {
        **s,
        "CATALOG_TARGETS": targets("catalog"),
        "ORDER_TARGETS": targets("order"),
        "RABBITMQ_HOST": broker.hostname or "127.0.0.1",
        "PROMETHEUS_RULES": str(RULES),
    }


def render_prometheus(env: Mapping[str, str], *, out_dir: Path) -> Path:
    """Write ``prometheus.yml`` into ``out_dir`` (its data directory goes beside it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    template = (PROMETHEUS_DIR / "prometheus.local.yml.template").read_text()
    path = out_dir / "prometheus.yml"
    path.write_text(edgemesh.render_template(template, prometheus_values(env)))
    return path
