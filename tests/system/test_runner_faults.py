"""One process dying never stops the others (issue 12): `bin/platform up` runs every
deploy/Procfile process under supervisord, and each one SIGKILLed here, one at a time, is
restarted (a new pid, healthy again) while the rest keep serving through the edge.

The process list is the Procfile's, so a process added there is covered here too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from test_platform import platform_processes, session_of

from flashops import supervisor
from flashops.processes import port_open

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = [entry.name for entry in supervisor.procfile_entries()]
# How long a killed process may take to be back (the restart, then its own start: gunicorn
# imports Django, Envoy loads its certificates) on this busy 2-core machine.
BACK_WITHIN = 45.0

pytestmark = pytest.mark.system


def ctl(platform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "platform"), "ctl", *args],
        env={**os.environ, **platform.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def pids(platform) -> dict[str, int]:
    """{Procfile process: pid} of the RUNNING ones, from `bin/platform ctl status` (without
    supervisord's own event listener, the reaper)."""
    out = {}
    for line in ctl(platform, "status").stdout.splitlines():
        words = line.split()
        if len(words) >= 4 and words[1] == "RUNNING" and words[2] == "pid" and words[0] != "reaper":
            out[words[0]] = int(words[3].rstrip(","))
    return out


def answers(url: str, status: int = 200) -> bool:
    try:
        return requests.get(url, timeout=3).status_code == status
    except requests.RequestException:
        return False


def health_check(platform, name: str) -> Callable[[], bool]:
    """The killed process's own sign of health (RUNNING alone for the portless ones)."""
    p = platform.ports
    local = "http://127.0.0.1"
    web = {
        "catalog": "CATALOG_PORT",
        "catalog_2": "CATALOG_PORT_2",
        "order": "ORDER_PORT",
        "order_2": "ORDER_PORT_2",
        "fulfillment": "FULFILLMENT_PORT",
    }
    if name in web:
        return lambda: answers(f"{local}:{p[web[name]]}/healthz")
    urls = {
        "edge": f"{platform.edge}/health/catalog/healthz",
        "flower": f"{platform.edge}/flower/healthcheck",
        "prometheus": f"{platform.prometheus}/-/ready",
        # order's sidecar, mTLS, fulfillment's sidecar, fulfillment: the mesh end to end
        "order_sidecar": f"{local}:{p['FULFILLMENT_OUTBOUND_PORT']}/healthz",
        "fulfillment_sidecar": f"{local}:{p['FULFILLMENT_OUTBOUND_PORT']}/healthz",
        "nginx_exporter": f"{local}:{p['NGINX_EXPORTER_PORT']}/metrics",
        "redis_exporter": f"{local}:{p['REDIS_EXPORTER_PORT']}/metrics",
        "postgres_exporter": f"{local}:{p['POSTGRES_EXPORTER_PORT']}/metrics",
        "order_outbox_relay": f"{local}:{p['ORDER_RELAY_METRICS_PORT']}/metrics",
        "fulfillment_relay": f"{local}:{p['FULFILLMENT_RELAY_METRICS_PORT']}/metrics",
        "fulfillment_maintain": f"{local}:{p['FULFILLMENT_MAINTAIN_METRICS_PORT']}/metrics",
    }
    if name in urls:
        return lambda: answers(urls[name])
    return lambda: True  # workers, the offers loop, the certificate rotator: RUNNING is it


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is ``pgid`` (what a dead leader left behind)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def survivor_url(platform, killed: str) -> str:
    """A request that must keep answering while ``killed`` is down."""
    if killed == "edge":  # then straight to a gunicorn instance
        return f"http://127.0.0.1:{platform.ports['CATALOG_PORT']}/healthz"
    service = "order" if killed.startswith("catalog") else "catalog"
    return f"{platform.edge}/health/{service}/healthz"


def test_every_procfile_process_runs_under_supervisord(platform):
    assert sorted(pids(platform)) == sorted(PROCESSES)
    assert len(PROCESSES) == 20
    assert "reaper                           RUNNING" in ctl(platform, "status").stdout


@pytest.mark.parametrize("name", PROCESSES)
def test_a_killed_process_is_restarted_and_the_rest_keep_serving(platform, name):
    before = pids(platform)
    assert set(before) == set(PROCESSES), ctl(platform, "status").stdout
    healthy = health_check(platform, name)
    deadline = time.monotonic() + BACK_WITHIN
    while not healthy():  # a previous case's restart may still be settling
        assert time.monotonic() < deadline, f"{name} not healthy before the kill"
        time.sleep(0.5)
    survivor = survivor_url(platform, name)
    assert answers(survivor), survivor

    os.kill(before[name], signal.SIGKILL)
    killed_at = time.monotonic()
    assert answers(survivor), f"{survivor} stopped answering when {name} died"

    now: dict[str, int] = {}
    while True:
        now = pids(platform)
        if now.get(name, before[name]) != before[name] and healthy():
            break
        assert time.monotonic() - killed_at < BACK_WITHIN, (
            f"{name} not back {BACK_WITHIN}s after SIGKILL:\n{ctl(platform, 'status').stdout}"
            f"\n{platform.process.log()[-3000:]}"
        )
        time.sleep(0.5)
    back_after = time.monotonic() - killed_at
    print(f"{name}: back (pid {before[name]} -> {now[name]}) after {back_after:.1f}s")

    assert answers(survivor)
    # Nobody else was restarted: the fault stayed with the process that had it.
    assert {k: v for k, v in now.items() if k != name} == {
        k: v for k, v in before.items() if k != name
    }
    # Nothing of the dead process's group lingers (NGINX workers, pool children, sleep ...).
    assert group_members(before[name]) == []
    log = platform.process.log()
    assert f"*** {name} DIED (terminated by SIGKILL): supervisord is RESTARTING it" in log
    assert f"*** {name} RESTARTED (pid {now[name]})" in log


def test_ctl_stops_and_starts_one_process(platform):
    """`bin/platform ctl` is supervisorctl for this platform: a stopped process stays
    stopped (no restart), the others keep running, and start brings it back."""
    before = pids(platform)
    stopped = ctl(platform, "stop", "fulfillment_worker")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert stopped.stdout.strip() == "fulfillment_worker: stopped"
    time.sleep(supervisor.STARTSECS + 1)
    after = pids(platform)
    assert "fulfillment_worker" not in after
    assert after == {k: v for k, v in before.items() if k != "fulfillment_worker"}
    assert ctl(platform, "pid", "fulfillment_worker").stdout.strip() == "0"
    started = ctl(platform, "start", "fulfillment_worker")
    assert started.stdout.strip() == "fulfillment_worker: started", started.stdout
    assert set(pids(platform)) == set(PROCESSES)


def test_down_after_the_faults_leaves_nothing(platform):
    """After the kills, `bin/platform down` (`make down`) from another terminal stops
    everything: no process (the /proc scan of test_platform.py), no port. (test_platform.py
    checks Ctrl-C.)"""
    running = platform_processes(platform, set())
    assert any("supervisord" in c for c in running.values()), running
    sessions = {session_of(pid) for pid in running if Path(f"/proc/{pid}").exists()}
    down = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "platform"), "down"],
        env={**os.environ, **platform.env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    assert down.stdout.strip() == "Stopped."
    assert platform.process.proc is not None
    assert platform.process.proc.wait(timeout=30) == 0
    left = platform_processes(platform, sessions)
    for pid in left:  # a failed run must not leave them behind on the machine
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == {}, f"still running after `bin/platform down`: {left}"
    for name, port in platform.ports.items():
        assert not port_open(port), f"{name} {port} still open after `bin/platform down`"
    assert "The platform has stopped (as asked)." in platform.process.log()
