"""Start and stop real processes for tests: free ports, a private Redis, a private RabbitMQ."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

RABBITMQ_BIN = Path(os.environ.get("RABBITMQ_BIN", "/usr/lib/rabbitmq/bin"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: all held at once while chosen, so no two are the same
    (separate :func:`free_port` calls may return one port twice)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int,
    host: str = "127.0.0.1",
    timeout: float = 30.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port, host):
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before :{port} opened")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")
        time.sleep(0.1)


def wait_port_closed(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while port_open(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"127.0.0.1:{port} still open after {timeout}s")
        time.sleep(0.1)


class ManagedProcess:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log_path: str | Path | None = None,
    ):
        self.args = list(args)
        # Tests read children's logs as they run: no block-buffered stdout in a child.
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.cwd = cwd
        self.log_path = Path(log_path or Path(tempfile.mkdtemp(prefix="proc-")) / "out.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            self.args,
            env=self.env,
            cwd=self.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> int | None:
        """Ask the process group to stop; kill it if it has not after ``timeout``."""
        if self.proc is None:
            return None
        if self.alive():
            try:
                os.killpg(self.proc.pid, sig)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        return self.proc.returncode

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""


def gunicorn_process(
    wsgi: str,
    *,
    port: int,
    root: str | Path,
    log_path: str | Path,
    env: Mapping[str, str] | None = None,
    workers: int | None = None,
) -> ManagedProcess:
    """A service's gunicorn as the runner starts it (``deploy/gunicorn.conf.py``), on
    127.0.0.1:``port``; started, not yet waited for."""
    import sys

    args = [
        str(Path(sys.executable).parent / "gunicorn"), wsgi,
        "-c", str(Path(root) / "deploy" / "gunicorn.conf.py"),
        "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    if workers is not None:
        args += ["--workers", str(workers)]
    return ManagedProcess(args, env=env, cwd=root, log_path=log_path).start()


class PrivateRedis:
    """A throw-away ``redis-server`` on a free port (nothing on disk)."""

    def __init__(self, workdir: str | Path):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.process: ManagedProcess | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> PrivateRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = ManagedProcess(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            log_path=self.workdir / "redis.log",
        ).start()
        wait_for_port(self.port, proc=self.process.proc)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop(sig=signal.SIGKILL)
            wait_port_closed(self.port)


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (own node name, ports and data directory).

    ``plugins`` are enabled at start: ``rabbitmq_management`` (HTTP API on
    ``management_port``, which Flower's broker tab reads) and ``rabbitmq_prometheus``
    (metrics on ``prometheus_port``) for the observability tests; none by default, since
    each plugin slows the start of every fault test's node.
    """

    def __init__(self, workdir: str | Path, *, plugins: Sequence[str] = ()):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.dist_port = free_port()
        self.management_port = free_port()
        self.prometheus_port = free_port()
        self.plugins = tuple(plugins)
        self.name = f"test{self.port}@localhost"
        self.process: ManagedProcess | None = None

    @property
    def management_url(self) -> str:
        return f"http://guest:guest@127.0.0.1:{self.management_port}/api/"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _env(self) -> dict[str, str]:
        return {
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_PID_FILE": str(self.workdir / "rabbit.pid"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "rabbitmq"),
            "HOME": os.environ.get("HOME", "/root"),
        }

    def start(self, timeout: float = 60) -> PrivateRabbitMQ:
        if not (RABBITMQ_BIN / "rabbitmq-server").exists():
            raise RuntimeError(f"RabbitMQ not found in {RABBITMQ_BIN}; run bin/bootstrap")
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
        conf = ["loopback_users = none"]
        # A key of a plugin that is not enabled is refused, so only the enabled ones.
        for plugin, key, port in (
            ("rabbitmq_management", "management", self.management_port),
            ("rabbitmq_prometheus", "prometheus", self.prometheus_port),
        ):
            if plugin in self.plugins:
                conf += [f"{key}.tcp.port = {port}", f"{key}.tcp.ip = 127.0.0.1"]
        (self.workdir / "rabbitmq.conf").write_text("\n".join(conf) + "\n")
        self.process = ManagedProcess(
            [str(RABBITMQ_BIN / "rabbitmq-server")],
            env=self._env(),
            log_path=self.workdir / "server.log",
        ).start()
        wait_for_port(self.port, timeout=timeout, proc=self.process.proc)
        if "rabbitmq_management" in self.plugins:
            wait_for_port(self.management_port, timeout=timeout, proc=self.process.proc)
        if "rabbitmq_prometheus" in self.plugins:
            wait_for_port(self.prometheus_port, timeout=timeout, proc=self.process.proc)
        return self

    def ctl(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [str(RABBITMQ_BIN / "rabbitmqctl"), "-n", self.name, *args],
            env={**os.environ, **self._env()},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {result.stderr or result.stdout}")
        return result.stdout

    def stop(self) -> None:
        """Shut the node down cleanly (durable queues and persistent messages survive)."""
        if self.process and self.process.alive():
            try:
                self.ctl("shutdown")
            except (RuntimeError, subprocess.TimeoutExpired):
                self.process.stop(sig=signal.SIGKILL)
            self.process.stop()
        wait_port_closed(self.port)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
