"""What the mesh adds to an order -> fulfillment call: p50/p99 through both sidecars vs direct.

    .venv/bin/python -m bench.mesh_latency [--requests 3000]

Starts, on free ports, an upstream standing in for fulfillment's app and both Envoy sidecars
rendered from deploy/envoy (mTLS with freshly issued mesh certificates, RBAC, the retry
policy). The upstream is NGINX answering a fixed 200 (/edge/healthz of an edge rendered from
deploy/nginx), so the difference measured is the mesh, not Django. One client with a
keep-alive connection per path alternates: a direct call, then the same call through
order's sidecar -> mTLS (HTTP/2) -> fulfillment's sidecar. Then the same against the real
fulfillment gunicorn (/healthz), once per --worker-classes (default sync, then gthread),
with the TCP connections fulfillment's sidecar opened to the app per request (Envoy's
upstream_cx_total / upstream_rq_total). Prints p50/p99 for each and per hop (half of what
the two sidecars add), then one table: static upstream and real app side by side.
Bounded: --requests per path (at most 10000); well under 60 s on a quiet machine.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from flashops.processes import free_port
from tests.support import edgemesh_lab as lab

ROOT = Path(__file__).resolve().parents[1]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(direct_port: int, mesh_port: int, path: str, n: int) -> dict[str, list[float]]:
    conns = {
        "direct": http.client.HTTPConnection("127.0.0.1", direct_port, timeout=10),
        "mesh": http.client.HTTPConnection("127.0.0.1", mesh_port, timeout=10),
    }
    samples: dict[str, list[float]] = {"direct": [], "mesh": []}
    for i in range(n + 200):
        for name in ("direct", "mesh") if i % 2 else ("mesh", "direct"):
            started = time.perf_counter()
            reply = lab.request(0, "GET", path, conn=conns[name])
            took = (time.perf_counter() - started) * 1000
            if reply.status != 200:
                raise RuntimeError(f"{name} {path}: {reply.status} {reply.body[:200]!r}")
            if i >= 200:  # the first 200 warm connections, TLS sessions and caches
                samples[name].append(took)
    for conn in conns.values():
        conn.close()
    return samples


def summary(samples: dict[str, list[float]]) -> dict[str, float]:
    d50, d99 = percentile(samples["direct"], 50), percentile(samples["direct"], 99)
    m50, m99 = percentile(samples["mesh"], 50), percentile(samples["mesh"], 99)
    return {
        "calls": len(samples["direct"]),
        "direct_p50": d50,
        "direct_p99": d99,
        "mesh_p50": m50,
        "mesh_p99": m99,
        "hop_p50": (m50 - d50) / 2,
        "hop_p99": (m99 - d99) / 2,
        "direct_mean": statistics.mean(samples["direct"]),
        "mesh_mean": statistics.mean(samples["mesh"]),
    }


def report(title: str, figures: dict[str, float]) -> None:
    print(f"\n{title} ({figures['calls']:.0f} calls each)")
    print(
        f"  direct                p50 {figures['direct_p50']:6.3f} ms   "
        f"p99 {figures['direct_p99']:6.3f} ms"
    )
    print(
        f"  through both sidecars p50 {figures['mesh_p50']:6.3f} ms   "
        f"p99 {figures['mesh_p99']:6.3f} ms"
    )
    print(
        f"  per hop (half)        p50 {figures['hop_p50']:6.3f} ms   "
        f"p99 {figures['hop_p99']:6.3f} ms"
    )
    if "cx_per_rq" in figures:
        print(
            f"  sidecar -> app: {figures['cx_per_rq']:.3f} TCP connections opened per request "
            f"(Envoy's upstream_cx_total / upstream_rq_total)"
        )


def upstream_reuse(mesh) -> float:
    """Connections the fulfillment sidecar opened to the app per request it sent there."""
    stats = lab.scrape(mesh.fulfillment_admin, "/stats")
    values = {}
    for line in stats.splitlines():
        name, _, value = line.partition(": ")
        if name in (
            "cluster.local_fulfillment.upstream_cx_total",
            "cluster.local_fulfillment.upstream_rq_total",
        ):
            values[name.rsplit(".", 1)[1]] = int(value)
    return values["upstream_cx_total"] / max(values["upstream_rq_total"], 1)


def real_app(work: Path, env: dict[str, str], worker_class: str, n: int) -> dict[str, float]:
    port = free_port()
    app = lab.start_gunicorn(
        "fulfillment",
        port,
        work,
        env={**env, "WEB_WORKERS": "1", "WEB_WORKER_CLASS": worker_class},
    )
    mesh = None
    try:
        lab.wait_http(port, "/healthz")
        mesh = lab.start_mesh(work / f"django-{worker_class}", fulfillment_port=port)
        figures = summary(measure(port, mesh.outbound_port, "/healthz", n))
        figures["cx_per_rq"] = upstream_reuse(mesh)
        return figures
    finally:
        if mesh:
            mesh.stop()
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--no-django", action="store_true", help="skip the gunicorn rounds")
    parser.add_argument(
        "--worker-classes",
        default="sync,gthread",
        help="gunicorn worker classes to measure behind the sidecar (the first is "
        "deploy/gunicorn.conf.py's default; ADR 0103)",
    )
    args = parser.parse_args()
    n = max(100, min(args.requests, 10000))
    work = Path(tempfile.mkdtemp(prefix="mesh-latency-"))
    results: dict[str, dict[str, float]] = {}

    print("[1/3] an NGINX upstream standing in for fulfillment ...", flush=True)
    upstream = lab.start_edge(
        work,
        {
            "NGINX_WORKERS": "1",
            "CATALOG_INSTANCES": "1",
            "ORDER_INSTANCES": "1",
            "FULFILLMENT_PORT": str(free_port()),
            "FLOWER_PORT": str(free_port()),
        },
    )
    mesh = None
    try:
        print("[2/3] mesh certificates and both sidecars ...", flush=True)
        mesh = lab.start_mesh(work, fulfillment_port=upstream.port)
        results["static upstream (NGINX return 200)"] = summary(
            measure(upstream.port, mesh.outbound_port, "/edge/healthz", n)
        )
        mesh.stop()
        mesh = None
        report("Static upstream (NGINX return 200)", results["static upstream (NGINX return 200)"])

        if not args.no_django:
            env = lab.service_database("fulfillment", "bench")
            lab.migrate("fulfillment", env)
            for worker_class in [c for c in args.worker_classes.split(",") if c]:
                title = f"real fulfillment app, gunicorn {worker_class}"
                print(f"\n[3/3] {title} (1 worker, /healthz) behind its sidecar ...", flush=True)
                results[title] = real_app(work, env, worker_class, max(100, n // 3))
                report(title, results[title])
    finally:
        if mesh:
            mesh.stop()
        upstream.stop()

    print(f"\n{'upstream':<44}{'hop p50':>9}{'hop p99':>9}{'mesh p99':>10}{'cx/rq':>7}")
    for title, f in results.items():
        cx = f"{f['cx_per_rq']:.2f}" if "cx_per_rq" in f else "-"
        print(f"{title:<44}{f['hop_p50']:>9.3f}{f['hop_p99']:>9.3f}{f['mesh_p99']:>10.3f}{cx:>7}")
    print(
        f"(ms; per hop = half of what both sidecars add; target: hop p99 <= 1 ms on the real "
        f"app) load average {os.getloadavg()[0]:.2f} (shared 2-core machine)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
