"""What the spike runs against: the platform (``bin/platform up``) or the monolith.

Both answer on an edge URL and write the same JSON access log (the platform's NGINX
``edge_json`` format), so one analysis reads both. The platform gets a private Redis and a
private RabbitMQ node (faults restart them), its own databases (dropped and seeded at each
start) and every port free; the monolith gets its own database ``monolith_<suffix>``
(created through the PostgreSQL superuser), its gunicorn under deploy/gunicorn.conf.py and
a plain NGINX proxy (no cache, no limits) in front, the same hop the platform's edge is.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from flashops.processes import (
    ManagedProcess,
    PrivateRabbitMQ,
    PrivateRedis,
    free_port,
    free_ports,
    gunicorn_process,
    wait_for_port,
)
from shared.inventory import available_key

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")

PLATFORM_PORTS = (
    "EDGE_PORT", "CATALOG_PORT", "ORDER_PORT", "FULFILLMENT_PORT", "FLOWER_PORT",
    "EDGE_TLS_PORT", "CATALOG_PORT_2", "ORDER_PORT_2", "FULFILLMENT_OUTBOUND_PORT",
    "FULFILLMENT_INBOUND_PORT", "ORDER_SIDECAR_ADMIN_PORT", "FULFILLMENT_SIDECAR_ADMIN_PORT",
    "PROMETHEUS_PORT", "ORDER_RELAY_METRICS_PORT", "FULFILLMENT_RELAY_METRICS_PORT",
    "FULFILLMENT_MAINTAIN_METRICS_PORT", "NGINX_EXPORTER_PORT", "REDIS_EXPORTER_PORT",
    "POSTGRES_EXPORTER_PORT",
)  # fmt: skip

# The edge log format of deploy/nginx/templates/flashsale.conf.template, for the monolith's
# plain proxy (one parser for both).
LOG_FORMAT = (
    '\'{"time":"$time_iso8601","request_id":"$request_id","remote":"$remote_addr",'
    '"peer":"$realip_remote_addr","method":"$request_method","uri":"$request_uri",'
    '"status":$status,"bytes":$body_bytes_sent,"rt":$request_time,'
    '"upstream":"$upstream_addr","urt":"$upstream_response_time","cache":""}\''
)


DEFAULT_DATABASE_URLS = {
    "CATALOG_DATABASE_URL": "postgres://catalog:catalog@127.0.0.1:5432/catalog",
    "ORDER_DATABASE_URL": "postgres://orders:orders@127.0.0.1:5432/orders",
    "FULFILLMENT_DATABASE_URL": "postgres://fulfillment:fulfillment@127.0.0.1:5432/fulfillment",
}


def run_database_urls(suffix: str) -> dict[str, str]:
    """The configured database URLs with ``_<suffix>`` added to each name: a spike run never
    touches the databases of a platform (or the tests) running on this machine."""
    urls = {}
    for var, default in DEFAULT_DATABASE_URLS.items():
        parts = urlsplit(os.environ.get(var, default))
        urls[var] = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
    return urls


def _drop_and_create(name: str, owner: str | None = None) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if owner is not None:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _get(url: str, timeout: float = 3.0) -> bytes:
    request = urllib.request.Request(url)  # noqa: S310 - loopback only
    parts = urlsplit(url)
    if parts.username:
        token = base64.b64encode(f"{parts.username}:{parts.password}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310
            url.replace(f"{parts.username}:{parts.password}@", ""),
            headers={"Authorization": f"Basic {token}"},
        )
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
        return resp.read()


class PlatformTarget:
    name = "platform"

    def __init__(
        self,
        workdir: Path,
        *,
        db_suffix: str,
        hot_skus: list[str],
        payment_latency_ms: float,
        extra_env: dict[str, str] | None = None,
    ):
        self.workdir = workdir
        self.hot_skus = hot_skus
        self.redis: PrivateRedis | None = None
        self.rabbitmq: PrivateRabbitMQ | None = None
        self.process: ManagedProcess | None = None
        self.db_suffix = db_suffix
        self.payment_latency_ms = payment_latency_ms
        self.extra_env = extra_env or {}
        self.env: dict[str, str] = {}

    # --- life cycle ---------------------------------------------------------------------
    def start(self, log, timeout: float = 300) -> None:
        log("platform: private Redis and RabbitMQ (management plugin for queue depth)")
        self.redis = PrivateRedis(self.workdir / "redis").start()
        self.rabbitmq = PrivateRabbitMQ(
            self.workdir / "rabbitmq", plugins=("rabbitmq_management",)
        ).start()
        urls = run_database_urls(self.db_suffix)
        for url in urls.values():
            _drop_and_create(urlsplit(url).path.lstrip("/"))  # the runner creates them
        self.env = {
            # distinct free ports (free_port alone may hand out one port twice)
            **{
                n: str(p)
                for n, p in zip(PLATFORM_PORTS, free_ports(len(PLATFORM_PORTS)), strict=True)
            },
            **urls,
            "RABBITMQ_MANAGEMENT_PORT": str(self.rabbitmq.management_port),
            "RABBITMQ_PROMETHEUS_PORT": str(self.rabbitmq.prometheus_port),
            "RABBITMQ_MANAGEMENT_URL": self.rabbitmq.management_url,
            "DJANGO_ENV": "local",
            "DJANGO_DEBUG": "false",  # local settings default to DEBUG, which records queries
            "VAR_DIR": str(self.workdir / "var"),
            "REDIS_URL": self.redis.url(0),
            "CELERY_BROKER_URL": self.rabbitmq.url,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "WARNING",
            # The generator is the CDN hop in front of the edge (ADR 0085): the edge believes
            # its X-Forwarded-For, so each shopper address is a client of its own.
            "EDGE_TRUSTED_PROXIES": "127.0.0.1",
            "PAYMENT_LATENCY_MS": str(self.payment_latency_ms),
            **self.extra_env,
        }
        for key in ("TEST_REDIS_URL", "TEST_CELERY_BROKER_URL", "TEST_RABBITMQ_VHOST"):
            os.environ.pop(key, None)
        log(f"platform: bin/platform up (set-up, demo data, every process) in {self.workdir}")
        self.process = ManagedProcess(
            [sys.executable, str(ROOT / "bin" / "platform"), "up"],
            env=self.env,
            cwd=ROOT,
            log_path=self.workdir / "platform.log",
        ).start()
        deadline = time.monotonic() + timeout
        while "The platform is up" not in self.process.log():
            if not self.process.alive() or time.monotonic() > deadline:
                tail = self.process.log()[-4000:]
                self.stop()
                raise RuntimeError(f"the platform did not come up:\n{tail}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(timeout=45, sig=signal.SIGINT)
        if self.rabbitmq is not None:
            self.rabbitmq.destroy()
        if self.redis is not None:
            self.redis.stop()

    # --- what the scenario needs --------------------------------------------------------
    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.env['EDGE_PORT']}"

    @property
    def access_log(self) -> Path:
        return Path(self.env["VAR_DIR"]) / "nginx" / "access.log"

    @property
    def order_limit(self) -> dict[str, float]:
        """The edge's order budget (deploy/edgemesh.py defaults unless overridden)."""
        rate = self.env.get("ORDER_RATE", "100r/s")
        number = float(rate.split("r/")[0])
        per_s = number if rate.endswith("/s") else number / 60
        return {"rate_per_s": per_s, "burst": float(self.env.get("ORDER_BURST", "50"))}

    def database_url(self, service: str) -> str:
        return self.env[f"{service.upper()}_DATABASE_URL"]

    def sample(self) -> dict:
        """Queue depth, outbox backlog, orders accepted and not settled, availability."""
        out: dict = {"t": time.time()}
        try:
            queues = json.loads(_get(self.rabbitmq.management_url + "queues"))
            out["queue_depth"] = sum(
                q.get("messages", 0) for q in queues if not q["name"].endswith(".dead")
            )
        except (OSError, ValueError, urllib.error.URLError):
            out["queue_depth"] = None
        try:
            with psycopg.connect(self.database_url("order"), connect_timeout=2) as db:
                out["outbox_order"] = db.execute(
                    "SELECT count(*) FROM orders_outboxmessage WHERE published_at IS NULL"
                ).fetchone()[0]
                out["unsettled"] = db.execute(
                    "SELECT count(*) FROM orders_order WHERE status = 'accepted'"
                ).fetchone()[0]
            with psycopg.connect(self.database_url("fulfillment"), connect_timeout=2) as db:
                out["outbox_fulfillment"] = db.execute(
                    "SELECT count(*) FROM fulfillment_outboxevent WHERE published_at IS NULL"
                ).fetchone()[0]
        except psycopg.Error:
            pass
        try:
            import redis

            client = redis.Redis.from_url(self.env["REDIS_URL"], socket_timeout=2)
            values = client.mget([available_key(s) for s in self.hot_skus])
            out["available"] = {
                s: (int(v) if v is not None else None)
                for s, v in zip(self.hot_skus, values, strict=True)
            }
        except Exception:  # noqa: BLE001 - Redis restarted by a fault: no sample this second
            out["available"] = None
        return out

    def oversold(self) -> dict[str, int]:
        """Units accepted and not failed, beyond the units ever received, per sku."""
        with psycopg.connect(self.database_url("order")) as db:
            sold = dict(
                db.execute(
                    "SELECT l.sku, sum(l.quantity) FROM orders_orderline l "
                    "JOIN orders_order o ON o.id = l.order_id WHERE o.status <> 'failed' "
                    "GROUP BY l.sku"
                ).fetchall()
            )
        with psycopg.connect(self.database_url("fulfillment")) as db:
            received = dict(db.execute("SELECT sku, received FROM fulfillment_stock").fetchall())
        return {sku: int(n - received.get(sku, 0)) for sku, n in sold.items()
                if n > received.get(sku, 0)}  # fmt: skip

    def slugs(self, *, hot: int, others: int) -> tuple[list[str], list[str], list[str]]:
        """(hot skus, their slugs, other products' slugs) from the catalog's demo data."""
        with psycopg.connect(self.database_url("catalog")) as db:
            hot_rows = db.execute(
                "SELECT p.sku, p.slug FROM catalog_product p JOIN catalog_flashsale f "
                "ON f.product_id = p.id AND f.starts_at <= now() AND f.ends_at > now() "
                "ORDER BY p.sku LIMIT %s",
                [hot],
            ).fetchall()
            other_rows = db.execute(
                "SELECT slug FROM catalog_product ORDER BY sku OFFSET 20 LIMIT %s", [others]
            ).fetchall()
        return [r[0] for r in hot_rows], [r[1] for r in hot_rows], [r[0] for r in other_rows]


class BaselineTarget:
    """The monolith (bench/baseline) behind a plain NGINX proxy."""

    name = "baseline"

    def __init__(
        self,
        workdir: Path,
        *,
        db_suffix: str,
        hot_skus: list[str],
        payment_latency_ms: float,
        workers: int,
        source_env: dict[str, str],
    ):
        self.workdir = workdir
        self.hot_skus = hot_skus
        self.db_name = f"monolith_{db_suffix}"
        self.workers = workers
        self.payment_latency_ms = payment_latency_ms
        self.source_env = source_env  # the platform's databases, to copy the demo data from
        self.gunicorn: ManagedProcess | None = None
        self.nginx: ManagedProcess | None = None
        self.port = free_port()
        self.edge_port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:5432/{self.db_name}"
        self.env = {
            "DJANGO_SETTINGS_MODULE": "bench.baseline.settings",
            "MONOLITH_DATABASE_URL": self.url,
            "PAYMENT_LATENCY_MS": str(payment_latency_ms),
            "WEB_WORKERS": str(workers),
            "SERVICE": "monolith",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def start(self, log) -> None:
        log(f"baseline: database {self.db_name} (created as the postgres superuser), migrate")
        _drop_and_create(self.db_name, owner="postgres")
        manage = [sys.executable, "-m", "bench.baseline.manage"]
        env = {**os.environ, **self.env}
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
        log("baseline: the platform's demo data copied in (seed_from_platform)")
        subprocess.run(
            [*manage, "seed_from_platform"],
            env={**env, **{k: self.source_env[k] for k in ("CATALOG_DATABASE_URL",
                                                            "FULFILLMENT_DATABASE_URL")}},
            cwd=ROOT, check=True,
        )  # fmt: skip
        log(f"baseline: gunicorn ({self.workers} sync workers) and a plain NGINX proxy")
        self.gunicorn = gunicorn_process(
            "bench.baseline.wsgi",
            port=self.port,
            root=ROOT,
            env=self.env,
            log_path=self.workdir / "gunicorn.log",
        )
        wait_for_port(self.port, proc=self.gunicorn.proc)
        prefix = self.workdir / "nginx"
        for sub in ("logs", "tmp"):
            (prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(
            f"""worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format edge_json escape=json {LOG_FORMAT};
    access_log {prefix}/access.log edge_json;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream monolith {{ server 127.0.0.1:{self.port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{self.edge_port};
        location / {{
            proxy_pass http://monolith;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""
        )
        nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
        self.nginx = ManagedProcess(
            [nginx, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
            log_path=self.workdir / "nginx.log",
        ).start()
        wait_for_port(self.edge_port, proc=self.nginx.proc)
        for _ in range(100):
            try:
                _get(f"{self.edge}/healthz")
                break
            except OSError:
                time.sleep(0.2)

    def stop(self) -> None:
        for proc in (self.nginx, self.gunicorn):
            if proc is not None:
                proc.stop()

    @property
    def edge(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    @property
    def access_log(self) -> Path:
        return self.workdir / "nginx" / "access.log"

    order_limit = None  # no rate limiter

    def sample(self) -> dict:
        out: dict = {"t": time.time(), "queue_depth": 0, "outbox_order": 0, "outbox_fulfillment": 0}
        try:
            with psycopg.connect(self.url, connect_timeout=2) as db:
                out["unsettled"] = db.execute(
                    "SELECT count(*) FROM monolith_order WHERE status = 'accepted'"
                ).fetchone()[0]
                rows = dict(
                    db.execute(
                        "SELECT sku, on_hand FROM monolith_stock WHERE sku = ANY(%s)",
                        [self.hot_skus],
                    ).fetchall()
                )
                out["available"] = {s: rows.get(s) for s in self.hot_skus}
        except psycopg.Error:
            out["available"] = None
        return out

    def oversold(self) -> dict[str, int]:
        with psycopg.connect(self.url) as db:
            rows = db.execute(
                "SELECT l.sku, sum(l.quantity) - max(s.received) FROM monolith_orderline l "
                "JOIN monolith_order o ON o.id = l.order_id JOIN monolith_stock s ON s.sku = l.sku "
                "WHERE o.status <> 'failed' GROUP BY l.sku HAVING sum(l.quantity) > max(s.received)"
            ).fetchall()
        return {sku: int(n) for sku, n in rows}

    def drop(self) -> None:
        _drop_and_create(self.db_name)
