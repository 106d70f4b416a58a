"""What the local runner runs (deploy/Procfile), production runs too.

deploy/Procfile is the list of processes the platform needs; docker-compose.yml and
deploy/k8s/ must run each of them. A process is identified by its program and its
essential arguments (gunicorn: the WSGI module; celery: the app, the sub-command and the
queues; ``manage.py``: the service, the command and its arguments), not by ports, paths,
concurrency or environment, which differ between a laptop and a cluster on purpose. Each
non-local-only process needs a compose service and a Kubernetes workload that run it,
long-running ones as such (compose: restarted; Kubernetes: a Deployment).

Management commands are accounted for as well: every ``manage.py`` command of the
repository is either a long-running process (it handles SIGTERM: then it must be in the
Procfile, and so deployed), a periodic job with its production schedule, or a one-off
with a reason. A new loop command nobody deploys fails here.

Every check also runs on a deliberately broken copy and must report exactly what broke.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from test_compose import commands_of, django_projects, environment, load_compose, option_value
from test_k8s import by_kind, container_of, load_k8s, secret_keys

from flashops import observability
from flashops.defaults import DEFAULTS
from flashops.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parents[2]
PROCFILE = Path("deploy") / "Procfile"

# Procfile entries with no process of their own in production, and what stands in for them
# (a compose service that must exist, or None).
LOCAL_ONLY: dict[str, tuple[str, str | None]] = {
    "catalog_2": ("a second catalog instance: production scales replicas "
                  "(compose --scale catalog=N, the k8s HPA)", "catalog"),
    "order_2": ("a second order instance: production scales replicas "
                "(compose --scale order=N, the k8s HPA)", "order"),
    "edge": ("local NGINX rendered by bin/platform; compose runs the nginx image with the same "
             "templates, Kubernetes an Ingress controller (not in deploy/k8s)", "edge"),
    "order_sidecar": ("Envoy from deploy/envoy; compose: Consul-bootstrapped sidecar, "
                      "Kubernetes: Consul injects it", "order-sidecar"),
    "fulfillment_sidecar": ("Envoy from deploy/envoy; compose: Consul-bootstrapped sidecar, "
                            "Kubernetes: Consul injects it", "fulfillment-sidecar"),
    "catalog_offers": ("the local schedule of `catalog publish_offers` (see PERIODIC): compose "
                       "runs the same loop, Kubernetes a CronJob", "catalog-publish-offers"),
    "mesh_certs": ("the local CA's rotator (bin/mesh-certs); in production Consul is the CA "
                   "and rotates the certificates", "consul"),
    # Observability (ADR 0070): off-the-shelf images in compose; on Kubernetes the cluster's
    # own Prometheus (kube-prometheus) scrapes the pods and loads deploy/prometheus/alerts.yml.
    "prometheus": ("Debian's Prometheus with the rendered local config; compose runs the "
                   "prom/prometheus image with deploy/prometheus/prometheus.compose.yml, "
                   "Kubernetes the cluster's Prometheus", "prometheus"),
    "nginx_exporter": ("Debian's exporter of the local edge's stub_status; compose runs the "
                       "nginx-prometheus-exporter image in the edge's namespace", "nginx-exporter"),
    "redis_exporter": ("Debian's Redis exporter; compose runs the redis_exporter image",
                       "redis-exporter"),
    "postgres_exporter": ("Debian's PostgreSQL exporter; compose runs the postgres-exporter "
                          "image", "postgres-exporter"),
}  # fmt: skip

# Commands run on a schedule, not as a process: how production schedules each. A value is
# (compose service, k8s workload) whose commands include the command, or a stand-in.
PERIODIC: dict[tuple[str, str], dict[str, str]] = {
    ("catalog", "publish_offers"): {
        "why": "a later planned flash sale must replace an ended one in the offer read model",
        "compose": "catalog-publish-offers",  # a loop, once a minute
        "k8s": "catalog-publish-offers",  # a CronJob, every minute
        "release": "catalog-migrate",  # and after every migrate
    },
    ("order", "idempotency_cleanup"): {
        "why": "expired Idempotency-Keys pile up",
        # outbox_relay calls the same service function every 5 minutes
        "covered_by": "order outbox_relay",
        "function": "idempotency_keys_expire",
    },
}

# Commands people run by hand (or the local runner runs once): no production process.
ONE_OFF: dict[tuple[str, str], str] = {
    ("catalog", "seed_demo"): "demo data; production has none",
    ("fulfillment", "seed_demo"): "demo data; production has none",
    ("catalog", "graphql_snapshot"): "writes the schema snapshot for the tests",
    ("fulfillment", "restock"): "an operator's stock change",
    ("fulfillment", "check_stock"): "an operator's report; `maintain` runs the same check",
    ("order", "inventory_restore"): "an operator's step after an empty Redis restart; "
    "`outbox_relay` does the same by itself (ADR 0088)",
    ("fulfillment", "dead_letters"): "an operator's tool for the dead-letter queues",
    ("order", "waiting_room"): "staff's and developers' room controls (the order admin does "
    "the same); `outbox_relay` re-mirrors the rooms to Redis by itself (ADR 0104)",
    ("*", "ensure_superuser"): "local admin user; production uses createsuperuser",
    ("*", "ensure_roles"): "staff groups; the release jobs (`*-migrate`) run it (ADR 0067)",
}


# --- reading ------------------------------------------------------------------------------


def procfile(root: Path) -> dict[str, list[str]]:
    """name -> argv, with `env VAR=...` prefixes dropped."""
    processes = {}
    for line in (root / PROCFILE).read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, command = line.split(":", 1)
        argv = shlex.split(command)
        if argv[:1] == ["env"]:
            argv = argv[1:]
        while argv and re.match(r"^[A-Z_][A-Z0-9_]*=", argv[0]):
            argv = argv[1:]
        processes[name.strip()] = argv
    return processes


def procfile_metrics(root: Path) -> set[str]:
    """Procfile processes given PROMETHEUS_MULTIPROC_DIR (their metrics outlive a request
    and reach a /metrics view only through that directory)."""
    return {
        line.split(":", 1)[0].strip()
        for line in (root / PROCFILE).read_text().splitlines()
        if not line.lstrip().startswith("#") and "PROMETHEUS_MULTIPROC_DIR=" in line
    }


def signature(argv: list[str]) -> tuple | None:
    """What makes two command lines the same process; None for a non-platform program."""
    program = argv[0]
    if program == "gunicorn":
        skip = {"-c", "--config", "-b", "--bind", "-w", "--workers", "-k", "--worker-class"}
        modules = [
            a for i, a in enumerate(argv[1:], 1)
            if not a.startswith("-") and argv[i - 1] not in skip
        ]  # fmt: skip
        return ("gunicorn", *modules)
    if program == "celery":
        app = option_value(argv, "-A", "--app")
        words = [
            a for i, a in enumerate(argv[1:], 1)
            if not a.startswith("-") and argv[i - 1] not in ("-A", "--app")
        ]  # fmt: skip
        sub = words[0] if words else None
        queues = option_value(argv, "-Q", "--queues") if sub == "worker" else None
        return ("celery", app, sub, ",".join(sorted(queues.split(","))) if queues else None)
    if program in ("python", "python3") and argv[1:2] == ["manage.py"]:
        # Arguments are essential (`--repair`) unless they are local paths or ports.
        return ("manage.py", *(a for a in argv[2:] if "$" not in a))
    return None


def compose_processes(root: Path) -> dict[str, tuple[bool, set[tuple], set[str]]]:
    """compose service -> (long-running?, signatures of its commands, its variables)."""
    found = {}
    for name, service in load_compose(root)["services"].items():
        if "build" not in service:
            continue
        long_running = service.get("restart", "no") != "no"
        sigs = {s for argv in commands_of(service) if (s := signature(argv))}
        found[name] = (long_running, sigs, set(environment(service)))
    return found


def k8s_processes(root: Path) -> dict[str, tuple[str, set[tuple], set[str]]]:
    """k8s workload -> (kind, signatures of its container's commands, its own variables)."""
    _, docs = load_k8s(root)
    found = {}
    for name, workload in by_kind(docs, "Deployment", "Job", "CronJob").items():
        container = container_of(workload)
        argvs = commands_of({"command": container["command"]})
        sigs = {s for argv in argvs if (s := signature(argv))}
        found[name] = (workload["kind"], sigs, {e["name"] for e in container.get("env", [])})
    return found


def management_commands(root: Path) -> dict[tuple[str, str], Path]:
    """(service or "*" for shared, command) -> file, for every manage.py command."""
    packages = {pkg: svc for svc, pkg in django_projects(root).items()}
    found = {}
    for path in sorted(root.glob("**/management/commands/*.py")):
        rel = path.relative_to(root)
        if path.name.startswith("_") or rel.parts[0] in (".venv", ".tox", "var", "tests"):
            continue
        service = packages.get(rel.parts[0], "*" if rel.parts[0] == "shared" else None)
        if service is not None:
            found[(service, path.stem)] = path
    return found


def handles_sigterm(path: Path, root: Path) -> bool:
    """A command that installs a SIGTERM handler is a long-running loop: in its own file,
    or in the shared command base it builds on (e.g. shared/outbox/command.py)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shared."):
            base = root / (node.module.replace(".", "/") + ".py")
            if base.is_file() and base != path and handles_sigterm(base, root):
                return True
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "signal"
            and node.args
            and isinstance(node.args[0], ast.Attribute)
            and node.args[0].attr == "SIGTERM"
        ):
            return True
    return False


def calls(path: Path, function: str) -> bool:
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", "")) == function
        for n in ast.walk(ast.parse(path.read_text()))
    )


# --- the check ----------------------------------------------------------------------------


def check_parity(root: Path) -> list[str]:
    problems: list[str] = []
    processes = procfile(root)
    compose = compose_processes(root)
    compose_all = load_compose(root)["services"]
    k8s = k8s_processes(root)
    metrics = procfile_metrics(root)

    for name, (reason, stand_in) in LOCAL_ONLY.items():
        if not reason.strip():
            problems.append(f"{name}: local-only needs a reason")
        if name not in processes:
            problems.append(f"{name}: listed as local-only but not in the Procfile")
        elif stand_in is not None and stand_in not in compose_all:
            problems.append(f"{name}: its production stand-in {stand_in!r} is not in compose")

    for name, argv in processes.items():
        if name in LOCAL_ONLY:
            continue
        sig = signature(argv)
        if sig is None:
            problems.append(f"{name}: runs {argv[0]!r}; deploy it or list it as local-only")
            continue
        in_compose = [s for s, (_, sigs, _) in compose.items() if sig in sigs]
        if not in_compose:
            problems.append(f"{name}: no compose service runs {' '.join(map(str, sig))}")
        elif not any(compose[s][0] for s in in_compose):
            problems.append(f"{name}: compose runs it only once ({', '.join(in_compose)})")
        in_k8s = [w for w, (_, sigs, _) in k8s.items() if sig in sigs]
        if not in_k8s:
            problems.append(f"{name}: no k8s workload runs {' '.join(map(str, sig))}")
        elif not any(k8s[w][0] == "Deployment" for w in in_k8s):
            problems.append(f"{name}: k8s runs it only as {', '.join(in_k8s)} (not a Deployment)")
        if name in metrics:
            for other in [s for s in in_compose if "PROMETHEUS_MULTIPROC_DIR" not in compose[s][2]]:
                problems.append(f"{name}: compose {other} has no PROMETHEUS_MULTIPROC_DIR")
            for other in [w for w in in_k8s if "PROMETHEUS_MULTIPROC_DIR" not in k8s[w][2]]:
                problems.append(f"{name}: k8s {other} has no PROMETHEUS_MULTIPROC_DIR")

    deployed = {s[1:3] for s in map(signature, processes.values()) if s and s[0] == "manage.py"}
    commands = management_commands(root)
    for key, path in sorted(commands.items()):
        label = " ".join(key)
        classes = [key in PERIODIC, key in ONE_OFF, key in deployed]
        if sum(classes) != 1:
            problems.append(
                f"{label}: not accounted for (a Procfile process, PERIODIC or ONE_OFF)"
                if not any(classes)
                else f"{label}: accounted for twice"
            )
        if handles_sigterm(path, root) and key not in deployed:
            problems.append(f"{label}: a long-running loop (handles SIGTERM) not in the Procfile")
    for key in sorted(set(PERIODIC) | set(ONE_OFF)):
        if key not in commands:
            problems.append(f"{' '.join(key)}: accounted for but no such command")

    for key, plan in PERIODIC.items():
        sig = ("manage.py", *key)
        label = " ".join(key)
        if "covered_by" in plan:
            covering = plan["covered_by"].split()
            if tuple(covering) not in deployed:
                problems.append(f"{label}: covered by {plan['covered_by']}, which is not deployed")
            for k in (key, tuple(covering)):
                if k in commands and not calls(commands[k], plan["function"]):
                    problems.append(f"{' '.join(k)}: does not call {plan['function']}")
            continue
        service = plan["compose"]
        if sig not in compose.get(service, (False, set(), set()))[1] or not compose[service][0]:
            problems.append(f"{label}: compose service {service} does not run it repeatedly")
        release = plan["release"]
        if sig not in compose.get(release, (True, set(), set()))[1]:
            problems.append(f"{label}: compose release job {release} does not run it")
        kind, sigs, _ = k8s.get(plan["k8s"], (None, set(), set()))
        if kind != "CronJob" or sig not in sigs:
            problems.append(f"{label}: no k8s CronJob {plan['k8s']} runs it")
        if sig not in k8s.get(release, (None, set(), set()))[1]:
            problems.append(f"{label}: k8s release job {release} does not run it")
    return problems


# --- the real files -----------------------------------------------------------------------


def test_production_runs_every_procfile_process_and_accounts_for_every_command():
    assert check_parity(ROOT) == []


def test_the_procfile_is_read_as_the_runner_reads_it():
    processes = procfile(ROOT)
    assert signature(processes["fulfillment_maintain"]) == (
        "manage.py", "fulfillment", "maintain", "--repair",
    )  # fmt: skip
    assert signature(processes["fulfillment_worker"]) == (
        "celery", "fulfillment_service.config.celery_app", "worker", "fulfillment",
    )  # fmt: skip
    assert signature(processes["catalog"]) == ("gunicorn", "catalog_service.config.wsgi")
    deployed = set(processes) - set(LOCAL_ONLY)
    assert deployed == {
        "catalog", "order", "fulfillment", "order_outbox_relay", "order_worker",
        "fulfillment_worker", "fulfillment_outbox_relay", "fulfillment_maintain", "flower",
    }  # fmt: skip


def test_long_running_commands_are_recognised():
    commands = management_commands(ROOT)
    assert {k for k, p in commands.items() if handles_sigterm(p, ROOT)} == {
        ("order", "outbox_relay"), ("fulfillment", "outbox_relay"), ("fulfillment", "maintain"),
    }  # fmt: skip
    assert len(commands) == 15


def flower_settings(root: Path) -> dict[str, set[str]]:
    """The FLOWER_* variables Flower gets from the local runner, compose and Kubernetes."""
    # FLOWER_PORT is the runner's own (the Procfile passes it as --port), not Flower's setting.
    local = {k: v for k, v in DEFAULTS.items() if k != "FLOWER_PORT"} | observability.exporter_env(
        {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
         "ORDER_DATABASE_URL": "postgres://orders:orders@127.0.0.1:5432/orders"}
    )  # fmt: skip
    compose = environment(load_compose(root)["services"]["flower"])
    _, docs = load_k8s(root)
    container = container_of(by_kind(docs, "Deployment")["flower"])
    secrets = secret_keys(root)
    k8s = {e["name"] for e in container.get("env", [])} | {
        key
        for ref in container.get("envFrom", [])
        if "secretRef" in ref
        for key in secrets.get(ref["secretRef"]["name"], set())
    }
    return {
        where: {k for k in names if k.startswith("FLOWER_")}
        for where, names in (("local", local), ("compose", compose), ("k8s", k8s))
    }


def test_flower_gets_its_login_and_broker_api_everywhere():
    """Basic auth and the management API for the queue depths: the runner's defaults
    (FLOWER_BASIC_AUTH admin:admin locally), compose (required) and the k8s Secret."""
    assert flower_settings(ROOT) == {
        "local": {"FLOWER_BASIC_AUTH", "FLOWER_BROKER_API"},
        "compose": {"FLOWER_BASIC_AUTH", "FLOWER_BROKER_API"},
        "k8s": {"FLOWER_BASIC_AUTH", "FLOWER_BROKER_API"},
    }


# --- a broken copy --------------------------------------------------------------------------


@pytest.fixture
def broken(tmp_path):
    dest = tmp_path / "repo"
    skip = shutil.ignore_patterns(
        ".git", ".venv", ".tox", "var", "__pycache__", "tests", "docs", "bench", "node_modules"
    )
    shutil.copytree(ROOT, dest, ignore=skip)
    return dest


def edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def test_parity_check_fails_on_a_broken_copy(broken):
    assert check_parity(broken) == []

    def compose(data):
        services = data["services"]
        del services["order-outbox-relay"]
        services["fulfillment-worker"]["command"][7] = "order,fulfillment"
        services["fulfillment-maintain"]["restart"] = "no"
        del services["fulfillment-maintain"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
        services["catalog-migrate"]["command"][2] = services["catalog-migrate"]["command"][
            2
        ].replace(" && python manage.py catalog publish_offers", "")

    edit_yaml(broken / "docker-compose.yml", compose)
    path = broken / "deploy" / "k8s" / "background.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for d in docs:
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "fulfillment-maintain":
            container_of(d)["command"].remove("--repair")
    docs = [d for d in docs if d["kind"] != "CronJob"]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    # a new loop command that nobody deploys, and an idempotency clean-up the relay dropped
    commands = broken / "fulfillment_service" / "fulfillment" / "management" / "commands"
    shutil.copy(commands / "outbox_relay.py", commands / "relay_more.py")
    relay = broken / "order_service" / "orders" / "management" / "commands" / "outbox_relay.py"
    relay.write_text(relay.read_text().replace("idempotency_keys_expire()", "0"))
    # a local-only entry that went away from the Procfile
    procfile_path = broken / PROCFILE
    procfile_path.write_text(
        "\n".join(
            line
            for line in procfile_path.read_text().splitlines()
            if not line.startswith("mesh_certs:")
        )
    )

    assert check_parity(broken) == [
        "mesh_certs: listed as local-only but not in the Procfile",
        "order_outbox_relay: no compose service runs manage.py order outbox_relay",
        "fulfillment_worker: no compose service runs celery "
        "fulfillment_service.config.celery_app worker fulfillment",
        "fulfillment_maintain: compose runs it only once (fulfillment-maintain)",
        "fulfillment_maintain: no k8s workload runs manage.py fulfillment maintain --repair",
        "fulfillment_maintain: compose fulfillment-maintain has no PROMETHEUS_MULTIPROC_DIR",
        "fulfillment relay_more: not accounted for (a Procfile process, PERIODIC or ONE_OFF)",
        "fulfillment relay_more: a long-running loop (handles SIGTERM) not in the Procfile",
        "catalog publish_offers: compose release job catalog-migrate does not run it",
        "catalog publish_offers: no k8s CronJob catalog-publish-offers runs it",
        "order outbox_relay: does not call idempotency_keys_expire",
    ]


# --- the background roles run for real ----------------------------------------------------

BACKGROUND_ROLES = {
    # compose service: (release job, what its log says once it works, stop grace in compose)
    "order-outbox-relay": ("order-migrate", "outbox relay: started"),
    "fulfillment-outbox-relay": ("fulfillment-migrate", "outbox relay: started"),
    "fulfillment-maintain": (
        "fulfillment-migrate",
        "outbox: 0 re-published; stock: 0 skus, 0 drifting, 0 unknown, 0 repaired",
    ),
    "catalog-publish-offers": ("catalog-migrate", "Published 0 offers"),
}


# Background roles that serve their own metrics (METRICS_PORT), and a metric each serves.
SERVES_METRICS = {
    "order-outbox-relay": 'outbox_backlog_messages{service="order"} 0.0',
    "fulfillment-outbox-relay": 'outbox_backlog_messages{service="fulfillment"} 0.0',
    "fulfillment-maintain": "fulfillment_stock_drift_skus",
}


@pytest.fixture
def empty_databases():
    """Databases of this test's own (``<configured name>_parity``), created empty, dropped
    after: the release jobs migrate them as they would a fresh production database."""
    import psycopg
    from conftest import systest_database_urls
    from psycopg import sql

    urls = systest_database_urls("parity")
    admin_url = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")

    def drop(admin):
        for url in urls.values():
            name = urlsplit(url).path.lstrip("/")
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    with psycopg.connect(admin_url, autocommit=True) as admin:
        drop(admin)
        for url in urls.values():
            parts = urlsplit(url)
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(parts.path.lstrip("/")), sql.Identifier(parts.username)
                )
            )
    try:
        yield urls
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            drop(admin)


@pytest.mark.system
def test_background_roles_run_and_stop_within_their_grace_period(tmp_path, empty_databases):
    """Each new compose role, its command line and environment taken from docker-compose.yml
    (backing-service URLs pointed at this machine's test ones), runs after its release job
    and stops on SIGTERM before compose would kill it."""
    from test_container_roles import local_env

    services = load_compose(ROOT)["services"]
    for release in sorted({job for job, _ in BACKGROUND_ROLES.values()}):
        env = local_env(release, tmp_path, STATIC_ROOT_BASE=str(tmp_path / "static"))
        env |= {k: v for k, v in empty_databases.items() if k in env}
        command = services[release]["command"]
        result = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
        )
        assert result.returncode == 0, result.stdout + result.stderr
        if release == "catalog-migrate":
            assert "Published 0 offers" in result.stdout

    for name, (_, ready) in BACKGROUND_ROLES.items():
        service = services[name]
        metrics = tmp_path / f"prometheus-{name}"
        metrics.mkdir()
        env = local_env(name, tmp_path, PROMETHEUS_MULTIPROC_DIR=str(metrics))
        env |= {k: v for k, v in empty_databases.items() if k in env}
        if "METRICS_PORT" in env:  # its own metrics server: on a free loopback port here
            env |= {"METRICS_PORT": str(free_port()), "METRICS_ADDR": "127.0.0.1"}
        argv = [str(a) for a in service["command"]]
        log = tmp_path / f"{name}.log"
        proc = ManagedProcess(argv, env=env, cwd=ROOT, log_path=log).start()
        try:
            deadline = time.monotonic() + 90
            while ready not in proc.log() and proc.alive() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert ready in proc.log(), proc.log()
            if name in SERVES_METRICS:
                url = f"http://127.0.0.1:{env['METRICS_PORT']}/metrics"
                with urllib.request.urlopen(url, timeout=10) as response:
                    assert SERVES_METRICS[name] in response.read().decode()
        finally:
            grace = float(str(service["stop_grace_period"]).rstrip("s"))
            started = time.monotonic()
            returncode = proc.stop(timeout=grace)
        assert time.monotonic() - started < grace, proc.log()
        if name == "catalog-publish-offers":
            assert returncode == -signal.SIGTERM  # the shell loop ends on the signal
        else:
            assert returncode == 0, proc.log()  # a clean stop, not a kill
        if name == "fulfillment-maintain":
            # the drift gauges are written where PROMETHEUS_MULTIPROC_DIR says, and only
            # there (docs/deployment.md, "Background processes")
            # (read as a /metrics view sharing the directory would read them)
            from prometheus_client import CollectorRegistry, generate_latest
            from prometheus_client.multiprocess import MultiProcessCollector

            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(metrics))
            exposition = generate_latest(registry).decode()
            assert "\nfulfillment_stock_drift_skus 0.0\n" in exposition, exposition
