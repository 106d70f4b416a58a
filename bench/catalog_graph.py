#!/usr/bin/env python
"""Catalog product-graph benchmark (issue 3): requests/s, p50, p99, SQL queries per request.

    source <your env>; .venv/bin/python -m bench.catalog_graph [--duration 8] [--edge-checkout PATH]

In one run on this machine it starts, on free ports:
  * the catalog under gunicorn (production settings, WEB_WORKERS workers) on its database
    (CATALOG_DATABASE_URL; migrated and seeded with `seed_demo` if needed) and a Redis
    database (BENCH_REDIS_URL, default TEST_REDIS_URL) holding demo availability;
  * the NGINX edge rendered from deploy/nginx by bin/platform's own render functions;
  * a bare graphene app (bench/catalog_bare_graphene.py) with the same query shape over
    in-memory objects: no Django, no database;
then drives each with wrk (Debian `wrk`), bounded by --duration per target:
  1. bare graphene, 2. the product graph (20 products, 5 reviews each) by APQ GET at the
  origin, 3. the same GET through the edge, 4. an NGINX static file (the edge's ceiling).
SQL queries per request are counted in-process with CaptureQueriesContext on the same view,
and cross-checked with PostgreSQL's own transaction counter during the origin run.
Benchmarks measure; they assert nothing about timings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from flashops import platform
from flashops.defaults import DEFAULTS
from flashops.processes import (
    ManagedProcess,
    free_port,
    gunicorn_process,
    wait_for_port,
)
from shared.demo import demo_skus, demo_stock
from shared.inventory import Inventory

ROOT = Path(__file__).resolve().parent.parent


PYTHON = sys.executable
BIN = Path(PYTHON).parent
QUERY_FILE = ROOT / "catalog_service" / "graphql" / "queries" / "product_graph.graphql"
VARIABLES = {"first": 20, "reviews": 5}


def log(msg: str) -> None:
    print(msg, flush=True)


def render_edge(edge_env: dict[str, str], checkout: Path = ROOT) -> Path:
    """The edge's NGINX configuration rendered by ``bin/platform render`` of ``checkout``
    (its own flashops package and deploy/ templates); returns nginx.conf's path."""
    if checkout == ROOT:
        return platform.render(edge_env)
    result = subprocess.run(
        [PYTHON, str(checkout / "bin" / "platform"), "render"],
        env={**edge_env, "PYTHONPATH": str(checkout / "deploy")},
        cwd=checkout, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return Path(result.stdout.strip().splitlines()[-1])


def service_env(redis_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_ENV": "production",
            "DJANGO_SECRET_KEY": "bench-only-not-secret",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "False",
            "REDIS_URL": redis_url,
            "INVENTORY_REDIS_URL": redis_url,
            "OFFERS_REDIS_URL": redis_url,
            "LOG_LEVEL": "WARNING",
            "SERVICE": "catalog",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.setdefault("WEB_WORKERS", "2")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "catalog", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        sys.exit(f"manage.py catalog {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def http(
    url: str, data: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
        return response.status, dict(response.headers), response.read()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if match is None:
        raise ValueError(f"unknown wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, duration: int, connections: int, threads: int) -> dict:
    result = subprocess.run(
        [
            "wrk",
            "--timeout",
            "10s",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-H",
            "Accept: application/json",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=duration + 30,
    )
    out = result.stdout
    # Anchored at the line start: a "Req/Sec ... 67.50%" stdev column also ends in "50%".
    if not re.search(r"^\s+50%\s+\d", out, re.M):
        sys.exit(f"wrk could not measure {url}:\n{out}{result.stderr}")
    try:
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    except (AttributeError, ValueError) as exc:
        sys.exit(f"cannot read wrk's output for {url} ({exc}):\n{out}{result.stderr}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": int(bad.group(1)) if bad else 0,
        "requests": total,
        "connections": connections,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


BARE = "bare graphene (no DB)"
ORIGIN = "product graph, origin (APQ GET)"
EDGE = "product graph, through the edge"
STATIC = "NGINX static file (edge ceiling)"


def combine(parts: list[dict]) -> dict:
    """One figure from alternating wrk slices: mean rate, median p50, worst p99."""
    return {
        "rps": statistics.mean(p["rps"] for p in parts),
        "p50": statistics.median(p["p50"] for p in parts),
        "p99": max(p["p99"] for p in parts),
        "non2xx": sum(p["non2xx"] for p in parts),
        "requests": sum(p["requests"] for p in parts),
        "connections": parts[0]["connections"],
        "socket_errors": "; ".join(p["socket_errors"] for p in parts if p["socket_errors"]),
        "slices": [round(p["rps"], 1) for p in parts],
    }


def in_process(env: dict[str, str], query: str, rounds: int = 40) -> dict:
    """In one process, no HTTP: SQL queries per product-graph request (first=5 and 20), then
    the APQ GET through the whole Django stack and the bare graphene app, alternately, so
    that both see the same machine load. Returns counts and median milliseconds."""
    code = f"""
import json, os, statistics, sys, time, django
from urllib.parse import urlencode
os.environ["DJANGO_SETTINGS_MODULE"] = "catalog_service.config.settings.production"
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from bench import catalog_bare_graphene as bare
query, variables = {query!r}, {VARIABLES!r}
client = Client(HTTP_HOST="127.0.0.1")
counts = []
for first in (5, 20):
    body = json.dumps({{"query": query, "variables": dict(variables, first=first)}})
    with CaptureQueriesContext(connection) as captured:
        r = client.post("/graphql", body, content_type="application/json")
    assert r.status_code == 200 and "errors" not in r.json(), r.content[:500]
    counts.append(len(captured.captured_queries))
import hashlib
sha = hashlib.sha256(query.encode()).hexdigest()
ext = {{"persistedQuery": {{"version": 1, "sha256Hash": sha}}}}
client.post("/graphql", json.dumps({{"query": query, "variables": variables, "extensions": ext}}),
            content_type="application/json")
get = {{"extensions": json.dumps(ext), "variables": json.dumps(variables)}}
environ = {{"QUERY_STRING": urlencode({{"query": query, "variables": json.dumps(variables)}})}}
origin_ms, bare_ms = [], []
for i in range({rounds} + 5):
    t = time.perf_counter()
    r = client.get("/graphql", get)
    o = time.perf_counter() - t
    assert r.status_code == 200
    t = time.perf_counter()
    bare.application(environ, lambda *a: None)
    b = time.perf_counter() - t
    if i >= 5:
        origin_ms.append(o * 1000)
        bare_ms.append(b * 1000)
print(json.dumps({{"sql": counts, "origin_ms": statistics.median(origin_ms),
                  "bare_ms": statistics.median(bare_ms)}}))
"""
    result = subprocess.run(
        [PYTHON, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        sys.exit(f"in-process measurement failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def pg_transactions(database_url: str) -> int:
    import psycopg

    name = urllib.parse.urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", [name]
        ).fetchone()
    return int(row[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per target (max 12)")
    parser.add_argument(
        "--connections",
        type=int,
        default=32,
        help="wrk connections for the edge and the static file",
    )
    parser.add_argument(
        "--origin-connections",
        type=int,
        default=4,
        help="wrk connections for gunicorn directly (2 per sync worker keeps both busy "
        "without measuring queueing)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument(
        "--edge-checkout",
        type=Path,
        default=ROOT,
        help="render the edge with bin/platform and deploy/nginx of this checkout (read only; "
        "default: this one)",
    )
    args = parser.parse_args()
    duration = max(1, min(args.duration, 12))
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    if not nginx:
        sys.exit("nginx is not installed: run bin/bootstrap (it installs nginx-light)")
    database_url = os.environ.get("CATALOG_DATABASE_URL")
    if not database_url:
        sys.exit("set CATALOG_DATABASE_URL to a catalog database this bench may seed")
    redis_url = os.environ.get(
        "BENCH_REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    env = service_env(redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    processes: list[ManagedProcess] = []
    started = time.monotonic()
    try:
        log(f"[1/6] migrating and seeding {database_url.rsplit('/', 1)[-1]} ...")
        manage(env, "migrate", "--noinput", "-v0")
        seeded = manage(env, "seed_demo", "--products", str(args.products)).strip()
        log("      " + seeded.splitlines()[-1])
        skus = demo_skus(args.products)
        Inventory.from_url(redis_url).set_available_many(
            {sku: demo_stock(i) for i, sku in enumerate(skus, start=1)}
        )
        log(f"      availability set in Redis for {len(skus)} skus ({redis_url})")

        log("[2/6] starting gunicorn (catalog, bare graphene) and the NGINX edge ...")
        origin_port, bare_port = free_port(), free_port()
        workers = env["WEB_WORKERS"]
        origin = gunicorn_process(
            "catalog_service.config.wsgi",
            port=origin_port,
            root=ROOT,
            env=env,
            log_path=workdir / "origin.log",
        )
        processes.append(origin)
        bare = ManagedProcess(
            [
                str(BIN / "gunicorn"),
                "bench.catalog_bare_graphene:application",
                "--workers",
                workers,
                "--bind",
                f"127.0.0.1:{bare_port}",
                "--error-logfile",
                "-",
            ],
            env=env,
            cwd=ROOT,
            log_path=workdir / "bare.log",
        ).start()
        processes.append(bare)

        edge_env = platform.load_env()
        for key in DEFAULTS:
            if key.endswith("_PORT"):  # never the platform's own ports (8080, 8001, ...)
                edge_env[key] = str(free_port())
        edge_env.update(
            {
                # one catalog instance (the one started here) and one NGINX
                "CATALOG_INSTANCES": "1",
                "ORDER_INSTANCES": "1",
                "EDGE_INSTANCES": "1",
                "CATALOG_PORT": str(origin_port),
                "VAR_DIR": str(workdir / "var"),
                "STATIC_ROOT_BASE": str(workdir / "static"),
            }
        )
        static_file = workdir / "static" / "catalog" / "bench.json"
        static_file.parent.mkdir(parents=True)
        static_file.write_text(json.dumps({"static": True}))
        conf = render_edge(edge_env, args.edge_checkout.resolve())
        edge_port = int(edge_env["EDGE_PORT"])
        edge = ManagedProcess(
            [nginx, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
            log_path=workdir / "nginx.log",
        ).start()
        processes.append(edge)
        for port, proc in ((origin_port, origin), (bare_port, bare), (edge_port, edge)):
            wait_for_port(port, timeout=30, proc=proc.proc)
        micro_cache = "proxy_cache " in "".join(p.read_text() for p in conf.parent.rglob("*.conf"))

        log("[3/6] registering the product-graph query (APQ POST) ...")
        query = QUERY_FILE.read_text()
        sha = hashlib.sha256(query.encode()).hexdigest()
        extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha}})
        body = json.dumps(
            {"query": query, "variables": VARIABLES, "extensions": json.loads(extensions)}
        ).encode()
        status, _, _ = http(
            f"http://127.0.0.1:{origin_port}/graphql", body, {"Content-Type": "application/json"}
        )
        assert status == 200
        params = urllib.parse.urlencode(
            {"extensions": extensions, "variables": json.dumps(VARIABLES)}
        )
        origin_url = f"http://127.0.0.1:{origin_port}/graphql?{params}"
        edge_url = f"http://127.0.0.1:{edge_port}/graphql?{params}"
        bare_url = f"http://127.0.0.1:{bare_port}/?" + urllib.parse.urlencode(
            {"query": query, "variables": json.dumps(VARIABLES)}
        )
        static_url = f"http://127.0.0.1:{edge_port}/static/catalog/bench.json"
        status, headers, payload = http(origin_url, headers={"Accept": "application/json"})
        data = json.loads(payload)
        edges = data["data"]["products"]["edges"]
        assert status == 200 and "errors" not in data and len(edges) == 20
        assert all(len(e["node"]["reviews"]["edges"]) == 5 for e in edges)
        log(f"      origin GET: {len(payload)} bytes, Cache-Control: {headers['Cache-Control']}")
        for attempt in (1, 2):
            status, headers, payload = http(edge_url, headers={"Accept": "application/json"})
            assert status == 200 and len(json.loads(payload)["data"]["products"]["edges"]) == 20
            log(
                f"      edge GET #{attempt}: {status}, X-Cache-Status: "
                f"{headers.get('X-Cache-Status', '-')}"
            )
        bare_status, _, bare_payload = http(bare_url)
        assert bare_status == 200 and "errors" not in json.loads(bare_payload)

        log("[4/6] SQL queries per request, and origin vs bare graphene in one process ...")
        measured = in_process(env, query)
        sql_5, sql_20 = measured["sql"]

        results: dict[str, dict] = {}
        connections_of = {
            BARE: args.origin_connections,
            ORIGIN: args.origin_connections,
            EDGE: args.connections,
            STATIC: args.connections,
        }
        rounds = 3
        log(
            f"[5/6] load: wrk -t{args.threads}, -c{args.origin_connections} at gunicorn "
            f"(bare and origin alternate, {rounds} x {duration // rounds}s each, so both see "
            f"the same machine load), -c{args.connections} at the edge ({duration}s each)"
        )
        before = pg_transactions(database_url)
        slices: dict[str, list[dict]] = {BARE: [], ORIGIN: []}
        for _ in range(rounds):
            for name, url in ((BARE, bare_url), (ORIGIN, origin_url)):
                slices[name].append(
                    wrk(url, max(1, duration // rounds), connections_of[name], args.threads)
                )
        time.sleep(1.0)  # PostgreSQL publishes its counters about once a second
        pg_xacts = pg_transactions(database_url) - before  # the bare app uses no database
        for name, parts in slices.items():
            results[name] = combine(parts)
        results[ORIGIN]["pg_xacts"] = pg_xacts
        for name, url in ((EDGE, edge_url), (STATIC, static_url)):
            results[name] = wrk(url, duration, connections_of[name], args.threads)
        for name in (BARE, ORIGIN, EDGE, STATIC):
            r = results[name]
            log(
                f"      {name:<36} {r['rps']:>9.0f} req/s  p50 {r['p50']:7.2f} ms  "
                f"p99 {r['p99']:7.2f} ms  c={connections_of[name]} non-2xx {r['non2xx']}"
                + (f" socket errors: {r['socket_errors']}" if r["socket_errors"] else "")
            )

        log("[6/6] summary")
        origin_r, edge_r, bare_r, static_r = (results[n] for n in (ORIGIN, EDGE, BARE, STATIC))
        log(
            f"  edge rendered from {args.edge_checkout.resolve()}; micro-cache: "
            f"{'yes' if micro_cache else 'NO (proxy only)'}"
        )
        log(
            f"  SQL queries per product-graph request (ORM, in-process): first=5 -> {sql_5}, "
            f"first=20 -> {sql_20}; bare graphene: 0"
        )
        log(
            f"  PostgreSQL transactions per origin request (pg_stat_database): "
            f"{origin_r['pg_xacts'] / max(origin_r['requests'], 1):.2f}"
        )
        log(f"  origin / bare graphene:    {origin_r['rps'] / bare_r['rps']:.3f}x (target >= 0.5)")
        log(
            f"  in one process, no HTTP: origin {measured['origin_ms']:.1f} ms, bare "
            f"{measured['bare_ms']:.1f} ms per request (median) -> "
            f"{measured['bare_ms'] / measured['origin_ms']:.3f}x"
        )
        log(f"  edge / NGINX static file:  {edge_r['rps'] / static_r['rps']:.3f}x (target >= 0.5)")
        log(f"  total {time.monotonic() - started:.0f}s; workers {workers}; logs in {workdir}")
        print(
            json.dumps(
                {
                    "results": results,
                    "sql_per_request": {"5": sql_5, "20": sql_20},
                    "micro_cache": micro_cache,
                }
            ),
            flush=True,
        )
        return 0
    finally:
        for proc in reversed(processes):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
