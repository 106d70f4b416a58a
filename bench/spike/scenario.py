"""The load: wrk with a Lua script, one process per phase (steady, spike, cool-down).

Every request carries ``X-Forwarded-For: 127.a.b.c``, a shopper address drawn from the
loopback range: wrk cannot bind a source address, so the generator plays the CDN / load
balancer hop in front of the edge, and the edge believes that header only from 127.0.0.1
(EDGE_TRUSTED_PROXIES, the production rule; ADR 0085). The per-client limit then counts
per shopper address, as it would behind a real CDN.

Pacing: wrk's ``delay()`` holds each connection for ``connections / rate`` seconds between
requests, so the offered rate is the target while answers are fast; when they are slow the
achieved rate drops (the report shows offered vs achieved, and wrk's CPU).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

CSRF = "spikecsrfspikecsrfspikecsrfspike"  # 32 characters: a token of the client's own

LUA = r"""
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  math.randomseed(SEED * 1000 + tid)
end
function delay()
  return DELAY_MS
end
local function shopper_ip()
  return string.format("127.%d.%d.%d", math.random(1, 254), math.random(0, 255),
                       math.random(1, 254))
end
-- The order ids answered 202, kept per thread and written out by done(): the audit counts
-- any of them missing from the order database as lost.
accepted = {}
response = function(status, headers, body)
  if status == 202 then
    local id = string.match(body, '"order_id"%s*:%s*"([^"]+)"')
    if id then accepted[#accepted + 1] = id end
  end
end
function done(summary, latency, requests)
  local out = io.open(ACCEPTED_FILE, "w")
  for _, thread in ipairs(threads) do
    for _, id in ipairs(thread:get("accepted")) do out:write(id, "\n") end
  end
  out:close()
end
request = function()
  counter = counter + 1
  local r = math.random()
  local ip = shopper_ip()
  if r < BROWSE then
    local path
    if math.random() < HOT_BROWSE then
      path = HOT_PATHS[math.random(#HOT_PATHS)]
    else
      path = PATHS[math.random(#PATHS)]
    end
    return wrk.format("GET", path, {["Accept"] = "application/json", ["X-Forwarded-For"] = ip})
  end
  local sku = HOT_SKUS[math.random(#HOT_SKUS)]
  local headers = {["Content-Type"] = "application/json", ["Accept"] = "application/json",
                   ["X-Forwarded-For"] = ip, ["Cookie"] = "csrftoken=" .. CSRF,
                   ["X-CSRFToken"] = CSRF}
  if r < BROWSE + CART then
    return wrk.format("POST", "/api/cart/items", headers,
                      '{"sku": "' .. sku .. '", "quantity": 1}')
  end
  headers["Idempotency-Key"] = string.format("spike-%s-%d-%d", RUN, tid, counter)
  return wrk.format("POST", "/api/orders", headers,
                    '{"items": [{"sku": "' .. sku .. '", "quantity": 1}]}')
end
"""


@dataclass(frozen=True)
class Scenario:
    rate: float = 5.0  # the normal rate, requests/s
    factor: float = 100.0  # the spike is rate x factor
    steady_s: int = 8
    spike_s: int = 20
    cooldown_s: int = 8
    browse: float = 0.8  # persisted-query product GETs
    cart: float = 0.1  # POST /api/cart/items; the rest checks out
    hot_skus: int = 5  # the flash-sale skus everybody wants (100 units each in the demo)
    hot_browse: float = 0.5  # share of product GETs on the hot skus' pages
    browse_products: int = 200  # how many other product pages are browsed
    seed: int = 1

    @property
    def phases(self) -> list[tuple[str, float, int]]:
        return [
            ("steady", self.rate, self.steady_s),
            ("spike", self.rate * self.factor, self.spike_s),
            ("cooldown", self.rate, self.cooldown_s),
        ]


@dataclass
class PhaseResult:
    name: str
    target_rate: float
    seconds: int
    connections: int
    threads: int
    started_at: float  # wall clock (time.time())
    ended_at: float
    requests: int = 0
    achieved_rate: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    non2xx: int = 0
    cpu_s: float = 0.0
    cpu_cores: float = 0.0  # the generator's CPU over the phase, in cores of the 2
    accepted_ids: list[str] = field(default_factory=list)  # order ids answered 202

    def as_dict(self) -> dict:
        return asdict(self)


def product_path(*, slug: str, sha: str) -> str:
    query = urlencode(
        {
            "extensions": json.dumps(
                {"persistedQuery": {"version": 1, "sha256Hash": sha}}, separators=(",", ":")
            ),
            "variables": json.dumps({"slug": slug, "reviews": 5}, separators=(",", ":")),
        }
    )
    return f"/graphql?{query}"


def lua_script(
    *,
    scenario: Scenario,
    delay_ms: int,
    run: str,
    hot_paths: list[str],
    paths: list[str],
    hot_skus: list[str],
    accepted_file: Path,
) -> str:
    def table(items: list[str]) -> str:
        return "{" + ", ".join(json.dumps(i) for i in items) + "}"

    header = (
        f"SEED = {scenario.seed}\nDELAY_MS = {delay_ms}\nRUN = {json.dumps(run)}\n"
        f"BROWSE = {scenario.browse}\nCART = {scenario.cart}\nHOT_BROWSE = {scenario.hot_browse}\n"
        f"CSRF = {json.dumps(CSRF)}\nHOT_PATHS = {table(hot_paths)}\nPATHS = {table(paths)}\n"
        f"HOT_SKUS = {table(hot_skus)}\nACCEPTED_FILE = {json.dumps(str(accepted_file))}\n"
    )
    return header + LUA


def _parse_wrk(out: str, result: PhaseResult) -> None:
    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not match:
            return float("nan")
        return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]

    total = re.search(r"(\d+) requests in", out)
    result.requests = int(total.group(1)) if total else 0
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    result.achieved_rate = float(rps.group(1)) if rps else 0.0
    result.latency_ms = {p: latency(p) for p in ("50", "90", "99")}
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if errors:
        result.socket_errors = dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result.non2xx = int(non2xx.group(1)) if non2xx else 0


def run_phase(
    *,
    url: str,
    name: str,
    rate: float,
    seconds: int,
    script: Path,
    workdir: Path,
    scenario: Scenario,
    run: str,
    hot_paths: list[str],
    paths: list[str],
    hot_skus: list[str],
) -> PhaseResult:
    """One wrk process for one phase; its CPU from the kernel's rusage when it exits."""
    threads = 2 if rate >= 50 else 1
    # Enough connections that an answer of up to ~half the pacing interval keeps the rate.
    connections = max(threads, min(1000, math.ceil(rate * 0.5)))
    delay_ms = max(1, round(connections * 1000 / rate))
    script.write_text(
        lua_script(
            scenario=scenario,
            delay_ms=delay_ms,
            run=f"{run}-{name}",
            hot_paths=hot_paths,
            paths=paths,
            hot_skus=hot_skus,
            accepted_file=workdir / f"accepted-{name}.txt",
        )
    )
    out_path = workdir / f"wrk-{name}.txt"
    result = PhaseResult(
        name=name,
        target_rate=rate,
        seconds=seconds,
        connections=connections,
        threads=threads,
        started_at=time.time(),
        ended_at=0.0,
    )
    with out_path.open("w") as out:
        proc = subprocess.Popen(
            [
                "wrk",
                "-t",
                str(threads),
                "-c",
                str(connections),
                "-d",
                f"{seconds}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    result.ended_at = time.time()
    result.cpu_s = usage.ru_utime + usage.ru_stime
    result.cpu_cores = result.cpu_s / max(0.001, result.ended_at - result.started_at)
    _parse_wrk(out_path.read_text(), result)
    accepted = workdir / f"accepted-{name}.txt"
    if accepted.exists():
        result.accepted_ids = accepted.read_text().split()
    return result
