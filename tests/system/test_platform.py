"""The run command end to end: every process up behind NGINX, readiness follows the
dependencies, and Ctrl-C stops everything."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from flashops.processes import port_open
from tests.support.shopper import ShopperSession

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("catalog", "order", "fulfillment")
# Which dependencies each service's readiness depends on (catalog never uses the broker).
NEEDS_BROKER = {"catalog": False, "order": True, "fulfillment": True}

pytestmark = pytest.mark.system


def readyz(platform, service: str) -> requests.Response:
    return requests.get(f"{platform.edge}/health/{service}/readyz", timeout=10)


def wait_for_status(platform, service: str, status: int, timeout: float = 20) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = readyz(platform, service)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


@pytest.mark.parametrize("service", SERVICES)
def test_healthz_and_readyz_answer_200_through_nginx(platform, service):
    health = requests.get(f"{platform.edge}/health/{service}/healthz", timeout=5)
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": service}
    assert health.headers["Server"] == "nginx"
    ready = readyz(platform, service)
    assert ready.status_code == 200, ready.text
    expected = {"database", "redis"} | ({"broker"} if NEEDS_BROKER[service] else set())
    if service == "order":
        expected.add("sale")  # the inventory counters rebuilt (ADR 0088)
    assert set(ready.json()["checks"]) == expected
    # `bin/platform up` printed the URLs, so every check, the order's sale included, is ok.
    assert ready.json()["status"] == "ok", ready.text


def test_request_id_is_added_at_the_edge_and_kept_when_given(platform):
    given = requests.get(
        f"{platform.edge}/health/order/healthz", headers={"X-Request-ID": "edge-test-1"}, timeout=5
    )
    assert given.headers["X-Request-ID"] == "edge-test-1"
    made = requests.get(f"{platform.edge}/health/order/healthz", timeout=5)
    assert len(made.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("service", SERVICES)
def test_admin_and_metrics_are_routed(platform, service):
    login = requests.get(f"{platform.edge}/admin/{service}/login/", timeout=5)
    assert login.status_code == 200
    assert f"{service} admin" in login.text
    metrics = requests.get(f"{platform.edge}/metrics/{service}", timeout=5)
    assert metrics.status_code == 200
    assert "django_http_requests_total_by_method_total" in metrics.text


def test_static_files_and_flower_are_served(platform):
    css = requests.get(f"{platform.edge}/static/order/admin/css/base.css", timeout=5)
    assert css.status_code == 200
    assert css.headers["Content-Type"] == "text/css"
    flower = requests.get(f"{platform.edge}/flower/healthcheck", timeout=5)
    assert flower.status_code == 200
    assert flower.text == "OK"


def seed(platform, service: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", service, "seed_demo", *args],
        cwd=ROOT,
        env={**os.environ, **platform.env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_an_order_placed_at_the_edge_is_fulfilled_end_to_end(platform):
    """Browse (GraphQL) -> cart -> checkout (202) -> fulfillment worker -> status event back
    -> the shopper sees "fulfilled"; stock, ledger and availability agree."""
    seed(platform, "catalog", "--products", "25", "--reviews-min", "1", "--reviews-max", "2")
    seed(platform, "fulfillment", "--count", "25")
    sku = "SKU-000001"  # on flash sale in the demo data
    query = '{ product(sku: "%s") { sku flashSale { perShopperLimit } inventory { available } } }'
    graph = requests.post(f"{platform.edge}/graphql", json={"query": query % sku}, timeout=10)
    assert graph.status_code == 200, graph.text
    before = graph.json()["data"]["product"]["inventory"]["available"]
    assert before == 100

    shopper = ShopperSession()
    added = shopper.post(
        f"{platform.edge}/api/cart/items", json={"sku": sku, "quantity": 2}, timeout=10
    )
    assert added.status_code in (200, 201), added.text
    placed = shopper.post(
        f"{platform.edge}/api/orders", headers={"Idempotency-Key": "e2e-1"}, timeout=10
    )
    assert placed.status_code == 202, placed.text
    order = placed.json()
    assert order["status"] == "accepted"

    deadline = time.monotonic() + 60
    status = None
    while time.monotonic() < deadline:
        status = shopper.get(f"{platform.edge}{order['status_url']}", timeout=10).json()
        if status["status"] in ("fulfilled", "failed"):
            break
        time.sleep(0.5)
    assert status["status"] == "fulfilled", status

    # The order service asks fulfillment through the two Envoy sidecars (mTLS, retries).
    detailed = shopper.get(
        f"{platform.edge}{order['status_url']}", params={"include": "fulfillment"}, timeout=10
    ).json()
    assert detailed["fulfillment"]["available"] is True, detailed
    assert detailed["fulfillment"]["payment"]["status"] == "captured"
    assert detailed["fulfillment"]["shipment"]["status"] == "pending"
    assert detailed["fulfillment"]["ledger"]["status"] is not None

    internal = requests.get(
        f"http://127.0.0.1:{platform.ports['FULFILLMENT_PORT']}/internal/orders/{order['order_id']}",
        timeout=10,
    ).json()
    assert internal["payment"]["status"] == "captured", internal
    after = requests.post(f"{platform.edge}/graphql", json={"query": query % sku}, timeout=10)
    assert after.json()["data"]["product"]["inventory"]["available"] == before - 2
    # Another shopper cannot read this order.
    stranger = requests.get(f"{platform.edge}{order['status_url']}", timeout=10)
    assert stranger.status_code == 404


def test_redis_down_makes_every_service_unready_naming_redis_then_recovers(platform):
    redis = platform.redis
    redis.stop()
    try:
        for service in SERVICES:
            response = wait_for_status(platform, service, 503)
            assert response.status_code == 503, response.text
            assert response.json()["down"] == ["redis"]
    finally:
        redis.start()
    for service in SERVICES:
        assert wait_for_status(platform, service, 200).status_code == 200


def test_rabbitmq_down_makes_fulfillment_unready_and_order_degraded(platform):
    rabbitmq = platform.rabbitmq
    rabbitmq.stop()
    try:
        response = wait_for_status(platform, "fulfillment", 503)
        assert response.status_code == 503, response.text
        assert response.json()["down"] == ["broker"]
        # Checkout keeps accepting into the outbox: order stays ready, reporting the broker.
        order = readyz(platform, "order")
        assert order.status_code == 200, order.text
        assert order.json()["status"] == "degraded"
        assert order.json()["degraded"] == ["broker"]
        assert order.json()["checks"]["broker"]["status"] == "down"
        # Browsing does not depend on the broker: the catalog stays ready.
        assert readyz(platform, "catalog").json()["status"] == "ok"
    finally:
        rabbitmq.start()
    for service in SERVICES:
        assert wait_for_status(platform, service, 200, timeout=30).status_code == 200


def platform_processes(platform, sessions: set[int]) -> dict[int, str]:
    """Every live process of this platform, from /proc: in the runner's session or one of
    ``sessions``, or carrying its VAR_DIR (every process the runner starts inherits it, even
    one that left its session or process group: supervisord gives each Procfile entry a
    process group of its own), or naming the VAR_DIR on its command line.
    ``{pid: command line}``."""
    var = platform.env["VAR_DIR"]
    marker = f"VAR_DIR={var}".encode()
    sessions = sessions | {platform.process.pid}  # the runner leads its own session
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            session = int(stat[stat.rindex(")") + 2 :].split()[3])
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue  # gone meanwhile, or not ours
        if session in sessions or marker in environ or var in cmdline:
            found[int(entry.name)] = cmdline or stat.split()[1]
    return found


def session_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[3])


def test_ctrl_c_stops_every_process(platform):
    """Last in the module: SIGINT to the runner leaves no process and no port behind, the
    ones that hold no port (workers, relays, maintain, the offers loop) included."""
    running = platform_processes(platform, set())
    commands = "\n".join(running.values())
    # The scan sees every role, the portless ones too (else an empty result proves nothing).
    for role in (
        "bin/platform up",
        "supervisord",
        "flashops.supervisor reaper",
        "gunicorn",
        "order outbox_relay",
        "fulfillment outbox_relay",
        "fulfillment maintain",
        "publish_offers",
        "order_service.config.celery_app worker",
        "fulfillment_service.config.celery_app worker",
        "flower",
        "nginx",
        "envoy",
        "mesh-certs",
    ):
        assert role in commands, f"{role!r} not among the platform's processes:\n{commands}"
    sessions = {session_of(pid) for pid in running if Path(f"/proc/{pid}").exists()}

    code = platform.stop()
    left = platform_processes(platform, sessions)
    for pid in left:  # a failed run must not leave them behind on the machine
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert code == 0, platform.process.log()[-3000:]
    assert not platform.process.alive()
    assert left == {}, f"still running after Ctrl-C: {left}"
    for name, port in platform.ports.items():
        assert not port_open(port), f"{name} {port} still open after Ctrl-C"
    assert "The platform has stopped (as asked)." in platform.process.log()
