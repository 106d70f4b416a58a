"""Faults during a load, each followed by the audit (issue 12; bench/spike/faults.py, audit.py).

One platform (`bin/platform up`) on a private Redis and RabbitMQ for the module. For every
fault in ``FAULTS``: a small bounded load of checkouts through the edge (each shopper its
own session, each order one unit of a demo sku), the fault injected into the real process
while the load runs, then ``audit()``: every must-be-0 count is 0 and every order the load
was answered 202 for is in the books. Then the Redis proof (ADR 0088): workers paused, a
sku's last units accepted, Redis restarted empty: no checkout is accepted for those units
again, the sale pauses briefly and resumes with availability 0. And the audit proved able
to fail: records corrupted in a copy of the databases turn the right counts non-zero.

The figures (audit counts, pause, restart times) are printed: ``pytest -s`` shows them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
import requests
from conftest import Platform
from platform_tools import HIGH_LIMITS, platform_seed

from bench.spike.audit import MUST_BE_ZERO, audit
from bench.spike.faults import FAULTS, FaultContext
from tests.support.shopper import ShopperSession

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = 12
FLASH_SKUS = [f"SKU-{i:06d}" for i in range(1, 11)]  # 100 units each in the demo
RESULTS: dict[str, dict] = {}


def _ctl(platform: Platform):
    def ctl(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "bin" / "platform"), "ctl", *args],
            env={**os.environ, **platform.env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return ctl


def _runner_restarts(ctx: FaultContext) -> bool:
    """A runner that restarts a killed process (supervisord, `bin/platform ctl`)."""
    return ctx.ctl("status").returncode in (0, 3)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory, backing):
    redis_server, rabbitmq = backing
    platform = Platform(tmp_path_factory.mktemp("faults"), redis_server, rabbitmq)
    platform.env.update(HIGH_LIMITS)
    platform.env.update({"FULFILLMENT_WORKER_CONCURRENCY": "2", "ORDER_INSTANCES": "2"})
    platform.start()
    try:
        platform_seed(platform, products=PRODUCTS)
        env = {**os.environ, **platform.env}
        client = redis.Redis.from_url(platform.env["REDIS_URL"])
        deadline = time.monotonic() + 60
        while not (client.exists("inv:epoch") and client.exists("offer:epoch")):
            assert time.monotonic() < deadline, "the sale never opened"
            time.sleep(0.2)
        ctx = FaultContext(
            env=env,
            ctl=_ctl(platform),
            redis=redis_server,
            rabbitmq=rabbitmq,
            log=lambda line: print(f"    {line}", flush=True),
        )
        yield platform, ctx
    finally:
        platform.stop()
        if RESULTS:
            print("\nFAULT FIGURES " + json.dumps(RESULTS, indent=1, sort_keys=True))


# --- the load ------------------------------------------------------------------------------


class Load:
    """Checkouts of one unit from ``threads`` shoppers at a time, each thread one every
    ``pause`` seconds, until the block ends (or ``limit``); a refused or unanswered request
    is retried with the same Idempotency-Key, as a client would."""

    def __init__(
        self, edge: str, skus: list[str], *, threads: int = 3, limit: int = 400,
        pause: float = 0.25,
    ):  # fmt: skip
        self.pause = pause
        self.edge, self.skus, self.threads, self.limit = edge, skus, threads, limit
        self.accepted: list[str] = []
        self.answers: dict[str, int] = {}
        self.started = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.workers = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _note(self, answer: str) -> None:
        with self.lock:
            self.answers[answer] = self.answers.get(answer, 0) + 1

    def _one(self, sku: str) -> None:
        shopper, key = ShopperSession(), f"fault-{uuid.uuid4()}"
        body = {"items": [{"sku": sku, "quantity": 1}]}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                answer = shopper.post(
                    f"{self.edge}/api/orders", json=body, headers={"Idempotency-Key": key},
                    timeout=15,
                )  # fmt: skip
            except requests.RequestException:
                self._note("connection_error")
                time.sleep(0.5)
                continue
            try:
                code = answer.json().get("code", "") if answer.status_code != 202 else ""
            except ValueError:
                code = "not-json"  # e.g. the edge's own 502 page
            self._note(f"{answer.status_code} {code}".strip())
            if answer.status_code == 202:
                with self.lock:
                    self.accepted.append(answer.json()["order_id"])
                return
            if answer.status_code in (409, 422) and code != "IDEMPOTENCY_KEY_IN_USE":
                return  # sold out, limit: a final answer
            time.sleep(0.3)

    def _run(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if self.started >= self.limit:
                    return
                self.started += 1
                sku = self.skus[self.started % len(self.skus)]
            self._one(sku)
            time.sleep(self.pause)

    def __enter__(self) -> Load:
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for worker in self.workers:
            worker.join(timeout=90)


def _assert_audit_clean(name: str, report, accepted: list[str]) -> None:
    print(f"    {name}: {report.summary()}", flush=True)
    assert report.drained, report.summary()
    assert {k: report.counts[k] for k in MUST_BE_ZERO} == dict.fromkeys(MUST_BE_ZERO, 0), (
        report.as_dict()
    )
    # Every order the load was told was accepted is in the books and settled one way.
    assert report.counts["orders_open"] == 0
    assert report.counts["orders_accepted"] >= len(accepted) > 0
    assert (
        report.counts["orders_settled"] + report.counts["orders_failed"]
        == report.counts["orders_accepted"]
    )


KILLS = {"worker_kill9", "order_instance_kill"}
SHORT = {"payment_slow_2s": 8.0, "payment_failing_50pct": 8.0}


@pytest.mark.parametrize("name", list(FAULTS))
def test_fault_during_load_audits_clean(faulty, name):
    platform, ctx = faulty
    fault = FAULTS[name]
    if name in SHORT:
        fault = dataclasses.replace(fault, duration=SHORT[name])
    if name in KILLS:
        # The supervisord runner restarts what a kill takes down: without it, fail, never skip.
        assert _runner_restarts(ctx), "`bin/platform ctl` does not answer: the runner is broken"
    started = time.monotonic()
    with Load(platform.edge, FLASH_SKUS) as load:
        time.sleep(1.0)
        fault.inject(ctx)
        fault.restore(ctx)
        time.sleep(1.0)
    report = audit(env=ctx.env, timeout=150, accepted_ids=load.accepted)
    RESULTS[name] = {
        "answers": load.answers,
        "accepted": len(load.accepted),
        "audit": report.counts,
        "measured": {k: v for k, v in ctx.measured.items() if k.startswith(name)},
        "seconds": round(time.monotonic() - started, 1),
    }
    _assert_audit_clean(name, report, load.accepted)
    if name == "payment_failing_50pct":
        assert report.counts["orders_declined"] > 0  # the fault really happened


# --- Redis restarted empty with orders accepted and not yet fulfilled (ADR 0088) ----------


def _checkout(edge: str, sku: str) -> tuple[int, str, dict]:
    answer = ShopperSession().post(
        f"{edge}/api/orders",
        json={"items": [{"sku": sku, "quantity": 1}]},
        headers={"Idempotency-Key": f"proof-{uuid.uuid4()}"},
        timeout=15,
    )
    body = answer.json()
    return answer.status_code, body.get("code", ""), dict(answer.headers)


def test_redis_restarted_empty_pauses_then_resumes_without_selling_promised_units(faulty):
    platform, ctx = faulty
    sku, other = "SKU-000011", "SKU-000012"  # not on flash sale: nothing else buys them
    inv = redis.Redis.from_url(platform.env["REDIS_URL"], decode_responses=True)
    paused = dataclasses.replace(FAULTS["workers_paused_30s"], duration=3600)
    paused.inject(ctx)  # nothing is fulfilled from here on
    try:
        units = int(inv.get(f"inv:{{{sku}}}:available"))
        other_units = int(inv.get(f"inv:{{{other}}}:available"))
        threads = [
            threading.Thread(target=lambda: accepted.append(_checkout(platform.edge, sku)))
            for _ in range(units)
        ]
        accepted: list[tuple[int, str, dict]] = []
        for start in range(0, units, 8):
            batch = threads[start : start + 8]
            for t in batch:
                t.start()
            for t in batch:
                t.join()
        assert [a[0] for a in accepted] == [202] * units  # every unit promised
        assert _checkout(platform.edge, sku)[:2] == (409, "SOLD_OUT")

        restart = FAULTS["redis_restart_empty"]
        restart.inject(ctx)
        answers = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            status, code, headers = _checkout(platform.edge, sku)
            answers.append((round(time.monotonic() - t0, 2), status, code))
            if status == 503:
                assert code == "SALE_PAUSED", answers
                assert headers["Retry-After"] == "1"
            else:
                break
        resumed_after = answers[-1][0]
        restart.restore(ctx)
        # The promised units stay promised: nothing accepted again, availability 0.
        assert answers[-1][1:] == (409, "SOLD_OUT"), answers
        assert inv.get(f"inv:{{{sku}}}:available") == "0"
        assert int(inv.get(f"inv:{{{other}}}:available")) == other_units
        assert len(inv.keys("inv:res:*")) >= units  # the open reservations are back
        # Another sku sells again at once.
        assert _checkout(platform.edge, other)[0] == 202
    finally:
        paused.resume_now(ctx)
    report = audit(env=ctx.env, timeout=150)
    RESULTS["redis_restart_empty_proof"] = {
        "promised_units": units,
        "answers_while_rebuilding": {
            f"{s} {c}": sum(1 for a in answers if a[1:] == (s, c)) for _, s, c in answers
        },
        "first_answer_after_pause_s": resumed_after,
        "pause_s": ctx.measured.get("redis_restart_empty_pause_seconds"),
        "audit": report.counts,
    }
    print(f"    proof: {json.dumps(RESULTS['redis_restart_empty_proof'])}", flush=True)
    _assert_audit_clean("redis proof", report, ["x"])
    assert report.counts["accepted_then_failed_for_stock"] == 0
    assert report.counts["orders_settled"] >= units + 1


# --- the audit can fail ---------------------------------------------------------------------


def _copy_database(url: str, suffix: str) -> str:
    parts = urlsplit(url)
    copy = urlunsplit(parts._replace(path=f"{parts.path}_{suffix}"))
    admin_url = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name, owner = copy.rsplit("/", 1)[1], parts.username
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{owner}"')
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", url], capture_output=True, check=True
    )
    # Restored as the service's own role, so the copy's tables are its, as in the original.
    subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", copy],
        input=dump.stdout,
        capture_output=True,
        check=True,
    )
    return copy


def _as_superuser(url: str) -> str:
    admin = urlsplit(os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/x"))
    return urlunsplit(urlsplit(url)._replace(netloc=admin.netloc))


def test_the_audit_fails_on_corrupted_records(faulty):
    platform, ctx = faulty
    for _ in range(3):  # three one-unit orders of our own to corrupt, whatever ran before
        assert _checkout(platform.edge, "SKU-000012")[0] == 202
    assert audit(env=ctx.env, timeout=120).ok  # drained, and clean before the corruption
    orders = _copy_database(ctx.env["ORDER_DATABASE_URL"], "auditcopy")
    fulfillment = _copy_database(ctx.env["FULFILLMENT_DATABASE_URL"], "auditcopy")
    env = {**ctx.env, "ORDER_DATABASE_URL": orders, "FULFILLMENT_DATABASE_URL": fulfillment}
    clean = audit(env=env, timeout=30)
    assert clean.ok, clean.summary()

    with psycopg.connect(_as_superuser(fulfillment), autocommit=True) as db:
        db.execute("SET session_replication_role = replica")  # past the append-only triggers
        one_unit = db.execute(
            "SELECT t.order_id, t.id FROM fulfillment_ledgertransaction t "
            "JOIN fulfillment_ledgerentry e ON e.transaction_id = t.id "
            "WHERE t.kind = 'sale' AND e.account = 'units_sold' "
            "GROUP BY t.order_id, t.id HAVING sum(e.quantity) = 1 ORDER BY t.id LIMIT 3"
        ).fetchall()
        (unbalanced_order, txn), (charged_twice, _), (gone, _) = one_unit
        db.execute(
            "DELETE FROM fulfillment_ledgerentry WHERE transaction_id = %s "
            "AND account = 'units_sold'",
            [txn],
        )
        db.execute(
            "INSERT INTO fulfillment_simulatedcharge (idempotency_key, reference, amount, "
            "currency, status, decline_code, refunded, created_at) SELECT "
            "idempotency_key || '#dup', reference || 'x', amount, currency, status, "
            "decline_code, refunded, created_at FROM fulfillment_simulatedcharge "
            "WHERE idempotency_key = %s",
            [f"order:{charged_twice}"],
        )
    with psycopg.connect(_as_superuser(orders), autocommit=True) as db:
        for table in ("orders_idempotencykey", "orders_outboxmessage", "orders_orderline"):
            db.execute(f"DELETE FROM {table} WHERE order_id = %s", [gone])  # noqa: S608
        db.execute("DELETE FROM orders_order WHERE id = %s", [gone])

    report = audit(env=env, timeout=30, accepted_ids=[str(gone)])
    print(f"    corrupted copy: {report.summary()}", flush=True)
    assert not report.ok
    assert {k: report.counts[k] for k in MUST_BE_ZERO} == {
        "lost": 1,  # the order row deleted
        "duplicated": 1,  # the second charge
        "oversold": 0,
        "ledger_imbalance": 2,  # the transaction does not balance, and its sale lacks a unit
        "inventory_drift": 2,  # 1 unit of drift, and PostgreSQL disagrees with itself
        "accepted_then_failed_for_stock": 0,
        "failed_without_release": 0,
        "status_mismatch": 0,
    }
    assert report.examples["lost"] == [str(gone)]
    assert report.examples["duplicated"] == [str(charged_twice)]
    assert str(unbalanced_order) in report.examples["ledger_imbalance"]
