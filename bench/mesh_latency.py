"""What the mesh adds to an order -> fulfillment call: p50/p99 through both sidecars vs direct.

    .venv/bin/python -m bench.mesh_latency [--requests 3000]

Starts, on free ports, an upstream standing in for fulfillment's app and both Envoy sidecars
rendered from deploy/envoy (mTLS with freshly issued mesh certificates, RBAC, the retry
policy). The upstream is NGINX answering a fixed 200 (/edge/healthz of an edge rendered from
deploy/nginx), so the difference measured is the mesh, not Django. One client with a
keep-alive connection per path alternates: a direct call, then the same call through
order's sidecar -> mTLS (HTTP/2) -> fulfillment's sidecar. Then the same against the real
fulfillment gunicorn (/healthz). Prints p50/p99 for each and what the two hops add (and per
hop, half of it). Bounded: --requests per path (at most 10000); well under 60 s.
"""

from __future__ import annotations

import argparse
import http.client
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
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


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


def report(title: str, samples: dict[str, list[float]]) -> None:
    d50, d99 = percentile(samples["direct"], 50), percentile(samples["direct"], 99)
    m50, m99 = percentile(samples["mesh"], 50), percentile(samples["mesh"], 99)
    print(f"\n{title} ({len(samples['direct'])} calls each)")
    print(f"  direct                p50 {d50:6.3f} ms   p99 {d99:6.3f} ms")
    print(f"  through both sidecars p50 {m50:6.3f} ms   p99 {m99:6.3f} ms")
    print(f"  added by the mesh     p50 {m50 - d50:6.3f} ms   p99 {m99 - d99:6.3f} ms")
    print(f"  per hop (half)        p50 {(m50 - d50) / 2:6.3f} ms   p99 {(m99 - d99) / 2:6.3f} ms")
    print(
        f"  mean direct {statistics.mean(samples['direct']):.3f} ms, "
        f"mesh {statistics.mean(samples['mesh']):.3f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--no-django", action="store_true", help="skip the gunicorn round")
    args = parser.parse_args()
    n = max(100, min(args.requests, 10000))
    work = Path(tempfile.mkdtemp(prefix="mesh-latency-"))

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
    mesh = app = None
    try:
        print("[2/3] mesh certificates and both sidecars ...", flush=True)
        mesh = lab.start_mesh(work, fulfillment_port=upstream.port)
        static = measure(upstream.port, mesh.outbound_port, "/edge/healthz", n)
        mesh.stop()
        mesh = None
        report("Static upstream (NGINX return 200)", static)

        if not args.no_django:
            print("\n[3/3] the real fulfillment app (gunicorn, 1 worker) behind its sidecar ...")
            env = lab.service_database("fulfillment", "bench")
            lab.migrate("fulfillment", env)
            port = free_port()
            app = lab.start_gunicorn("fulfillment", port, work, env={**env, "WEB_WORKERS": "1"})
            lab.wait_http(port, "/healthz")
            mesh = lab.start_mesh(work / "django", fulfillment_port=port)
            django = measure(port, mesh.outbound_port, "/healthz", max(100, n // 3))
            report("Real fulfillment app (/healthz under gunicorn)", django)
    finally:
        if mesh:
            mesh.stop()
        if app:
            app.stop()
        upstream.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
