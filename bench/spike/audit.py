"""The audit at the end of every spike run: a Jepsen-style checker over every record.

It reads what the three services wrote (each one's PostgreSQL database, the Redis read
models, the RabbitMQ queues) from the outside, after the backlog drained, and checks the
one promise of the platform (R4): every order that got a 202 ends with exactly one
captured payment, one balanced sale in the ledger and one shipment, or failed with its
stock released and its charge refunded. The stock invariant (Redis vs PostgreSQL) is the
fulfillment service's own checker (``manage.py fulfillment check_stock``,
fulfillment/invariants.py), run against the platform rather than written twice.

Counts that must be 0 (``AuditReport.ok``): ``lost`` (accepted, never settled: not in the
order database, or never processed by fulfillment), ``duplicated`` (a second charge, sale
or shipment for one order), ``oversold`` (units sold beyond units received),
``ledger_imbalance`` (a transaction that does not sum to zero, or a sale that does not
match its order), ``inventory_drift`` (units of drift, plus counters missing, between Redis
and the systems of record), ``accepted_then_failed_for_stock`` (told "accepted", then
``out_of_stock``), ``failed_without_release`` (a failed order still holding a reservation,
a charge or a sale) and ``status_mismatch`` (the order service's status disagrees with
fulfillment's outcome). ``python -m bench.spike.audit`` reads the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import psycopg
import redis
from kombu import Connection

ROOT = Path(__file__).resolve().parents[2]

MUST_BE_ZERO = (
    "lost",
    "duplicated",
    "oversold",
    "ledger_imbalance",
    "inventory_drift",
    "accepted_then_failed_for_stock",
    "failed_without_release",
    "status_mismatch",
)
QUEUES = ("fulfillment", "order", "fulfillment.dead", "order.dead")


@dataclass
class AuditReport:
    counts: dict[str, int]
    examples: dict[str, list[str]] = field(default_factory=dict)  # a few ids per count
    drained: bool = True
    waited_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(self.counts.get(key, 0) == 0 for key in MUST_BE_ZERO)

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "counts": dict(self.counts),
            "examples": {k: v for k, v in self.examples.items() if v},
            "drained": self.drained,
            "waited_seconds": round(self.waited_seconds, 1),
        }

    def summary(self) -> str:
        c = self.counts
        head = "AUDIT OK" if self.ok else "AUDIT FAILED"
        bad = [f"{k}={c[k]}" for k in MUST_BE_ZERO if c.get(k)]
        return (
            f"{head}: {c['orders_accepted']} accepted = {c['orders_settled']} settled + "
            f"{c['orders_failed']} failed ({c['orders_declined']} declined) + "
            f"{c['orders_open']} open; lost {c['lost']}, duplicated {c['duplicated']}, "
            f"oversold {c['oversold']}, ledger imbalance {c['ledger_imbalance']}, "
            f"inventory drift {c['inventory_drift']}, accepted then failed for stock "
            f"{c['accepted_then_failed_for_stock']}, failed without release "
            f"{c['failed_without_release']}, status mismatch {c['status_mismatch']}; "
            f"dead letters {c['dead_letters']}; drained {self.drained} after "
            f"{self.waited_seconds:.1f} s" + (f" [{', '.join(bad)}]" if bad else "")
        )


# --- reading the records -----------------------------------------------------------------


def _rows(url: str, query: str, params: tuple | None = None) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(query, params).fetchall()


def _queue_depths(broker_url: str) -> dict[str, int]:
    depths = {}
    with Connection(broker_url, connect_timeout=10) as conn:
        channel = conn.channel()
        for name in QUEUES:
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
            except Exception:  # noqa: BLE001 - a queue nobody declared yet holds nothing
                channel = conn.channel()
                count = 0
            depths[name] = int(count)
    return depths


def _backlog(env: Mapping[str, str]) -> dict[str, int]:
    """What is still in flight: open orders, unpublished outbox rows, queued messages, and
    whether Redis has its rebuilt availability (after a restart)."""
    order_url, ful_url = env["ORDER_DATABASE_URL"], env["FULFILLMENT_DATABASE_URL"]
    open_orders = _rows(order_url, "SELECT count(*) FROM orders_order WHERE status = 'accepted'")
    order_outbox = _rows(
        order_url, "SELECT count(*) FROM orders_outboxmessage WHERE published_at IS NULL"
    )
    ful_outbox = _rows(
        ful_url, "SELECT count(*) FROM fulfillment_outboxevent WHERE published_at IS NULL"
    )
    depths = _queue_depths(env["CELERY_BROKER_URL"])
    client = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True, socket_timeout=10)
    return {
        "open_orders": open_orders[0][0],
        "order_outbox": order_outbox[0][0],
        "fulfillment_outbox": ful_outbox[0][0],
        "queued": depths["fulfillment"] + depths["order"],
        "paused": 0 if client.exists("inv:epoch") else 1,
    }


def backlog_wait(*, env: Mapping[str, str], timeout: float) -> tuple[bool, float]:
    """Wait until nothing is in flight (or ``timeout``); (drained, seconds waited)."""
    started = time.monotonic()
    while True:
        try:
            if not any(_backlog(env).values()):
                return True, time.monotonic() - started
        except (psycopg.Error, redis.RedisError, OSError):
            pass  # a backing service is restarting: look again
        if time.monotonic() - started > timeout:
            return False, time.monotonic() - started
        time.sleep(0.5)


@dataclass
class _Records:
    orders: dict[str, tuple[str, str]]  # id -> (status, failure_reason)
    order_units: dict[str, dict[str, int]]
    order_totals: dict[str, Decimal]
    processed: dict[str, tuple[str, str]]  # id -> (outcome, reason)
    payments: dict[str, list[str]]  # id -> statuses
    charges: dict[str, list[tuple[str, bool]]]  # id -> (status, refunded) at the provider
    sales: dict[str, list[int]]  # id -> sale transaction ids
    reversed_sales: set[int]
    shipments: dict[str, list[str]]
    unbalanced: list[int]  # transaction ids
    sale_money: dict[int, Decimal]  # receivable per sale transaction
    sale_units: dict[int, dict[str, int]]  # units_sold per sale transaction
    stock: dict[str, tuple[int, int]]  # sku -> (received, on_hand)
    sold: dict[str, int]
    reservations: set[str]


def _group(rows: Iterable[tuple]) -> dict[str, list]:
    out: dict[str, list] = {}
    for key, *rest in rows:
        out.setdefault(str(key), []).append(rest[0] if len(rest) == 1 else tuple(rest))
    return out


def _records(env: Mapping[str, str]) -> _Records:
    o, f = env["ORDER_DATABASE_URL"], env["FULFILLMENT_DATABASE_URL"]
    units: dict[str, dict[str, int]] = {}
    for order_id, sku, qty in _rows(o, "SELECT order_id, sku, quantity FROM orders_orderline"):
        units.setdefault(str(order_id), {})[sku] = qty
    orders = _rows(o, "SELECT id, status, failure_reason, total FROM orders_order")
    sale_units: dict[int, dict[str, int]] = {}
    for txn, sku, qty in _rows(
        f,
        "SELECT transaction_id, sku, quantity FROM fulfillment_ledgerentry "
        "WHERE account = 'units_sold'",
    ):
        sale_units.setdefault(txn, {})[sku] = sale_units.get(txn, {}).get(sku, 0) + qty
    client = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True, socket_timeout=10)
    return _Records(
        orders={str(i): (s, r) for i, s, r, _ in orders},
        order_units=units,
        order_totals={str(i): t for i, _, _, t in orders},
        processed={
            str(i): (oc, r)
            for i, oc, r in _rows(
                f, "SELECT order_id, outcome, reason FROM fulfillment_processedmessage"
            )
        },
        payments=_group(_rows(f, "SELECT order_id, status FROM fulfillment_payment")),
        charges=_group(
            (key.split(":", 1)[1].split("#")[0], status, refunded)
            for key, status, refunded in _rows(
                f,
                "SELECT idempotency_key, status, refunded FROM fulfillment_simulatedcharge "
                "WHERE idempotency_key LIKE 'order:%'",
            )
        ),
        sales=_group(
            _rows(f, "SELECT order_id, id FROM fulfillment_ledgertransaction WHERE kind = 'sale'")
        ),
        reversed_sales={
            r[0]
            for r in _rows(
                f,
                "SELECT reverses_id FROM fulfillment_ledgertransaction WHERE kind = 'reversal'",
            )
        },
        shipments=_group(_rows(f, "SELECT order_id, status FROM fulfillment_shipment")),
        unbalanced=[
            r[0]
            for r in _rows(
                f,
                "SELECT t.id FROM fulfillment_ledgertransaction t "
                "LEFT JOIN fulfillment_ledgerentry e ON e.transaction_id = t.id "
                "GROUP BY t.id HAVING count(e.id) < 2 OR t.id IN ("
                " SELECT transaction_id FROM fulfillment_ledgerentry"
                " GROUP BY transaction_id, currency HAVING sum(amount) <> 0"
                " UNION SELECT transaction_id FROM fulfillment_ledgerentry"
                " GROUP BY transaction_id, sku HAVING sum(quantity) <> 0)",
            )
        ],
        sale_money={
            txn: amount
            for txn, amount in _rows(
                f,
                "SELECT transaction_id, sum(amount) FROM fulfillment_ledgerentry "
                "WHERE account = 'payments_receivable' GROUP BY transaction_id",
            )
        },
        sale_units=sale_units,
        stock={
            sku: (received, on_hand)
            for sku, received, on_hand in _rows(
                f, "SELECT sku, received, on_hand FROM fulfillment_stock"
            )
        },
        sold={
            sku: int(n)
            for sku, n in _rows(
                f,
                "SELECT sku, sum(quantity) FROM fulfillment_ledgerentry "
                "WHERE account = 'units_sold' GROUP BY sku",
            )
        },
        reservations={
            key.removeprefix("inv:res:") for key in client.scan_iter("inv:res:*", count=1000)
        },
    )


# --- the checks --------------------------------------------------------------------------


def _fulfilled_problems(r: _Records, order_id: str) -> tuple[list[str], list[str]]:
    """(duplicated, ledger) problems of an order fulfillment says it fulfilled."""
    dup, ledger = [], []
    captured = [s for s in r.payments.get(order_id, []) if s == "captured"]
    approved = [c for c in r.charges.get(order_id, []) if c[0] == "approved"]
    sales = [t for t in r.sales.get(order_id, []) if t not in r.reversed_sales]
    if len(captured) > 1 or len(approved) > 1 or len(sales) > 1:
        dup.append(order_id)
    if len(r.shipments.get(order_id, [])) > 1:
        dup.append(order_id)
    if len(captured) != 1 or len(sales) != 1:
        ledger.append(order_id)
    for txn in sales[:1]:
        if r.sale_units.get(txn) != r.order_units.get(order_id) or r.sale_money.get(
            txn
        ) != r.order_totals.get(order_id):
            ledger.append(order_id)
    return dup, ledger


def _failed_held(r: _Records, order_id: str) -> bool:
    """A failed order that still holds something: its reservation, a live charge, a sale."""
    live_charge = any(
        s == "approved" and not refunded for s, refunded in r.charges.get(order_id, [])
    )
    live_sale = any(t not in r.reversed_sales for t in r.sales.get(order_id, []))
    return order_id in r.reservations or live_charge or live_sale


def _order_checks(r: _Records, accepted_ids: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {
        k: [] for k in ("lost", "duplicated", "ledger", "stock_failed", "unreleased", "mismatch")
    }
    found["lost"] += sorted(accepted_ids - set(r.orders))
    for order_id, (status, _reason) in r.orders.items():
        outcome, reason = r.processed.get(order_id, ("", ""))
        if not outcome:
            found["lost"].append(order_id)
            continue
        if outcome == "fulfilled":
            dup, ledger = _fulfilled_problems(r, order_id)
            found["duplicated"] += dup[:1]
            found["ledger"] += ledger[:1]
            if status not in ("paid", "fulfilled"):
                found["mismatch"].append(order_id)
        else:
            if reason == "out_of_stock":
                found["stock_failed"].append(order_id)
            if _failed_held(r, order_id):
                found["unreleased"].append(order_id)
            if len(r.charges.get(order_id, [])) > 1:
                found["duplicated"].append(order_id)
            if status != "failed":
                found["mismatch"].append(order_id)
    return found


def _inventory_drift(env: Mapping[str, str]) -> tuple[int, list[str]]:
    """Units of drift (and missing counters) by the fulfillment service's own checker."""
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, str(ROOT / "manage.py"), "fulfillment", "check_stock"],
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    units, lines = 0, []
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("DRIFT"):
            units += abs(int(line.rsplit("drift ", 1)[1].rstrip(")")))
            lines.append(line)
        elif line.startswith(("UNKNOWN", "LEDGER")):
            units += 1
            lines.append(line)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"check_stock failed:\n{result.stdout}{result.stderr}")
    return units, lines


def audit(
    *,
    env: Mapping[str, str],
    timeout: float = 120.0,
    accepted_ids: Iterable[str] = (),
) -> AuditReport:
    """Wait for the backlog to drain (or ``timeout``), then check every record.

    ``accepted_ids``: the order ids the load generator was answered 202 for, when it kept
    them; an id missing from the order database is then counted as lost too."""
    drained, waited = backlog_wait(env=env, timeout=timeout)
    records = _records(env)
    found = _order_checks(records, {str(i) for i in accepted_ids})
    oversold = {
        sku: records.sold.get(sku, 0) - received
        for sku, (received, _on_hand) in records.stock.items()
        if records.sold.get(sku, 0) > received
    }
    drift_units, drift_lines = _inventory_drift(env)
    depths = _queue_depths(env["CELERY_BROKER_URL"])
    statuses = [status for status, _ in records.orders.values()]
    counts = {
        "orders_accepted": len(records.orders),
        "orders_settled": sum(1 for o, _ in records.processed.values() if o == "fulfilled"),
        "orders_failed": statuses.count("failed"),
        "orders_declined": sum(1 for _, r in records.orders.values() if r == "payment_declined"),
        "orders_open": statuses.count("accepted"),
        "lost": len(found["lost"]),
        "duplicated": len(found["duplicated"]),
        "oversold": sum(oversold.values()),
        "ledger_imbalance": len(records.unbalanced) + len(found["ledger"]),
        "inventory_drift": drift_units,
        "accepted_then_failed_for_stock": len(found["stock_failed"]),
        "failed_without_release": len(found["unreleased"]),
        "status_mismatch": len(found["mismatch"]),
        "dead_letters": depths["fulfillment.dead"] + depths["order.dead"],
    }
    examples = {
        "lost": found["lost"][:5],
        "duplicated": found["duplicated"][:5],
        "oversold": [f"{sku}: +{n}" for sku, n in sorted(oversold.items())][:5],
        "ledger_imbalance": [str(t) for t in records.unbalanced[:5]] + found["ledger"][:5],
        "inventory_drift": drift_lines[:5],
        "accepted_then_failed_for_stock": found["stock_failed"][:5],
        "failed_without_release": found["unreleased"][:5],
        "status_mismatch": found["mismatch"][:5],
    }
    return AuditReport(counts=counts, examples=examples, drained=drained, waited_seconds=waited)


def main() -> int:
    report = audit(env=os.environ, timeout=float(os.environ.get("AUDIT_TIMEOUT", "120")))
    print(json.dumps(report.as_dict(), indent=2))
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
