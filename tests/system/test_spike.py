"""The spike, short (CI): the scenario against the real platform with one fault, audited.

``python -m bench.spike`` as a user runs it (platform only, a few seconds per phase, small
rates), with the fault SPIKE_CI_FAULT (default ``worker_kill9``: the supervisord runner
restarts the worker) injected during the spike. It fails on any non-zero audit figure and
on any oversold unit, never on a timing. The analysis of the edge's access log is checked
exactly on a log written here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.spike.analysis import analyse, read_log
from bench.spike.audit import MUST_BE_ZERO

ROOT = Path(__file__).resolve().parents[2]


def _line(at: str, uri: str, status: int, rt: float, upstream: str = "127.0.0.1:1") -> str:
    return json.dumps(
        {"time": at, "uri": uri, "status": status, "rt": rt, "upstream": upstream, "method": "GET"}
    )


def test_analysis_counts_outcomes_goodput_and_the_order_app_rate(tmp_path):
    t0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    log = tmp_path / "access.log"
    lines = [
        # second 0 of the spike: fast answers, one of them a 409 (a correct "sold out")
        _line("2027-01-15T08:00:00+00:00", "/graphql?extensions=x", 200, 0.010, ""),
        _line("2027-01-15T08:00:00+00:00", "/api/orders", 202, 0.050),
        _line("2027-01-15T08:00:00+00:00", "/api/orders", 409, 0.020),
        _line("2027-01-15T08:00:00+00:00", "/api/cart/items", 429, 0.001, ""),
        # second 1 (by arrival: it ended in second 2): one slow answer puts the window's p99
        # over 200 ms: no goodput there
        _line("2027-01-15T08:00:02+00:00", "/api/orders", 202, 0.900),
        _line("2027-01-15T08:00:01+00:00", "/api/orders", 502, 0.100),
        _line("2027-01-15T08:00:01+00:00", "/edge/healthz", 200, 0.001),  # not a shopper path
        "not json",
    ]
    log.write_text("\n".join(lines) + "\n")
    rows = read_log(log, t0=t0, since=t0, until=t0 + 2)
    assert [r["s"] for r in rows] == [0, 0, 0, 0, 1, 1]
    samples = [
        {"t": t0 + 0.5, "queue_depth": 3, "outbox_order": 1, "outbox_fulfillment": 0,
         "unsettled": 2, "available": {"SKU-1": 1}},
        {"t": t0 + 2.5, "queue_depth": 0, "outbox_order": 0, "outbox_fulfillment": 0,
         "unsettled": 0, "available": {"SKU-1": 0}},
    ]  # fmt: skip
    phases = [
        {"name": "spike", "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 2}}
    ]
    result = analyse(
        rows=rows, samples=samples, t0=t0, spike_s=2, load_end=t0 + 2, phases=phases,
        order_limit={"rate_per_s": 100.0, "burst": 50.0},
    )  # fmt: skip
    spike = result["spike"]
    assert spike["requests"] == 6
    assert spike["goodput_per_s"] == 1.5  # second 0's 200 + 202 + 409, over 2 s
    assert spike["useful_within_200ms_per_s"] == 1.5  # the same three; the 900 ms one is not
    assert spike["p99_ms"] == 900.0
    assert (spike["errors_5xx"], spike["socket_errors"], spike["errors"]) == (1, 2, 3)
    assert (spike["answered_429"], spike["answered_409"], spike["accepted_202"]) == (1, 1, 2)
    assert spike["endpoints"]["checkout"]["requests"] == 4
    assert result["series"]["throughput"]["202"] == [1, 1]
    # Reached the order app: the /api/ answers proxied upstream (the edge's 429 was not).
    assert result["series"]["order_app_per_s"] == [2, 2]
    assert result["order_app"]["max_per_1s_window"] == 2
    assert result["drain_s_after_spike"] == 0.5
    assert result["sold_out_s_after_t0"] == {"SKU-1": 2.5}


@pytest.mark.system
@pytest.mark.fault
@pytest.mark.timeout(600)
def test_short_spike_with_a_fault_audits_clean(tmp_path):
    pytest.importorskip("bench.spike.audit", reason="the audit (bench/spike/audit.py) lands apart")
    faults = pytest.importorskip("bench.spike.faults", reason="the faults land apart")
    fault = os.environ.get("SPIKE_CI_FAULT", "worker_kill9")
    assert fault in faults.FAULTS
    out = tmp_path / "spike"
    run = subprocess.run(
        [sys.executable, "-m", "bench.spike", "--targets", "platform",
         "--fault", fault, "--fault-at", "1", "--fault-duration", "6",
         "--rate", "2", "--factor", "20", "--steady", "3", "--duration", "10", "--cooldown", "3",
         "--db-suffix", "spikeci", "--out", str(out), "--no-plots"],
        cwd=ROOT, capture_output=True, text=True, timeout=580,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stdout[-4000:] + run.stderr[-4000:]
    result = json.loads((out / "result.json").read_text())["results"]["platform"]
    audit = result["audit"]
    assert audit["available"] is True
    assert {k: audit["counts"][k] for k in MUST_BE_ZERO} == dict.fromkeys(MUST_BE_ZERO, 0)
    assert audit["ok"] is True
    assert result["oversold_units"] == 0
    # The run did something: orders were accepted and settled, and the fault ran its course.
    assert result["spike"]["accepted_202"] > 0
    assert audit["counts"]["orders_accepted"] > 0
    assert result["fault"]["events"][0]["text"] == "inject"
    assert result["fault"]["events"][-1]["text"] == "restored"
    assert run.returncode == 0, run.stdout[-4000:]
