"""The sale's alert rules and the Prometheus configurations, checked by Debian's promtool.

`promtool check rules` (syntax, valid PromQL, templates), `promtool test rules` (the unit
tests in deploy/prometheus/alerts.test.yml: each alert fires on a series that breaks it,
after its ``for``, and stays silent on a healthy one), and `promtool check config` on the
local configuration as `bin/platform render` writes it and on the compose one. Each check
also runs on a broken copy and must fail. No platform is started here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from flashops import observability

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"

PROMTOOL = shutil.which("promtool")


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool is missing: bin/bootstrap installs Debian's prometheus"
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_alert_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 12 rules found" in result.stdout


def test_alert_rules_unit_tests_pass():
    result = promtool("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_and_a_runbook_entry():
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts == {
        "CheckoutAcceptLatencyHigh", "Http5xxRateHigh", "FulfillmentQueueOld",
        "QueueWithoutConsumers", "DeadLettersPresent", "OutboxBacklogOld", "InventoryDrift",
        "InventoryRepaired", "TargetDown", "SaleSkuSoldOut",
    }  # fmt: skip
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    firing = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert firing == alerts
    runbook = (ROOT / "docs" / "runbook.md").read_text().lower()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                anchor = rule["annotations"]["runbook"].split("#", 1)[1]
                assert f"### {anchor}" in runbook.replace("`", ""), anchor


def test_rule_unit_tests_fail_when_a_threshold_is_wrong(tmp_path):
    broken = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, broken)
    rules = broken / "alerts.yml"
    rules.write_text(
        rules.read_text().replace(
            "expr: max(order_oldest_accepted_age_seconds) > 120",
            "expr: max(order_oldest_accepted_age_seconds) > 1200",
        )
    )
    result = promtool("test", "rules", "alerts.test.yml", cwd=broken)
    assert result.returncode == 1, result.stdout
    assert "alertname: FulfillmentQueueOld, time: 4m" in result.stdout + result.stderr


def test_rendered_local_configuration_is_valid(tmp_path):
    env = {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}
    path = observability.render_prometheus(env, out_dir=tmp_path)
    result = promtool("check", "config", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(path.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {
        "prometheus", "catalog", "order", "fulfillment", "order_outbox_relay",
        "fulfillment_relay", "fulfillment_maintain", "envoy", "nginx", "rabbitmq", "redis",
        "postgres", "celery",
    }  # fmt: skip
    targets = {
        name: [t for c in job["static_configs"] for t in c["targets"]] for name, job in jobs.items()
    }
    assert targets["catalog"] == ["127.0.0.1:8001", "127.0.0.1:8101"]
    assert targets["order"] == ["127.0.0.1:8002", "127.0.0.1:8102"]
    assert targets["envoy"] == ["127.0.0.1:9901", "127.0.0.1:9902"]
    assert targets["rabbitmq"] == ["127.0.0.1:15692"]
    # one instance each when asked: the second one is not scraped
    one = observability.render_prometheus(
        {**env, "CATALOG_INSTANCES": "1", "ORDER_PORT": "7002"}, out_dir=tmp_path / "one"
    )
    jobs = {j["job_name"]: j for j in yaml.safe_load(one.read_text())["scrape_configs"]}
    assert jobs["catalog"]["static_configs"][0]["targets"] == ["127.0.0.1:8001"]
    assert jobs["order"]["static_configs"][0]["targets"] == ["127.0.0.1:7002", "127.0.0.1:7102"]


def test_compose_configuration_is_valid_and_scrapes_the_same_jobs(tmp_path):
    result = promtool("check", "config", "--syntax-only", "prometheus.compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    compose = yaml.safe_load((PROMETHEUS / "prometheus.compose.yml").read_text())
    local = yaml.safe_load(
        observability.render_prometheus(
            {"CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}, out_dir=tmp_path
        ).read_text()
    )
    assert [j["job_name"] for j in compose["scrape_configs"]] == [
        j["job_name"] for j in local["scrape_configs"]
    ]
    broken = tmp_path / "broken.yml"
    text = (PROMETHEUS / "prometheus.compose.yml").read_text()
    broken.write_text(text.replace("scrape_interval", "scrape_intervl", 1))
    assert promtool("check", "config", "--syntax-only", str(broken)).returncode == 1
