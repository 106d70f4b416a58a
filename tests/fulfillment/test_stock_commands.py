"""Restock, seed_demo, the invariant checker (report, repair, metrics, Redis restarted
empty) and the periodic maintenance round: PostgreSQL and Redis kept consistent."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from fulfillment_support import ROOT, order_payload, reserve, worker_database_url
from prometheus_client import REGISTRY

from fulfillment_service.fulfillment.invariants import stock_invariant_check
from fulfillment_service.fulfillment.models import OutboxEvent, Stock, StockReceipt
from fulfillment_service.fulfillment.services import order_process
from shared.demo import demo_skus, demo_stock

pytestmark = [
    pytest.mark.django_db(transaction=True, databases="__all__"),
    pytest.mark.usefixtures("clean_broker"),
]


def _run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=out)
    return out.getvalue()


def test_restock_updates_postgresql_and_redis_together(stock, inventory):
    stock(**{"SKU-A": 5})
    payload = order_payload({"SKU-A": 2})
    reserve(inventory, payload)

    out = _run("restock", "--sku", "SKU-A", "--quantity", "10")

    assert "SKU-A: +10 units; on hand 15, received 15, available in Redis 13" in out
    row = Stock.objects.get(sku="SKU-A")
    assert (row.on_hand, row.received) == (15, 15)
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 13}
    assert StockReceipt.objects.get().quantity == 10
    assert stock_invariant_check(inventory=inventory).ok


def test_restock_rebuilds_a_missing_redis_counter_from_the_system_of_record(stock, inventory):
    stock(**{"SKU-A": 5})
    payload = order_payload({"SKU-A": 2})
    reserve(inventory, payload)
    inventory.client.delete("inv:{SKU-A}:available")

    out = _run("restock", "--sku", "SKU-A", "--quantity", "4")

    assert "available in Redis 7 (Redis counter was missing: rebuilt from PostgreSQL)" in out
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 7}  # 9 on hand - 2 held


def test_restock_refuses_bad_input_and_writes_nothing(stock):
    stock(**{"SKU-A": 5})
    with pytest.raises(CommandError, match="pass --new to create it"):
        _run("restock", "--sku", "SKU-TYPO", "--quantity", "4")
    with pytest.raises(CommandError, match="positive"):
        _run("restock", "--sku", "SKU-A", "--quantity", "0")
    assert list(Stock.objects.values_list("sku", "on_hand")) == [("SKU-A", 5)]
    assert StockReceipt.objects.count() == 0


def test_seed_demo_is_idempotent_and_sets_redis_to_match(inventory):
    first = _run("seed_demo", "--count", "30")
    second = _run("seed_demo", "--count", "30")

    assert "30 stock rows created, 0 already there" in first
    assert "0 stock rows created, 30 already there" in second
    skus = demo_skus(30)
    assert dict(Stock.objects.values_list("sku", "on_hand")) == {
        sku: demo_stock(i) for i, sku in enumerate(skus, start=1)
    }
    assert inventory.availability_many(skus) == {
        sku: demo_stock(i) for i, sku in enumerate(skus, start=1)
    }


def test_checker_reports_drift_and_repair_fixes_it(stock, inventory):
    stock(**{"SKU-A": 10, "SKU-B": 10})
    payload = order_payload({"SKU-A": 3})
    reserve(inventory, payload)
    inventory.client.incrby("inv:{SKU-B}:available", 4)  # a lost update, say

    with pytest.raises(SystemExit) as exit_info:
        _run("check_stock", "--samples", "2")
    assert exit_info.value.code == 1
    report = stock_invariant_check(inventory=inventory, samples=2)
    assert [(b.sku, b.drift) for b in report.drifting] == [("SKU-B", 4)]
    metrics = REGISTRY.get_sample_value
    assert metrics("fulfillment_stock_drift_units", {"sku": "SKU-B"}) == 4
    assert metrics("fulfillment_stock_drift_skus") == 1
    assert metrics("fulfillment_stock_drift_abs_units") == 4

    out = _run("check_stock", "--repair")

    assert "repaired 1 Redis counters" in out
    assert inventory.availability_many(["SKU-A", "SKU-B"]) == {"SKU-A": 7, "SKU-B": 10}
    assert "stock invariant holds for 2 skus" in _run("check_stock")
    assert metrics("fulfillment_stock_drift_units", {"sku": "SKU-B"}) == 0
    assert metrics("fulfillment_stock_drift_skus") == 0


def test_after_redis_restarts_empty_repair_rebuilds_from_postgresql(stock, inventory):
    stock(**{"SKU-A": 10})
    sold = order_payload({"SKU-A": 4})
    reserve(inventory, sold)
    assert order_process(payload=sold).outcome == "fulfilled"
    inventory.client.flushdb()  # what a restart of this Redis (no persistence) leaves

    report = stock_invariant_check(inventory=inventory)
    assert [b.sku for b in report.unknown] == ["SKU-A"]
    assert REGISTRY.get_sample_value("fulfillment_stock_unknown_skus") == 1
    # Not from the stock alone: the order service's open reservations come first (ADR 0088).
    out = _run("check_stock", "--repair")
    assert "waiting for the order service's open reservations" in out
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": None}
    assert inventory.epoch() is None
    # The order service restores one accepted, unprocessed order of 3 units:
    pending = order_payload({"SKU-A": 3}, shopper_id="s-pending")
    inventory.reservations_restore(
        reservations={pending["order_id"]: {"SKU-A": 3}},
        shopper_ids={pending["order_id"]: "s-pending"},
        shopper_units={("SKU-A", "s-pending"): 3},
        shopper_ttl=3600,
        marker="restored-1",
    )
    out = _run("check_stock", "--repair")
    assert "1 counters rebuilt (3 units held by accepted orders); sale resumed" in out
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 3}
    assert inventory.epoch() is not None
    assert stock_invariant_check(inventory=inventory).ok


def test_repair_settles_reservations_left_behind_by_a_crash(stock, inventory):
    stock(**{"SKU-A": 10})
    payload = order_payload({"SKU-A": 2}, shopper_id="test-decline-x")
    reserve(inventory, payload)
    assert order_process(payload=payload).outcome == "failed"
    # As if the worker had died after the commit, before releasing the reservation:
    reserve(inventory, payload)
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 8}
    assert stock_invariant_check(inventory=inventory).ok  # held units are accounted for

    _run("check_stock", "--repair")

    assert inventory.reservation(payload["order_id"]) == {}
    assert inventory.availability_many(["SKU-A"]) == {"SKU-A": 10}


def test_maintain_round_republishes_the_outbox_and_exports_drift_for_the_web_process(
    stock, inventory, tmp_path
):
    from fulfillment_support import drain_status_events

    stock(**{"SKU-A": 10})
    OutboxEvent.objects.create(
        order_id="00000000-0000-0000-0000-000000000001",
        task_name="order.apply_status",
        payload={
            "type": "order.status_changed",
            "version": 1,
            "order_id": "00000000-0000-0000-0000-000000000001",
            "status": "failed",
            "occurred_at": "2026-11-25T12:00:00+00:00",
            "reason": "x",
        },
    )
    inventory.client.incrby("inv:{SKU-A}:available", 2)
    from django.conf import settings

    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_ENV": "test",
        "FULFILLMENT_DATABASE_URL": worker_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "FULFILLMENT_OUTBOX_GRACE_SECONDS": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(prom_dir),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "fulfillment", "maintain", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "outbox: 1 re-published; stock: 1 skus, 1 drifting, 0 unknown" in result.stdout
    assert [e["reason"] for e in drain_status_events()] == ["x"]

    # The web process (gunicorn, same PROMETHEUS_MULTIPROC_DIR) serves what it exported.
    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(prom_dir))
    text = generate_latest(registry).decode()
    assert 'fulfillment_stock_drift_units{sku="SKU-A"} 2.0' in text
    assert "fulfillment_stock_drift_skus 1.0" in text
