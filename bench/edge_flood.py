"""Edge under a checkout flood: how fast NGINX sheds with 429, and what reaches the order app.

    .venv/bin/python -m bench.edge_flood [--seconds 10] [--connections 64] [--rate 50r/s]

Starts, on free ports: one real order gunicorn (2 workers, its own database ``<orders>_bench``)
and the real NGINX edge rendered from deploy/nginx (2 workers), then floods
``POST /api/orders`` with wrk (``apt-get install -y wrk``; bin/bootstrap installs it). Every
request comes from one client address (the edge's per-client limit is raised so that the
service-wide budget is what binds). Prints the edge's total and 429 throughput, wrk's
latency percentiles, and the POSTs the app counted (its Prometheus metrics) against the
budget. Bounded: the flood lasts --seconds (at most 30), the whole run well under 60 s.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flashops import edgemesh
from flashops.processes import free_port
from tests.support import edgemesh_lab as lab

ROOT = Path(__file__).resolve().parents[1]


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"lines":[{"sku":"SKU-0001","quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = "bench-" .. tostring(os.time()) .. "-" .. counter
  return wrk.format()
end
"""


def parse_wrk(output: str) -> dict[str, float]:
    def number(pattern: str) -> float:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else 0.0

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        return float(match.group(1)) * scale

    return {
        "requests": number(r"(\d+) requests in"),
        "rps": number(r"Requests/sec:\s+([\d.]+)"),
        "non2xx": number(r"Non-2xx or 3xx responses: (\d+)"),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
    }


def app_posts(port: int) -> float:
    text = lab.request(port, "GET", "/metrics").body.decode()
    return lab.prom_value(text, "django_http_requests_total_by_method_total", method="POST")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate", default="50r/s", help="ORDER_RATE, the service-wide budget")
    parser.add_argument("--burst", type=int, default=25)
    args = parser.parse_args()
    seconds = max(1, min(args.seconds, 30))
    wrk = shutil.which("wrk")
    if not wrk:
        print("wrk is not installed; run: apt-get install -y wrk (bin/bootstrap does)")
        return 1

    work = Path(tempfile.mkdtemp(prefix="edge-flood-"))
    print("[1/4] order app: migrating its bench database and starting gunicorn ...", flush=True)
    env = lab.service_database("order", "bench")
    lab.migrate("order", env)
    order_port = free_port()
    app = lab.start_gunicorn("order", order_port, work, env={**env, "WEB_WORKERS": "2"})
    edge = None
    try:
        lab.wait_http(order_port, "/healthz")
        print("[2/4] edge: rendering deploy/nginx and starting NGINX ...", flush=True)
        edge = lab.start_edge(
            work,
            {
                "ORDER_PORT": str(order_port),
                "ORDER_INSTANCES": "1",
                "CATALOG_INSTANCES": "1",
                "FULFILLMENT_PORT": str(free_port()),
                "FLOWER_PORT": str(free_port()),
                "NGINX_WORKERS": "2",
                "ORDER_RATE": args.rate,
                "ORDER_BURST": str(args.burst),
                "ORDER_CLIENT_RATE": "100000r/s",
                "ORDER_CLIENT_BURST": "100000",
            },
        )
        script = work / "checkout.lua"
        script.write_text(WRK_SCRIPT)
        url = f"http://127.0.0.1:{edge.port}/api/orders"
        print(f"[3/4] flooding {url} for {seconds}s with wrk ...", flush=True)
        before = app_posts(order_port)
        started = time.monotonic()
        out = subprocess.run(
            [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{seconds}s", "--latency"]
            + ["-s", str(script), url],
            capture_output=True,
            text=True,
            timeout=seconds + 30,
        ).stdout
        elapsed = time.monotonic() - started
        time.sleep(0.5)
        received = app_posts(order_port) - before
        flood = parse_wrk(out)
        statuses = [line["status"] for line in edge.access_log() if line["uri"] == "/api/orders"]
        shed = statuses.count(429)

        print("[4/4] a static NGINX answer for comparison (/edge/healthz) ...", flush=True)
        static = parse_wrk(
            subprocess.run(
                [wrk, f"-t{args.threads}", f"-c{args.connections}", "-d5s", "--latency"]
                + [f"http://127.0.0.1:{edge.port}/edge/healthz"],
                capture_output=True,
                text=True,
                timeout=40,
            ).stdout
        )
    finally:
        if edge:
            edge.stop()
        app.stop()
        shutil.rmtree(work, ignore_errors=True)

    ceiling = edgemesh.order_per_window(
        rate=args.rate, burst=args.burst, instances=1, seconds=elapsed
    )
    print("\nEdge flood summary")
    print(f"  offered           {flood['rps']:>10.0f} req/s  ({flood['requests']:.0f} requests)")
    print(
        f"  budget            {args.rate} burst {args.burst}: at most {ceiling} in {elapsed:.1f}s"
    )
    print(f"  reached the app   {received:>10.0f}  (counted by the order app's metrics)")
    print(f"  shed with 429     {shed:>10}  ({shed / elapsed:.0f} req/s, from the edge log)")
    print(f"  latency           p50 {flood['p50_ms']:.2f} ms   p99 {flood['p99_ms']:.2f} ms")
    print(
        f"  static NGINX      {static['rps']:>10.0f} req/s  (p50 {static['p50_ms']:.2f} ms, "
        f"p99 {static['p99_ms']:.2f} ms)"
    )
    if static["rps"]:
        print(f"  shedding / static {flood['rps'] / static['rps']:.2f}x")
    return 0 if received <= ceiling else 2


if __name__ == "__main__":
    sys.exit(main())
