"""The watched sale: the platform's own Prometheus scrapes every part, a checkout through the
edge moves the business metrics, every dashboard expression answers, Flower asks for a login
and shows queue depths.

One platform for the module (`bin/platform up` on free ports, private Redis and a private
RabbitMQ node with its management and Prometheus plugins), as a user runs it. Prometheus
scrapes every 5 s (PROMETHEUS_SCRAPE_INTERVAL), so each check polls Prometheus's HTTP API
until the expected value is there, or fails with what it last saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from flashops.processes import PrivateRabbitMQ, PrivateRedis
from tests.support.shopper import ShopperSession

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "flashsale.json"
FLOWER_LOGIN = ("admin", "admin")  # the documented local default (FLOWER_BASIC_AUTH)

pytestmark = pytest.mark.system

# job -> number of targets: every instance of every service, both sidecars, every exporter.
EXPECTED_TARGETS = {
    "prometheus": 1,
    "catalog": 2,
    "order": 2,
    "fulfillment": 1,
    "order_outbox_relay": 1,
    "fulfillment_relay": 1,
    "fulfillment_maintain": 1,
    "envoy": 2,
    "nginx": 1,
    "rabbitmq": 1,
    "redis": 1,
    "postgres": 1,
    "celery": 1,
}


@pytest.fixture(scope="module")
def backing(tmp_path_factory):
    """This module's private Redis and RabbitMQ; the node runs the management API (Flower's
    broker tab) and rabbitmq_prometheus, as bin/bootstrap enables them on the machine's."""
    work = tmp_path_factory.mktemp("backing")
    redis = PrivateRedis(work / "redis").start()
    rabbitmq = PrivateRabbitMQ(
        work / "rabbitmq", plugins=("rabbitmq_management", "rabbitmq_prometheus")
    ).start()
    try:
        yield redis, rabbitmq
    finally:
        redis.stop()
        rabbitmq.destroy()


def query(platform, expr: str) -> list[dict]:
    response = requests.get(
        f"{platform.prometheus}/api/v1/query", params={"query": expr}, timeout=10
    )
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    return body["data"]["result"]


def value(platform, expr: str) -> float | None:
    """The value of a one-series expression (None when it has no series)."""
    result = query(platform, expr)
    assert len(result) <= 1, (expr, result)
    return float(result[0]["value"][1]) if result else None


def eventually(check, *, timeout: float = 45.0, interval: float = 1.0):
    """Call ``check`` until it returns something truthy; fail with its last answer."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not true after {timeout}s; last answer: {last!r}")


def eventually_equal(read, expected, *, timeout: float = 45.0):
    """Read until the value is ``expected``; fail showing the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        last = read()
        if last == expected or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert last == expected


def manage(platform, service: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", service, *args],
        cwd=ROOT,
        env={**os.environ, **platform.env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


@pytest.fixture(scope="module")
def seeded(platform):
    """Demo data: 26 products, the first 20 on a live flash sale (2 per shopper, 100 units
    each); SKU-000026 has 22 units (shared/demo.py)."""
    manage(platform, "catalog", "seed_demo", "--products", "26", "--reviews-min", "0",
           "--reviews-max", "0")  # fmt: skip
    manage(platform, "fulfillment", "seed_demo", "--count", "26")
    return platform


def test_prometheus_scrapes_every_target_and_each_is_up(platform):
    def targets():
        response = requests.get(f"{platform.prometheus}/api/v1/targets", timeout=10)
        active = response.json()["data"]["activeTargets"]
        if any(t["health"] != "up" for t in active) or len(active) < sum(EXPECTED_TARGETS.values()):
            return None
        return active

    try:
        active = eventually(targets, timeout=90)
    except AssertionError:
        response = requests.get(f"{platform.prometheus}/api/v1/targets", timeout=10)
        down = [
            (t["labels"]["job"], t["scrapeUrl"], t["health"], t["lastError"])
            for t in response.json()["data"]["activeTargets"]
            if t["health"] != "up"
        ]
        raise AssertionError(f"targets not up: {down}") from None
    jobs: dict[str, int] = {}
    for target in active:
        jobs[target["labels"]["job"]] = jobs.get(target["labels"]["job"], 0) + 1
    assert jobs == EXPECTED_TARGETS
    scraped = {t["scrapeUrl"] for t in active}
    ports = platform.ports
    for port in ("CATALOG_PORT", "CATALOG_PORT_2", "ORDER_PORT", "ORDER_PORT_2"):
        assert f"http://127.0.0.1:{ports[port]}/metrics" in scraped
    for port in ("ORDER_SIDECAR_ADMIN_PORT", "FULFILLMENT_SIDECAR_ADMIN_PORT"):
        assert f"http://127.0.0.1:{ports[port]}/stats/prometheus" in scraped
    assert f"http://127.0.0.1:{ports['RABBITMQ_PROMETHEUS_PORT']}/metrics/per-object" in scraped
    # The runner printed where Prometheus answers.
    assert f"http://127.0.0.1:{ports['PROMETHEUS_PORT']}/targets" in platform.process.log()


def test_alert_rules_are_loaded_and_evaluate_without_errors(platform):
    def rules():
        response = requests.get(f"{platform.prometheus}/api/v1/rules", timeout=10)
        groups = response.json()["data"]["groups"]
        found = [r for g in groups for r in g["rules"]]
        evaluated = all(r["lastEvaluation"] > "2000" for r in found)
        return found if found and evaluated else None

    found = eventually(rules, timeout=60)
    assert len(found) == 12
    assert {(r["name"], r["health"]) for r in found if r["health"] != "ok"} == set()


def test_flower_asks_for_a_login_and_shows_queue_depths(platform):
    edge = platform.edge
    assert requests.get(f"{edge}/flower/", timeout=10).status_code == 401
    wrong = requests.get(f"{edge}/flower/", auth=("admin", "wrong"), timeout=10)
    assert wrong.status_code == 401
    assert requests.get(f"{edge}/flower/", auth=FLOWER_LOGIN, timeout=10).status_code == 200
    assert requests.get(f"{edge}/flower/api/queues/length", timeout=10).status_code == 401

    def lengths():
        response = requests.get(f"{edge}/flower/api/queues/length", auth=FLOWER_LOGIN, timeout=10)
        assert response.status_code == 200, response.text
        # (the management API fills in a new queue's counts on its next stats round)
        queues = {q["name"]: q for q in response.json()["active_queues"] if "messages" in q}
        return queues if {"order", "fulfillment"} <= set(queues) else None

    queues = eventually(lengths, timeout=60, interval=2)
    assert queues["fulfillment"]["messages"] == 0, queues
    assert queues["order"]["messages"] == 0, queues
    broker = requests.get(f"{edge}/flower/broker", auth=FLOWER_LOGIN, timeout=10)
    assert broker.status_code == 200
    assert "fulfillment.dead" in broker.text  # the management API's queue list
    # Its metrics are for the operators' network only (loopback here).
    metrics = requests.get(f"{edge}/flower/metrics", timeout=10)
    assert metrics.status_code == 200 and "flower_worker_online" in metrics.text


def test_a_checkout_through_the_edge_moves_the_business_metrics(seeded):
    platform = seeded
    edge = platform.edge
    sale_sku, plain_sku = "SKU-000001", "SKU-000026"  # on a live sale (2 per shopper); not

    def available(sku):
        return value(platform, f'min(inventory_sale_available_units{{sku="{sku}"}})')

    assert eventually(lambda: available(sale_sku) == 100, timeout=60)
    # plain skus have no live sale: no availability series for them
    assert query(platform, f'inventory_sale_available_units{{sku="{plain_sku}"}}') == []

    def outcomes() -> dict[str, float]:
        result = query(platform, "sum by (outcome) (order_checkouts_total)")
        return {r["metric"]["outcome"]: float(r["value"][1]) for r in result}

    def accept_count() -> float:
        return value(platform, "sum(order_checkout_accept_seconds_count)") or 0.0

    # every outcome is a series from the first scrape of both order instances
    before = eventually(lambda: (o := outcomes()) and len(o) == 7 and o)
    assert set(before) == {
        "accepted", "replayed", "sold_out", "limit", "rate_limited", "sale_not_active",
        "rejected",
    }  # fmt: skip
    accepted_before = accept_count()

    def checkout(session, items, key=None):
        time.sleep(0.15)  # stay inside the edge's per-client rate
        return session.post(
            f"{edge}/api/orders",
            json={"items": items} if items is not None else {},
            headers={"Idempotency-Key": key or str(uuid.uuid4())},
            timeout=10,
        )

    shopper = ShopperSession()
    placed = checkout(shopper, [{"sku": sale_sku, "quantity": 2}], key="obs-1")
    assert placed.status_code == 202, placed.text
    replay = checkout(shopper, [{"sku": sale_sku, "quantity": 2}], key="obs-1")
    assert replay.headers.get("Idempotent-Replayed") == "true"
    over_limit = checkout(ShopperSession(), [{"sku": sale_sku, "quantity": 3}])
    assert over_limit.json()["code"] == "LIMIT_EXCEEDED", over_limit.text
    big_buyer = ShopperSession()
    big = checkout(big_buyer, [{"sku": plain_sku, "quantity": 20}])
    assert big.status_code == 202, big.text
    sold_out = checkout(ShopperSession(), [{"sku": plain_sku, "quantity": 3}])  # 2 left
    assert sold_out.json()["code"] == "SOLD_OUT", sold_out.text
    # The app's own limit (10 checkouts a minute per shopper): empty carts until a 429.
    spammer = ShopperSession()
    rejected = 0
    for _ in range(15):
        answer = checkout(spammer, None)
        if answer.status_code == 429:
            assert answer.json()["code"] == "RATE_LIMITED", answer.text  # the app's, not the edge's
            break
        assert answer.json()["code"] == "CART_EMPTY", answer.text
        rejected += 1
    else:
        raise AssertionError("the app never rate-limited 15 checkouts in a row")

    expected = {
        **before,
        "accepted": before["accepted"] + 2,
        "replayed": before["replayed"] + 1,
        "limit": before["limit"] + 1,
        "sold_out": before["sold_out"] + 1,
        "rate_limited": before["rate_limited"] + 1,
        "rejected": before["rejected"] + rejected,
    }
    eventually_equal(outcomes, expected)
    eventually_equal(accept_count, accepted_before + 2)
    # the histogram has the two accepted checkouts in its buckets (each well under 5 s)
    assert value(platform, 'sum(order_checkout_accept_seconds_bucket{le="5.0"})') == (
        accepted_before + 2
    )
    assert eventually(lambda: available(sale_sku) == 98)

    # Both orders are fulfilled: the order service's queue age and both outboxes drain to 0.
    for response, session in ((placed, shopper), (big, big_buyer)):
        status_url = f"{edge}{response.json()['status_url']}"
        eventually(
            lambda s=session, u=status_url: s.get(u, timeout=10).json()["status"] == "fulfilled"
        )
    eventually(lambda: value(platform, "max(order_oldest_accepted_age_seconds)") == 0.0)
    for service in ("order", "fulfillment"):
        assert eventually(
            lambda s=service: (
                value(platform, f'max(outbox_backlog_messages{{service="{s}"}})') == 0.0
            )
        )
        assert value(platform, f'max(outbox_oldest_age_seconds{{service="{service}"}})') == 0.0
    # The fulfillment queue has its consumers and moved the messages; nothing dead-lettered.
    assert value(platform, 'sum(rabbitmq_queue_consumers{queue="fulfillment"})') >= 1
    published = 'sum(rabbitmq_queue_messages_published_total{queue="fulfillment"})'
    assert eventually(lambda: (value(platform, published) or 0) >= 2)
    assert value(platform, 'sum(rabbitmq_queue_messages{queue=~".+\\\\.dead"})') == 0.0
    # maintain has checked the stock invariant (its own metrics server): it holds.
    assert value(platform, "max(fulfillment_stock_invariant_last_check_timestamp_seconds)") > 0
    assert value(platform, "max(fulfillment_stock_drift_skus)") == 0.0


def dashboard_expressions() -> list[tuple[str, str]]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [
        (panel["title"], target["expr"]) for panel in panels for target in panel.get("targets", [])
    ]


def test_the_dashboard_has_the_sale_panels():
    exprs = " ".join(expr for _, expr in dashboard_expressions())
    for metric in (
        "order_checkouts_total", "order_checkout_accept_seconds_bucket",
        "inventory_sale_available_units", "order_oldest_accepted_age_seconds",
        "outbox_backlog_messages", "outbox_oldest_age_seconds", "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_consumers", "fulfillment_stock_drift_skus", "up",
    ):  # fmt: skip
        assert metric in exprs, metric


def test_every_dashboard_expression_returns_a_series(seeded):
    """After the checkout above: each panel's PromQL, evaluated by the running Prometheus,
    answers without an error and with at least one series."""
    empty = []
    for title, expr in dashboard_expressions():
        try:
            eventually(lambda e=expr: query(seeded, e), timeout=30)
        except AssertionError:
            empty.append((title, expr))
    assert empty == []
