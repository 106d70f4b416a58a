"""The container roles of docker-compose.yml run for real, outside Docker.

No Docker engine here, so each role's command line and environment are taken from
docker-compose.yml and started as a plain process: the only changes are the listen address
(loopback, a free port) and the backing-service URLs (this machine's test databases, Redis
DB and RabbitMQ vhost). Then the healthcheck each container would run is run against it.
This proves the commands, the production settings with the compose environment, and the
health checks work together, which a static parse cannot.
"""

from __future__ import annotations

import base64
import http.client
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_compose import commands_of, load_compose
from test_deploy_check import container_env

from flashops.processes import ManagedProcess, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = str(Path(sys.executable).parent)
ALLOWED_HOST = "shop.example.com"


def local_env(service: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The service's compose environment pointed at this machine's test backing services."""
    env = container_env(service, tmp_path, DJANGO_ALLOWED_HOSTS=ALLOWED_HOST)
    for var in ("CATALOG_DATABASE_URL", "ORDER_DATABASE_URL", "FULFILLMENT_DATABASE_URL"):
        if var in env and var in os.environ:
            env[var] = os.environ[var]
    env["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    env["CELERY_BROKER_URL"] = os.environ.get(
        "TEST_CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672/flashsale_test"
    )
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env['PATH']}"
    return env | overrides


def compose_command(service: str) -> list[str]:
    return [str(a) for a in load_compose(ROOT)["services"][service]["command"]]


def healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "deploy/docker/healthcheck.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def get(port: int, path: str, headers: dict[str, str]) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.system
def test_web_role_serves_and_passes_the_image_healthcheck(tmp_path):
    port = free_port()
    argv = compose_command("catalog")
    assert argv[argv.index("--bind") + 1] == "0.0.0.0:8000"
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = local_env("catalog", tmp_path, WEB_WORKERS="1")
    proc = ManagedProcess(argv, env=env, cwd=ROOT, log_path=tmp_path / "catalog.log").start()
    try:
        wait_for_port(port, timeout=60, proc=proc.proc)
        result = healthcheck(env | {"PORT": str(port)})
        assert result.returncode == 0, result.stdout + proc.log()
        assert result.stdout.strip() == f"GET /healthz on :{port} answered 200"
        # Why the script sends an allowed Host: production settings refuse any other.
        assert get(port, "/healthz", {"Host": "127.0.0.1"}) == 400
        assert get(port, "/healthz", {"Host": ALLOWED_HOST}) == 200
        # And why it says https: everything but the health paths redirects plain HTTP.
        assert get(port, "/admin/catalog/", {"Host": ALLOWED_HOST}) == 301
    finally:
        proc.stop()
    result = healthcheck(env | {"PORT": str(port)})
    assert result.returncode == 1
    assert result.stdout.startswith(f"GET /healthz on :{port} failed: ")


@pytest.mark.system
def test_flower_role_requires_basic_auth_and_passes_its_healthcheck(tmp_path):
    port = free_port()
    argv = compose_command("flower")
    assert "--address=0.0.0.0" in argv and "--port=5555" in argv
    argv = [
        {"--address=0.0.0.0": "--address=127.0.0.1", "--port=5555": f"--port={port}"}.get(a, a)
        for a in argv
    ]
    env = local_env("flower", tmp_path, FLOWER_BASIC_AUTH="ops:s3cret-for-test")
    proc = ManagedProcess(argv, env=env, cwd=ROOT, log_path=tmp_path / "flower.log").start()
    try:
        wait_for_port(port, timeout=60, proc=proc.proc)
        test = load_compose(ROOT)["services"]["flower"]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "deploy/docker/healthcheck.py"]
        result = healthcheck(env | {"PORT": str(port)}, *test[3:])
        assert result.returncode == 0, result.stdout + proc.log()
        assert result.stdout.strip() == f"GET /flower/healthcheck on :{port} answered 200"
        assert get(port, "/flower/", {}) == 401
        token = base64.b64encode(b"ops:s3cret-for-test").decode()
        assert get(port, "/flower/", {"Authorization": f"Basic {token}"}) == 200
    finally:
        proc.stop()


@pytest.mark.system
def test_worker_role_answers_its_healthcheck(tmp_path):
    service = load_compose(ROOT)["services"]["order-worker"]
    argv = compose_command("order-worker")
    assert argv[argv.index("--queues") + 1] == "order"
    argv[argv.index("--concurrency") + 1] = "1"
    env = local_env("order-worker", tmp_path)
    proc = ManagedProcess(argv, env=env, cwd=ROOT, log_path=tmp_path / "worker.log").start()
    try:
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD-SHELL"
        # Compose turns $$ into $; the shell then expands $HOSTNAME as in the container.
        script = test[1].replace("$$", "$")
        [ping] = commands_of(service)[1:]
        assert ping[:3] == ["celery", "-A", "order_service.config.celery_app"]
        check_env = env | {"HOSTNAME": socket.gethostname()}
        result = None
        deadline = time.monotonic() + 90
        for _ in range(30):  # the worker needs a few seconds to join
            result = subprocess.run(
                ["sh", "-c", script], env=check_env, cwd=ROOT,
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            if result.returncode == 0 or not proc.alive() or time.monotonic() > deadline:
                break
        assert result.returncode == 0, result.stdout + result.stderr + proc.log()
        assert f"order@{socket.gethostname()}: OK" in result.stdout
        wrong = script.replace("order@$HOSTNAME", "order@no-such-host")
        miss = subprocess.run(
            ["sh", "-c", wrong], env=check_env, cwd=ROOT, capture_output=True, text=True, timeout=60
        )
        assert miss.returncode != 0, shlex.quote(wrong)
    finally:
        proc.stop(timeout=30)
