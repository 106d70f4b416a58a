"""From the edge's JSON access log and the samples to the run's figures.

Time is seconds from T0 (the start of the spike). Windows are whole seconds of arrival
(the log's ``$time_iso8601``, when the answer ended, minus ``$request_time``), so "max over
any 1 s window" is over aligned one-second buckets.
Goodput: answers that did their job (2xx, and 409 "sold out", a correct answer to a shopper
late for the sale) counted only in the spike's seconds whose p99 (all endpoints) is at most
200 ms, divided by the spike's length (and, softer, every useful answer that took at most
200 ms, over the same length). Errors: 5xx plus the generator's socket errors
(timeouts, resets); 429 and 409 are not errors.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from bench.spike.sampler import backlog

ENDPOINTS = ("browse", "cart", "checkout")
OUTCOMES = ("200", "202", "409", "429", "5xx", "other")
P99_TARGET_MS = 200.0


def endpoint_of(uri: str) -> str:
    if uri.startswith("/graphql"):
        return "browse"
    if uri.startswith("/api/cart"):
        return "cart"
    if uri.startswith("/api/orders"):
        return "checkout"
    return "other"


def outcome_of(status: int) -> str:
    if status == 202:
        return "202"
    if 200 <= status < 400:
        return "200"
    if status in (409, 429):
        return str(status)
    if status >= 500:
        return "5xx"
    return "other"


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def read_log(path: Path, *, t0: float, since: float, until: float) -> list[dict]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        at = datetime.fromisoformat(entry["time"]).timestamp()
        if not since - 1 <= at <= until + 1:
            continue
        endpoint = endpoint_of(entry["uri"])
        if endpoint == "other":
            continue
        upstream = entry.get("upstream", "")
        # The log's time is when the answer ended, to the whole second: the request arrived
        # about rt earlier (the middle of that second, minus rt). Bucketed by arrival, a
        # request queued for seconds counts where it reached the edge.
        rt = float(entry["rt"])
        rows.append(
            {
                "s": math.floor(at + 0.5 - rt - t0),
                "endpoint": endpoint,
                "outcome": outcome_of(int(entry["status"])),
                "status": int(entry["status"]),
                "rt_ms": rt * 1000,
                "reached_app": bool(upstream) and upstream != "-",
            }
        )
    return rows


def analyse(
    *,
    rows: list[dict],
    samples: list[dict],
    t0: float,
    spike_s: int,
    load_end: float,
    phases: list[dict],
    order_limit: dict | None,
) -> dict:
    seconds = sorted({r["s"] for r in rows})
    by_second: dict[int, list[dict]] = defaultdict(list)
    for r in rows:
        by_second[r["s"]].append(r)
    throughput = {o: [sum(1 for r in by_second[s] if r["outcome"] == o) for s in seconds]
                  for o in OUTCOMES}  # fmt: skip
    latency = {
        e: {
            p: [
                percentile([r["rt_ms"] for r in by_second[s] if r["endpoint"] == e], p)
                for s in seconds
            ]
            for p in (50, 95, 99)
        }
        for e in ENDPOINTS
    }
    order_app = [sum(1 for r in by_second[s] if r["endpoint"] != "browse" and r["reached_app"])
                 for s in seconds]  # fmt: skip

    spike_rows = [r for r in rows if 0 <= r["s"] < spike_s]
    good = 0
    for s in range(spike_s):
        window = by_second.get(s, [])
        p99 = percentile([r["rt_ms"] for r in window], 99)
        if window and p99 is not None and p99 <= P99_TARGET_MS:
            good += sum(1 for r in window if r["outcome"] in ("200", "202", "409"))
    # The same useful answers, each counted when it alone took <= 200 ms: a softer figure,
    # still informative when no whole second meets the p99 target.
    useful = [r for r in spike_rows if r["outcome"] in ("200", "202", "409")]
    fast = sum(1 for r in useful if r["rt_ms"] <= P99_TARGET_MS)
    socket_errors = sum(sum(p["socket_errors"].values()) for p in phases if p["name"] == "spike")
    per_endpoint = {
        e: {
            f"p{p}_ms": percentile([r["rt_ms"] for r in spike_rows if r["endpoint"] == e], p)
            for p in (50, 95, 99)
        }
        | {
            "requests": sum(1 for r in spike_rows if r["endpoint"] == e),
            **{
                o: sum(1 for r in spike_rows if r["endpoint"] == e and r["outcome"] == o)
                for o in OUTCOMES
            },
        }
        for e in ENDPOINTS
    }

    series_t = [round(x["t"] - t0, 2) for x in samples]
    backlog_series = [backlog(x) for x in samples]
    spike_end = t0 + spike_s
    drain_s = None
    for x, b in zip(samples, backlog_series, strict=True):
        if x["t"] >= spike_end and b == 0:
            drain_s = round(x["t"] - spike_end, 1)
            break
    sold_out: dict[str, float | None] = {}
    for x in samples:
        for sku, n in (x.get("available") or {}).items():
            sold_out.setdefault(sku, None)
            if n is not None and n <= 0 and sold_out[sku] is None and x["t"] >= t0:
                sold_out[sku] = round(x["t"] - t0, 1)

    return {
        "spike": {
            "seconds": spike_s,
            "requests": len(spike_rows),
            "goodput_per_s": round(good / spike_s, 1),
            "useful_within_200ms_per_s": round(fast / spike_s, 1),
            "p99_ms": percentile([r["rt_ms"] for r in spike_rows], 99),
            "errors_5xx": sum(1 for r in spike_rows if r["outcome"] == "5xx"),
            "socket_errors": socket_errors,
            "errors": sum(1 for r in spike_rows if r["outcome"] == "5xx") + socket_errors,
            "answered_429": sum(1 for r in spike_rows if r["outcome"] == "429"),
            "answered_409": sum(1 for r in spike_rows if r["outcome"] == "409"),
            "accepted_202": sum(1 for r in spike_rows if r["outcome"] == "202"),
            "endpoints": per_endpoint,
        },
        "order_app": {
            "max_per_1s_window": max(order_app, default=0),
            "limit": order_limit,
        },
        "drain_s_after_spike": drain_s,
        "sold_out_s_after_t0": sold_out,
        "series": {
            "second": seconds,
            "throughput": throughput,
            "latency_ms": latency,
            "order_app_per_s": order_app,
            "sample_t": series_t,
            "queue_depth": [x.get("queue_depth") for x in samples],
            "outbox_backlog": [
                None
                if x.get("outbox_order") is None
                else x.get("outbox_order", 0) + (x.get("outbox_fulfillment") or 0)
                for x in samples
            ],
            "unsettled": [x.get("unsettled") for x in samples],
            "available": [x.get("available") for x in samples],
        },
        "load_end_s": round(load_end - t0, 1),
    }
