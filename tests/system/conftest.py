"""System tests: real processes (the runner, gunicorn, celery, nginx) on free ports."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from flashops.defaults import DATABASE_URL_VARIABLES, DEFAULTS
from flashops.processes import ManagedProcess, PrivateRabbitMQ, PrivateRedis, free_ports

ROOT = Path(__file__).resolve().parents[2]


def systest_database_urls(suffix: str) -> dict[str, str]:
    """The configured database URLs with ``_<suffix>`` added to each database name, so a
    system test never touches the databases of a platform running on this machine."""
    urls = {}
    for var in DATABASE_URL_VARIABLES:
        parts = urlsplit(os.environ.get(var, DEFAULTS[var]))
        urls[var] = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
    return urls


class Platform:
    """`bin/platform up` run as a user would, with every port and backing service private."""

    def __init__(self, workdir: Path, redis: PrivateRedis, rabbitmq: PrivateRabbitMQ):
        self.workdir = workdir
        self.redis = redis
        self.rabbitmq = rabbitmq
        names = (
            "EDGE_PORT",
            "CATALOG_PORT",
            "ORDER_PORT",
            "FULFILLMENT_PORT",
            "FLOWER_PORT",
            # edge and mesh (issue 6): TLS, second instances, sidecars
            "EDGE_TLS_PORT",
            "CATALOG_PORT_2",
            "ORDER_PORT_2",
            "FULFILLMENT_OUTBOUND_PORT",
            "FULFILLMENT_INBOUND_PORT",
            "ORDER_SIDECAR_ADMIN_PORT",
            "FULFILLMENT_SIDECAR_ADMIN_PORT",
            # observability (issue 10): Prometheus, exporters, background metrics
            "PROMETHEUS_PORT",
            "ORDER_RELAY_METRICS_PORT",
            "FULFILLMENT_RELAY_METRICS_PORT",
            "FULFILLMENT_MAINTAIN_METRICS_PORT",
            "NGINX_EXPORTER_PORT",
            "REDIS_EXPORTER_PORT",
            "POSTGRES_EXPORTER_PORT",
        )
        self.ports = dict(zip(names, free_ports(len(names)), strict=True))
        # The private node's plugin ports (its plugins answer there when it enabled them).
        self.ports["RABBITMQ_MANAGEMENT_PORT"] = rabbitmq.management_port
        self.ports["RABBITMQ_PROMETHEUS_PORT"] = rabbitmq.prometheus_port
        self.env = {
            **{k: str(v) for k, v in self.ports.items()},
            **systest_database_urls("systest"),
            "DJANGO_ENV": "local",
            "VAR_DIR": str(workdir / "var"),
            "REDIS_URL": redis.url(0),
            "CELERY_BROKER_URL": rabbitmq.url,
            "WEB_WORKERS": "1",
            "NGINX_WORKERS": "1",
            "LOG_FORMAT": "json",
        }
        self.process: ManagedProcess | None = None

    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.ports['EDGE_PORT']}"

    @property
    def prometheus(self) -> str:
        return f"http://127.0.0.1:{self.ports['PROMETHEUS_PORT']}"

    def drop_databases(self) -> None:
        """Start from empty databases: the runner's set-up creates and migrates them."""
        import psycopg
        from psycopg import sql

        admin_url = os.environ.get(
            "POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres"
        )
        with psycopg.connect(admin_url, autocommit=True) as admin:
            for var, url in self.env.items():
                if var.endswith("_DATABASE_URL"):
                    name = urlsplit(url).path.lstrip("/")
                    admin.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(name)
                        )
                    )

    def start(self, timeout: float = 240) -> Platform:
        self.drop_databases()
        self.process = ManagedProcess(
            [sys.executable, str(ROOT / "bin" / "platform"), "up", "--no-seed"],
            env=self.env,
            cwd=ROOT,
            log_path=self.workdir / "platform.log",
        ).start()
        deadline = time.monotonic() + timeout
        while "The platform is up" not in self.process.log():
            if not self.process.alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the platform did not come up:\n{self.process.log()[-6000:]}")
            time.sleep(0.5)
        return self

    def stop(self) -> int | None:
        """Ctrl-C, as a user at the terminal would (SIGINT to the process group)."""
        if self.process is None:
            return None
        return self.process.stop(timeout=45, sig=signal.SIGINT)


@pytest.fixture(scope="module")
def backing(tmp_path_factory):
    """A private Redis and RabbitMQ for the module: fault tests stop and start them."""
    work = tmp_path_factory.mktemp("backing")
    redis = PrivateRedis(work / "redis").start()
    rabbitmq = PrivateRabbitMQ(work / "rabbitmq").start()
    try:
        yield redis, rabbitmq
    finally:
        redis.stop()
        rabbitmq.destroy()


@pytest.fixture(scope="module")
def platform(tmp_path_factory, backing):
    redis, rabbitmq = backing
    running = Platform(tmp_path_factory.mktemp("platform"), redis, rabbitmq).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, one per module (tests/system/browser.py)."""
    from browser import launched_browser  # imported here: only browser tests need Playwright

    with launched_browser() as chromium:
        yield chromium
