"""The spike scenario, one command: the platform and then the monolith, the same load.

    python -m bench.spike [--fault NAME] [--full] [--targets platform,baseline] ...
    make spike                                   (the same, with the defaults)

For each target: start it, register the product query (APQ POST), sample its backlog once a
second, drive the phases with wrk (steady -> T0: rate x factor -> cool-down), wait until
the backlog is drained, then (platform) run the audit, and read the edge's access log.
Writes result.json and the PNG plots to var/spike/<UTC timestamp>/ and prints the ratios.
Exit status 1 when the platform's audit is not clean or any unit was oversold; timings are
printed, never judged.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform as host
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from bench.spike.analysis import analyse, read_log
from bench.spike.sampler import Sampler, backlog
from bench.spike.scenario import Scenario, product_path, run_phase
from bench.spike.targets import ROOT, BaselineTarget, PlatformTarget, run_database_urls

QUERY_FILE = ROOT / "catalog_service" / "graphql" / "queries" / "storefront_product.graphql"
FULL = {"steady_s": 15, "spike_s": 45, "cooldown_s": 15}


def say(text: str) -> None:
    print(f"[spike {time.strftime('%H:%M:%S')}] {text}", flush=True)


def machine() -> dict:
    return {
        "cores": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "kernel": host.release(),
        "python": host.python_version(),
        "wrk": subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(
            "\n"
        )[0],
    }


def register_query(edge: str, query: str, sha: str, slug: str) -> None:
    body = json.dumps(
        {
            "query": query,
            "variables": {"slug": slug},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}},
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{edge}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
        answer = json.loads(resp.read())
    if answer.get("errors") or not answer.get("data", {}).get("product"):
        raise RuntimeError(f"the product query did not answer on {edge}: {answer}")


def fault_thread(*, name: str, at: float, duration: float | None, spike_done: threading.Event,
                 target: PlatformTarget, events: list[dict]) -> threading.Thread:  # fmt: skip
    from bench.spike.faults import FAULTS, FaultContext

    fault = FAULTS[name]
    if duration is not None and hasattr(fault, "duration"):
        fault = dataclasses.replace(fault, duration=duration)  # a fresh one, this long
    env = target.env

    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "bin" / "platform"), "ctl", *args],
            env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def log(text: str) -> None:
        events.append({"t": time.time(), "fault": name, "text": text})
        say(f"fault {name}: {text}")

    ctx = FaultContext(env=env, ctl=ctl, redis=target.redis, rabbitmq=target.rabbitmq, log=log)

    def body() -> None:
        time.sleep(at)
        events.append({"t": time.time(), "fault": name, "text": "inject"})
        try:
            fault.inject(ctx)
            spike_done.wait()
        finally:
            fault.restore(ctx)
            events.append({"t": time.time(), "fault": name, "text": "restored",
                           "measured": dict(ctx.measured)})  # fmt: skip

    thread = threading.Thread(target=body, name=f"fault-{name}", daemon=True)
    return thread


def run_target(target, *, scenario: Scenario, hot_skus, hot_paths, paths, fault: str | None,
               fault_at: float, drain_timeout: float, audit_timeout: float,
               workdir: Path, fault_duration: float | None = None) -> dict:  # fmt: skip
    query = QUERY_FILE.read_text()
    sha = hashlib.sha256(query.encode()).hexdigest()
    register_query(target.edge, query, sha, hot_paths[0][1])
    hot = [product_path(slug=s, sha=sha) for _, s in hot_paths]
    other = [product_path(slug=s, sha=sha) for s in paths]
    run = uuid.uuid4().hex[:8]
    sampler = Sampler(target.sample).start()
    phases, events, accepted_ids = [], [], []
    spike_done = threading.Event()
    t0 = load_start = time.time()
    for name, rate, seconds in scenario.phases:
        thread = None
        if name == "spike":
            t0 = time.time()
            if fault:
                thread = fault_thread(name=fault, at=fault_at, duration=fault_duration,
                                      spike_done=spike_done,
                                      target=target, events=events)  # fmt: skip
                thread.start()
        say(f"{target.name}: {name} at {rate:g} req/s for {seconds} s")
        result = run_phase(
            url=target.edge, name=name, rate=rate, seconds=seconds,
            script=workdir / f"{target.name}-{name}.lua", workdir=workdir, scenario=scenario,
            run=run, hot_paths=hot, paths=other, hot_skus=hot_skus,
        )  # fmt: skip
        accepted_ids += result.accepted_ids
        phases.append({**result.as_dict(), "accepted_ids": len(result.accepted_ids)})
        say(
            f"{target.name}: {name}: achieved {result.achieved_rate:.0f} req/s "
            f"(offered {rate:g}), wrk CPU {result.cpu_cores:.2f} cores, "
            f"socket errors {sum(result.socket_errors.values())}"
        )
        if name == "spike":
            spike_done.set()
            if thread is not None:
                thread.join(timeout=120)
    load_end = time.time()
    deadline = time.monotonic() + drain_timeout
    while time.monotonic() < deadline:
        last = sampler.samples[-1] if sampler.samples else {}
        if last.get("t", 0) > load_end and backlog(last) == 0:
            break
        time.sleep(0.5)
    samples = sampler.stop()
    audit_report = None
    if isinstance(target, PlatformTarget):
        audit_report = run_audit(target, timeout=audit_timeout, accepted_ids=accepted_ids)
    oversold = target.oversold()
    rows = read_log(target.access_log, t0=t0, since=load_start, until=load_end)
    figures = analyse(
        rows=rows, samples=samples, t0=t0, spike_s=scenario.spike_s, load_end=load_end,
        phases=phases, order_limit=target.order_limit,
    )  # fmt: skip
    figures["phases"] = phases
    figures["fault"] = {"name": fault, "at_s_after_t0": fault_at, "events": [
        {**e, "t": round(e["t"] - t0, 2)} for e in events]} if fault else None  # fmt: skip
    figures["audit"] = audit_report
    figures["accepted_ids_seen_by_generator"] = len(accepted_ids)
    figures["oversold_units"] = sum(oversold.values())
    figures["oversold_by_sku"] = oversold
    return figures


def run_audit(target: PlatformTarget, *, timeout: float, accepted_ids: list[str]) -> dict:
    try:
        from bench.spike.audit import audit
    except ImportError as exc:
        say(f"audit: bench.spike.audit is not there yet ({exc}); not audited")
        return {"available": False, "ok": None, "counts": {}, "summary": str(exc)}
    env = {k: target.env[k] for k in (
        "ORDER_DATABASE_URL", "FULFILLMENT_DATABASE_URL", "CATALOG_DATABASE_URL", "REDIS_URL",
        "CELERY_BROKER_URL", "RABBITMQ_MANAGEMENT_URL")}  # fmt: skip
    # The ids wrk was answered 202 for: one missing from the order database is lost.
    report = audit(env=env, timeout=timeout, accepted_ids=accepted_ids)
    say(f"audit: {report.summary()}")
    return {"available": True, "ok": report.ok, **report.as_dict()}


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def _times(value: float | None) -> str:
    # None: the baseline had no second (or no answer) to divide by.
    return "n/a (baseline 0)" if value is None else f"{value}x"


def print_summary(results: dict[str, dict]) -> dict:
    print()
    print(f"{'':<28}" + "".join(f"{name:>16}" for name in results))
    rows = [
        ("spike requests", lambda r: r["spike"]["requests"]),
        ("achieved spike req/s", lambda r: next(
            p["achieved_rate"] for p in r["phases"] if p["name"] == "spike")),
        ("wrk CPU in spike (cores)", lambda r: next(
            round(p["cpu_cores"], 2) for p in r["phases"] if p["name"] == "spike")),
        ("goodput/s (p99<=200ms)", lambda r: r["spike"]["goodput_per_s"]),
        ("useful<=200ms/s", lambda r: r["spike"]["useful_within_200ms_per_s"]),
        ("p99 ms (spike, all)", lambda r: r["spike"]["p99_ms"]),
        ("errors (5xx+socket)", lambda r: r["spike"]["errors"]),
        ("202 accepted", lambda r: r["spike"]["accepted_202"]),
        ("409 sold out", lambda r: r["spike"]["answered_409"]),
        ("429 limited", lambda r: r["spike"]["answered_429"]),
        ("order app max req/1s", lambda r: r["order_app"]["max_per_1s_window"]),
        ("drain s after spike", lambda r: r["drain_s_after_spike"]),
        ("oversold units", lambda r: r["oversold_units"]),
    ]  # fmt: skip
    for label, get in rows:
        print(f"{label:<28}" + "".join(f"{get(r)!s:>16}" for r in results.values()))
    ratios = {}
    if {"platform", "baseline"} <= results.keys():
        p, b = results["platform"], results["baseline"]
        ratios = {
            "goodput_platform_over_baseline": ratio(
                p["spike"]["goodput_per_s"], b["spike"]["goodput_per_s"]
            ),
            "useful_within_200ms_platform_over_baseline": ratio(
                p["spike"]["useful_within_200ms_per_s"], b["spike"]["useful_within_200ms_per_s"]
            ),
            "p99_baseline_over_platform": ratio(b["spike"]["p99_ms"], p["spike"]["p99_ms"]),
            "errors": {"platform": p["spike"]["errors"], "baseline": b["spike"]["errors"]},
            "oversold_units": {"platform": p["oversold_units"], "baseline": b["oversold_units"]},
        }
        print(
            "\nratios: goodput platform/baseline "
            f"{_times(ratios['goodput_platform_over_baseline'])}, "
            f"useful answers within 200 ms platform/baseline "
            f"{_times(ratios['useful_within_200ms_platform_over_baseline'])}, "
            f"p99 baseline/platform {ratios['p99_baseline_over_platform']}x, "
            f"errors {ratios['errors']}, oversold {ratios['oversold_units']}"
        )
    for name, r in results.items():
        sold = {k: v for k, v in r["sold_out_s_after_t0"].items()}
        print(f"{name}: sold out (s after T0): {sold}")
        if r.get("audit"):
            print(f"{name}: audit: {r['audit'].get('summary', r['audit'])}")
    return ratios


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.spike", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--targets", default="platform,baseline")
    parser.add_argument("--fault", default=None, help="a name from bench.spike.faults.FAULTS")
    parser.add_argument("--fault-at", type=float, default=3.0, help="seconds after T0")
    parser.add_argument(
        "--fault-duration", type=float, default=None,
        help="how long a lasting fault lasts (default: the fault's own, e.g. 30 s)",
    )  # fmt: skip
    parser.add_argument("--rate", type=float, default=Scenario.rate, help="normal req/s")
    parser.add_argument("--factor", type=float, default=Scenario.factor)
    parser.add_argument("--steady", type=int, default=Scenario.steady_s, help="seconds")
    parser.add_argument("--duration", type=int, default=Scenario.spike_s, help="spike seconds")
    parser.add_argument("--cooldown", type=int, default=Scenario.cooldown_s, help="seconds")
    parser.add_argument("--hot-skus", type=int, default=Scenario.hot_skus)
    parser.add_argument("--full", action="store_true", help="the documented run (<= 5 min)")
    parser.add_argument("--payment-latency-ms", type=float, default=50.0)
    parser.add_argument("--baseline-workers", type=int, default=8)
    parser.add_argument("--db-suffix", default="spikebench", help="added to database names")
    parser.add_argument("--drain-timeout", type=float, default=120.0)
    parser.add_argument("--audit-timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-plots", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    opts = parser.parse_args(argv)
    if not shutil.which("wrk"):
        sys.exit("wrk not found; how to fix: apt-get install -y wrk (bin/bootstrap does)")
    targets = [t.strip() for t in opts.targets.split(",") if t.strip()]
    if opts.fault:
        from bench.spike.faults import FAULTS

        if opts.fault not in FAULTS:
            sys.exit(f"unknown fault {opts.fault!r}; known: {', '.join(sorted(FAULTS))}")
    scenario = Scenario(
        rate=opts.rate, factor=opts.factor, steady_s=opts.steady, spike_s=opts.duration,
        cooldown_s=opts.cooldown, hot_skus=opts.hot_skus,
    )  # fmt: skip
    if opts.full:
        scenario = replace(scenario, **FULL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = opts.out or ROOT / "var" / "spike" / stamp
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="spike-"))
    say(f"results in {out}; work directory {workdir}")
    info = {"started": stamp, "machine_before": machine(), "scenario": asdict(scenario),
            "options": {k: str(v) for k, v in vars(opts).items()}}  # fmt: skip
    results: dict[str, dict] = {}
    platform_target = None
    started = time.monotonic()
    try:
        platform_target = PlatformTarget(
            workdir / "platform", db_suffix=opts.db_suffix, hot_skus=[],
            payment_latency_ms=opts.payment_latency_ms,
        )  # fmt: skip
        if "platform" in targets:
            platform_target.start(say)
        hot_skus, hot_slugs, others = platform_target_slugs(platform_target, opts, scenario)
        platform_target.hot_skus = hot_skus
        common = {
            "scenario": scenario, "hot_skus": hot_skus, "hot_paths": list(
                zip(hot_skus, hot_slugs, strict=True)), "paths": others,
            "drain_timeout": opts.drain_timeout, "audit_timeout": opts.audit_timeout,
            "workdir": workdir,
        }  # fmt: skip
        if "platform" in targets:
            results["platform"] = run_target(
                platform_target,
                fault=opts.fault,
                fault_at=opts.fault_at,
                fault_duration=opts.fault_duration,
                **common,
            )
            platform_target.stop()
        if "baseline" in targets:
            baseline = BaselineTarget(
                workdir / "baseline", db_suffix=opts.db_suffix, hot_skus=hot_skus,
                payment_latency_ms=opts.payment_latency_ms, workers=opts.baseline_workers,
                source_env=platform_target.env or platform_urls(platform_target, opts),
            )  # fmt: skip
            try:
                baseline.start(say)
                results["baseline"] = run_target(baseline, fault=None, fault_at=0, **common)
            finally:
                baseline.stop()
    finally:
        if platform_target is not None:
            platform_target.stop()
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    ratios = print_summary(results)
    info["machine_after"] = machine()
    info["elapsed_s"] = round(time.monotonic() - started, 1)
    document = {**info, "results": results, "ratios": ratios}
    (out / "result.json").write_text(json.dumps(document, indent=1, default=str))
    if not opts.no_plots:
        from bench.spike.plots import plot_all

        for path in plot_all(results, out):
            say(f"plot {path}")
    say(f"result {out / 'result.json'} ({info['elapsed_s']} s; load average "
        f"{info['machine_after']['load_average']})")  # fmt: skip
    platform = results.get("platform")
    if platform is not None:
        audit_ok = (platform["audit"] or {}).get("ok")
        if audit_ok is False or platform["oversold_units"]:
            say("FAILED: the platform's audit is not clean or units were oversold")
            return 1
    return 0


def platform_urls(target: PlatformTarget, opts) -> dict[str, str]:
    """The platform's database URLs when it is not started in this run (baseline only)."""
    return run_database_urls(opts.db_suffix)


def platform_target_slugs(target: PlatformTarget, opts, scenario: Scenario):
    if not target.env:
        target.env = platform_urls(target, opts)  # the demo data of an earlier platform run
    return target.slugs(hot=scenario.hot_skus, others=scenario.browse_products)
