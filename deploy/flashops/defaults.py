"""The one table of local defaults: every port, size and connection the platform reads.

``bin/platform`` (:mod:`flashops.platform`), the renderers (:mod:`flashops.edgemesh`,
:mod:`flashops.observability`), the system tests and the benchmarks all read their settings
through :func:`settings`: the environment first, then :data:`DEFAULTS`. The system tests
override every port with a free one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

# deploy/flashops/defaults.py -> the repository (the ops package runs from a checkout: it
# renders deploy/'s templates and runs deploy/Procfile).
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

DEFAULTS: dict[str, str] = {
    # --- the runner: ports of the web processes, sizes, where state goes ---
    "EDGE_HOST": "127.0.0.1",
    "EDGE_PORT": "8080",
    "EDGE_TLS_PORT": "8443",
    "CATALOG_PORT": "8001",
    "ORDER_PORT": "8002",
    "FULFILLMENT_PORT": "8003",
    "FLOWER_PORT": "5555",
    "WEB_WORKERS": "2",
    "NGINX_WORKERS": "2",
    "VAR_DIR": str(ROOT / "var"),
    # --- backing services and the admin the set-up creates ---
    "CATALOG_DATABASE_URL": "postgres://catalog:catalog@127.0.0.1:5432/catalog",
    "ORDER_DATABASE_URL": "postgres://orders:orders@127.0.0.1:5432/orders",
    "FULFILLMENT_DATABASE_URL": "postgres://fulfillment:fulfillment@127.0.0.1:5432/fulfillment",
    "POSTGRES_ADMIN_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    "DJANGO_SUPERUSER_USERNAME": "admin",
    "DJANGO_SUPERUSER_PASSWORD": "admin",
    "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
    # --- the edge (NGINX; docs/edge-and-mesh.md) ---
    "EDGE_INSTANCES": "1",
    "EDGE_TRUSTED_PROXIES": "",
    "EDGE_MICROCACHE_TTL": "1s",
    "EDGE_MAX_BODY": "64k",
    "CATALOG_INSTANCES": "2",
    "ORDER_INSTANCES": "2",
    "INSTANCE_PORT_STRIDE": "100",
    "ORDER_RATE": "100r/s",
    "ORDER_BURST": "50",
    "ORDER_CLIENT_RATE": "10r/s",
    "ORDER_CLIENT_BURST": "20",
    # the waiting room's joins and passes (/queue/), per client, outside the order budget
    "QUEUE_CLIENT_RATE": "5r/s",
    "QUEUE_CLIENT_BURST": "20",
    "ORDER_RETRY_AFTER": "1",
    # --- the mesh (Envoy sidecars) ---
    "MESH_TRUST_DOMAIN": "flashsale.local",
    "FULFILLMENT_OUTBOUND_PORT": "9101",
    "FULFILLMENT_INBOUND_ADDR": "127.0.0.1",
    "FULFILLMENT_INBOUND_PORT": "9201",
    "FULFILLMENT_MESH_HOST": "127.0.0.1",
    "ORDER_SIDECAR_ADMIN_PORT": "9901",
    "FULFILLMENT_SIDECAR_ADMIN_PORT": "9902",
    "MESH_REQUEST_TIMEOUT": "3s",
    "MESH_PER_TRY_TIMEOUT": "1s",
    "MESH_CONNECT_TIMEOUT": "1s",
    "MESH_NUM_RETRIES": "2",
    "MESH_RETRY_BUDGET_PERCENT": "20.0",
    "MESH_RETRY_MIN_CONCURRENCY": "3",
    "MESH_MAX_CONNECTIONS": "256",
    "MESH_MAX_PENDING_REQUESTS": "256",
    "MESH_MAX_REQUESTS": "256",
    "MESH_OUTLIER_CONSECUTIVE_5XX": "5",
    "MESH_OUTLIER_INTERVAL": "5s",
    "MESH_OUTLIER_BASE_EJECTION": "30s",
    "MESH_OUTLIER_MAX_EJECTION_PERCENT": "50",
    # --- observability (Prometheus, exporters; ADR 0070) ---
    "PROMETHEUS_PORT": "9090",
    "PROMETHEUS_SCRAPE_INTERVAL": "5s",
    "PROMETHEUS_SCRAPE_TIMEOUT": "4s",
    "PROMETHEUS_RETENTION": "2d",
    # each background process serves its own metrics (shared/metrics.py)
    "ORDER_RELAY_METRICS_PORT": "9311",
    "FULFILLMENT_RELAY_METRICS_PORT": "9312",
    "FULFILLMENT_MAINTAIN_METRICS_PORT": "9313",
    # Debian's exporters
    "NGINX_EXPORTER_PORT": "9113",
    "REDIS_EXPORTER_PORT": "9121",
    "POSTGRES_EXPORTER_PORT": "9187",
    # RabbitMQ's plugins: management API (Flower's broker tab) and rabbitmq_prometheus
    "RABBITMQ_MANAGEMENT_PORT": "15672",
    "RABBITMQ_PROMETHEUS_PORT": "15692",
    # Flower's login (local default; production has none: docker-compose.yml requires it)
    "FLOWER_BASIC_AUTH": "admin:admin",
}

DATABASE_URL_VARIABLES = ("CATALOG_DATABASE_URL", "ORDER_DATABASE_URL", "FULFILLMENT_DATABASE_URL")


def settings(env: Mapping[str, str]) -> dict[str, str]:
    """:data:`DEFAULTS` overlaid with the environment (its string values)."""
    out = dict(DEFAULTS)
    out.update({k: v for k, v in env.items() if isinstance(v, str)})
    return out
