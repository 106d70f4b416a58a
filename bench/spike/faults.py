"""Faults for the spike (issue 12): each one does the real thing to the real process.

``FAULTS[name].inject(ctx)`` starts a fault (blocking for a restart, or starting a timer
thread for a fault that lasts a while); ``restore(ctx)`` ends it if it is still on and
waits until the platform is whole again (the process back, the sale resumed). The spike
runner (bench/spike/run.py) injects one at T0 + x and runs the audit afterwards.

* ``worker_kill9``: SIGKILL to the fulfillment worker (the Celery main process and its
  pool); the runner restarts it, RabbitMQ redelivers what it held (``acks_late``).
* ``workers_paused_30s``: ``ctl stop fulfillment_worker``, 30 s later ``ctl start`` (with
  no runner control: SIGSTOP/SIGCONT); the queue grows, checkout goes on.
* ``rabbitmq_restart``: the run's private RabbitMQ node shut down and started again.
* ``redis_restart_empty``: the run's private Redis killed and started empty: the sale
  pauses until availability is rebuilt (ADR 0088); ``restore`` measures the pause.
* ``order_instance_kill``: SIGKILL to the second order gunicorn (``order_2``, master and
  workers): the edge sends its traffic to ``order``; the runner restarts it.
* ``payment_slow_2s``: the simulated provider told to answer in 2 s
  (``PAYMENT_SIMULATION_FILE``, fulfillment/gateway.py) for ``duration``.
* ``payment_failing_50pct``: the provider declines half the new charges for ``duration``:
  those orders fail and give their stock back.

Processes are found by ``ctl pid NAME`` (supervisord), or, when the runner cannot answer
that, in /proc: the processes whose environment has this platform's ``VAR_DIR`` and whose
command line is the Procfile's.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

# What identifies each Procfile process's main process in its command line.
PROCESS_MARKS = {
    "fulfillment_worker": "fulfillment_service.config.celery_app worker",
    "order": "order_service.config.wsgi",
    "order_2": "order_service.config.wsgi",
}


@dataclass
class FaultContext:
    env: dict[str, str]
    ctl: Callable[..., subprocess.CompletedProcess]
    redis: Any  # PrivateRedis of the run
    rabbitmq: Any  # PrivateRabbitMQ of the run
    log: Callable[[str], None] = print
    measured: dict[str, float] = field(default_factory=dict)  # what a fault measured


# --- processes -----------------------------------------------------------------------------


def _proc_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def _proc_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (its pool children, their children...)."""
    parents = {p: _ppid(p) for p in _pids()}
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        children = [p for p, parent in parents.items() if parent == current]
        found += children
        frontier += children
    return found


def _proc_main_pid(ctx: FaultContext, name: str) -> int | None:
    """The main process of Procfile entry ``name`` of this platform, found in /proc."""
    mark = PROCESS_MARKS[name]
    port = ctx.env.get({"order": "ORDER_PORT", "order_2": "ORDER_PORT_2"}.get(name, ""), "")
    candidates = []
    for pid in _pids():
        cmdline = _proc_cmdline(pid)
        if mark not in cmdline or (port and f":{port}" not in cmdline):
            continue
        if _proc_environ(pid).get("VAR_DIR") != ctx.env["VAR_DIR"]:
            continue
        candidates.append(pid)
    # The main process is the one whose parent is not one of the candidates.
    mains = [p for p in candidates if _ppid(p) not in candidates]
    return mains[0] if mains else None


def process_pid(ctx: FaultContext, name: str) -> int | None:
    """``ctl pid NAME`` (supervisord), else /proc; None when it is not running."""
    try:
        result = ctx.ctl("pid", name)
        text = (result.stdout or "").strip()
        if result.returncode == 0 and text.isdigit() and int(text) > 0:
            return int(text)
    except (OSError, subprocess.SubprocessError):
        pass
    return _proc_main_pid(ctx, name)


def _ctl_works(ctx: FaultContext) -> bool:
    try:
        result = ctx.ctl("status")
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode in (0, 3)  # 3: some program is not running


def _signal_tree(pid: int, sig: int) -> list[int]:
    tree = [pid, *descendants(pid)]
    for target in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target, sig)
    return tree


def process_back_wait(ctx: FaultContext, name: str, old_pid: int, timeout: float = 60) -> float:
    """Wait until ``name`` runs again under a new pid; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pid = process_pid(ctx, name)
        if pid is not None and pid != old_pid:
            return time.monotonic() - started
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not come back within {timeout:.0f} s")


# --- the faults ----------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    description: str

    def inject(self, ctx: FaultContext) -> None:
        raise NotImplementedError

    def restore(self, ctx: FaultContext) -> None:
        """End the fault if it is still on; wait until the platform is whole again."""


@dataclass
class ProcessKill(Fault):
    process: str = "fulfillment_worker"
    old_pid: int | None = None

    def inject(self, ctx: FaultContext) -> None:
        pid = process_pid(ctx, self.process)
        if pid is None:
            raise RuntimeError(f"{self.process} is not running")
        self.old_pid = pid
        killed = _signal_tree(pid, signal.SIGKILL)
        ctx.log(f"fault {self.name}: SIGKILL to {self.process} pids {killed}")

    def restore(self, ctx: FaultContext) -> None:
        if self.old_pid is None:
            return
        seconds = process_back_wait(ctx, self.process, self.old_pid)
        ctx.measured[f"{self.name}_restart_seconds"] = round(seconds, 2)
        ctx.log(f"fault {self.name}: {self.process} back after {seconds:.1f} s")
        self.old_pid = None


@dataclass
class WorkersPaused(Fault):
    duration: float = 30.0
    _timer: threading.Timer | None = None
    _stopped_pids: list[int] = field(default_factory=list)

    def inject(self, ctx: FaultContext) -> None:
        if _ctl_works(ctx):
            ctx.ctl("stop", "fulfillment_worker")
            ctx.log(f"fault {self.name}: ctl stop fulfillment_worker for {self.duration:.0f} s")
        else:  # a runner without control: freeze the processes instead (same effect)
            pid = process_pid(ctx, "fulfillment_worker")
            if pid is None:
                raise RuntimeError("fulfillment_worker is not running")
            self._stopped_pids = _signal_tree(pid, signal.SIGSTOP)
            ctx.log(f"fault {self.name}: SIGSTOP to {self._stopped_pids} for {self.duration} s")
        self._timer = threading.Timer(self.duration, self._resume, args=(ctx,))
        self._timer.daemon = True
        self._timer.start()

    def _resume(self, ctx: FaultContext) -> None:
        if self._stopped_pids:
            for pid in self._stopped_pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            self._stopped_pids = []
        else:
            ctx.ctl("start", "fulfillment_worker")
        ctx.log(f"fault {self.name}: fulfillment workers resumed")

    def resume_now(self, ctx: FaultContext) -> None:
        """End the pause before its time."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._resume(ctx)

    def restore(self, ctx: FaultContext) -> None:
        if self._timer is not None:
            self._timer.join()
            self._timer = None


@dataclass
class RabbitMQRestart(Fault):
    def inject(self, ctx: FaultContext) -> None:
        started = time.monotonic()
        ctx.rabbitmq.restart()
        ctx.measured[f"{self.name}_seconds"] = round(time.monotonic() - started, 2)
        ctx.log(f"fault {self.name}: node restarted in {time.monotonic() - started:.1f} s")


@dataclass
class RedisRestartEmpty(Fault):
    """Kill the run's Redis and start it again empty; ``restore`` waits for the rebuilt
    availability (``inv:epoch``) and records how long the sale was paused."""

    restarted_at: float | None = None

    def inject(self, ctx: FaultContext) -> None:
        ctx.redis.stop()
        ctx.redis.start()
        self.restarted_at = time.monotonic()
        ctx.log(f"fault {self.name}: Redis on :{ctx.redis.port} restarted empty")

    def restore(self, ctx: FaultContext, timeout: float = 120) -> None:
        if self.restarted_at is None:
            return
        client = redis.Redis.from_url(ctx.env["REDIS_URL"], socket_timeout=5)
        while time.monotonic() - self.restarted_at < timeout:
            try:
                if client.exists("inv:epoch") and client.exists("offer:epoch"):
                    break
            except redis.RedisError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError(f"the sale did not resume within {timeout:.0f} s")
        paused = time.monotonic() - self.restarted_at
        ctx.measured[f"{self.name}_pause_seconds"] = round(paused, 2)
        ctx.log(f"fault {self.name}: availability rebuilt, sale resumed after {paused:.1f} s")
        self.restarted_at = None


@dataclass
class PaymentTold(Fault):
    """Retell the running simulated provider through its simulation file for ``duration``."""

    behaviour: dict[str, float] = field(default_factory=dict)
    duration: float = 30.0
    _timer: threading.Timer | None = None

    @staticmethod
    def path(ctx: FaultContext) -> Path:
        told = ctx.env.get("PAYMENT_SIMULATION_FILE")
        return Path(told) if told else Path(ctx.env["VAR_DIR"]) / "payment-simulation.json"

    def inject(self, ctx: FaultContext) -> None:
        path = self.path(ctx)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.behaviour))
        ctx.log(f"fault {self.name}: provider told {self.behaviour} for {self.duration:.0f} s")
        self._timer = threading.Timer(self.duration, self._end, args=(ctx,))
        self._timer.daemon = True
        self._timer.start()

    def _end(self, ctx: FaultContext) -> None:
        path = self.path(ctx)
        if path.exists():
            path.unlink()
            ctx.log(f"fault {self.name}: provider back to normal")

    def restore(self, ctx: FaultContext) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._end(ctx)


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        ProcessKill(
            "worker_kill9",
            "kill -9 of the fulfillment worker (main process and pool); the runner restarts it",
            process="fulfillment_worker",
        ),
        WorkersPaused("workers_paused_30s", "fulfillment workers stopped for 30 s"),
        RabbitMQRestart("rabbitmq_restart", "the run's RabbitMQ node restarted"),
        RedisRestartEmpty(
            "redis_restart_empty",
            "the run's Redis restarted empty: sales pause until availability is rebuilt",
        ),
        ProcessKill(
            "order_instance_kill",
            "kill -9 of one order gunicorn instance (order_2); the runner restarts it",
            process="order_2",
        ),
        PaymentTold(
            "payment_slow_2s",
            "the payment provider answers in 2 s",
            behaviour={"latency_ms": 2000},
        ),
        PaymentTold(
            "payment_failing_50pct",
            "the payment provider declines 50 % of new charges (stock released)",
            behaviour={"decline_rate": 0.5},
        ),
    )
}
