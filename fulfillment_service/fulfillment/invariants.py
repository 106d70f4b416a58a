"""The stock invariant between Redis (the read model) and PostgreSQL (the system of record).

For every sku::

    received (PostgreSQL)  =  available (Redis)  +  held by open reservations (Redis)
                              +  sold (ledger: units_sold entries)

A reservation whose order already has a *fulfilled* marker is counted as sold, not held:
between fulfillment's commit and its ``Inventory.commit`` the units are legitimately in
both places for a moment. Reads of Redis and PostgreSQL are not one atomic snapshot, so an
order service reserving at that very moment can show a one-off difference; drift is only
reported when several samples taken apart agree on it.

Repair (``--repair``) rebuilds what Redis should say from the system of record:

* a missing ``available`` counter (Redis restarted empty, or a new sku) is set to
  ``on_hand - held by open reservations``;
* a counter that drifted is moved by the drift (INCRBY, so reservations taken meanwhile
  keep their units);
* leftover reservations of orders fulfillment already settled are committed (fulfilled)
  or released (failed).

After Redis restarts empty (no ``inv:epoch``: checkout answers ``SALE_PAUSED``), the
counters are not rebuilt from the stock alone: that would count the units of orders
accepted but not yet processed as available again (issue 12). The order service first
writes those orders' reservations back (``inv:restored``, order_service/orders/restore.py);
then :func:`stock_availability_rebuild` settles what fulfillment already processed, sets
every counter to ``on_hand - held`` and writes ``inv:epoch``: the sale resumes (ADR 0088).
Until ``inv:restored`` is there, repair leaves the missing counters alone.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.db.models import Sum
from prometheus_client import Counter, Gauge

from fulfillment_service.fulfillment.models import LedgerEntry, ProcessedMessage, Stock
from shared.inventory import Inventory, available_key

DRIFT_UNITS = Gauge(
    "fulfillment_stock_drift_units",
    "Redis available + held + sold - received, per drifting sku (0 once repaired)",
    ["sku"],
    multiprocess_mode="mostrecent",
)
DRIFT_SKUS = Gauge(
    "fulfillment_stock_drift_skus",
    "Skus whose stock invariant does not hold (unknown counters included)",
    multiprocess_mode="mostrecent",
)
DRIFT_ABS_UNITS = Gauge(
    "fulfillment_stock_drift_abs_units",
    "Sum over skus of |drift| (units)",
    multiprocess_mode="mostrecent",
)
UNKNOWN_SKUS = Gauge(
    "fulfillment_stock_unknown_skus",
    "Skus with no availability counter in Redis (not sellable until rebuilt)",
    multiprocess_mode="mostrecent",
)
# The gauges above read 0 once --repair has fixed a drift; this remembers that it happened.
REPAIRED_SKUS = Counter(
    "fulfillment_stock_repaired_skus_total",
    "Skus whose Redis availability a repair rebuilt or corrected",
)
LAST_CHECK = Gauge(
    "fulfillment_stock_invariant_last_check_timestamp_seconds",
    "When the invariant was last checked",
    multiprocess_mode="mostrecent",
)

# Clamp at zero: a repair never makes a counter negative.
_INCR_CLAMPED = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v < 0 then redis.call('SET', KEYS[1], 0) return 0 end
return v
"""


@dataclass(frozen=True)
class SkuBalance:
    sku: str
    received: int
    on_hand: int
    sold: int
    available: int | None  # None: the Redis counter is missing
    held: int

    @property
    def drift(self) -> int | None:
        if self.available is None:
            return None
        return self.available + self.held + self.sold - self.received


@dataclass(frozen=True)
class Reservation:
    order_id: str
    lines: dict[str, int]


def _reservations(inventory: Inventory) -> list[Reservation]:
    found = []
    for key in inventory.client.scan_iter(match="inv:res:*", count=1000):
        order_id = key.removeprefix("inv:res:")
        lines = inventory.reservation(order_id)
        if lines:
            found.append(Reservation(order_id, lines))
    return found


def _settled(order_ids: list[str]) -> dict[str, str]:
    ids = []
    for value in order_ids:
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    rows = ProcessedMessage.objects.filter(order_id__in=ids).values_list("order_id", "outcome")
    return {str(order_id): outcome for order_id, outcome in rows}


def stock_balances(*, inventory: Inventory, skus: list[str] | None = None) -> list[SkuBalance]:
    """One sample of the invariant's terms (Redis first, then PostgreSQL: see the docstring)."""
    reservations = _reservations(inventory)
    stock_qs = Stock.objects.all()
    if skus is not None:
        stock_qs = stock_qs.filter(sku__in=skus)
    stock = list(stock_qs.values_list("sku", "received", "on_hand"))
    available = inventory.availability_many([sku for sku, _, _ in stock])
    settled = _settled([r.order_id for r in reservations])
    held: dict[str, int] = {}
    for reservation in reservations:
        if settled.get(reservation.order_id) == ProcessedMessage.Outcome.FULFILLED:
            continue  # sold (in the ledger), its Redis commit just has not happened yet
        for sku, qty in reservation.lines.items():
            held[sku] = held.get(sku, 0) + qty
    sold_qs = LedgerEntry.objects.filter(account=LedgerEntry.Account.SOLD)
    if skus is not None:
        sold_qs = sold_qs.filter(sku__in=skus)
    sold = dict(sold_qs.values("sku").annotate(units=Sum("quantity")).values_list("sku", "units"))
    return [
        SkuBalance(
            sku=sku,
            received=received,
            on_hand=on_hand,
            sold=int(sold.get(sku) or 0),
            available=available.get(sku),
            held=held.get(sku, 0),
        )
        for sku, received, on_hand in stock
    ]


@dataclass
class CheckReport:
    checked: int
    drifting: list[SkuBalance]  # drift confirmed by every sample
    unknown: list[SkuBalance]  # counter missing in Redis
    ledger_mismatch: list[SkuBalance]  # PostgreSQL disagrees with itself (never expected)
    repaired: int = 0
    settled_reservations: int = 0

    @property
    def ok(self) -> bool:
        return not (self.drifting or self.unknown or self.ledger_mismatch)


def stock_invariant_check(
    *,
    inventory: Inventory,
    skus: list[str] | None = None,
    samples: int = 3,
    interval: float = 0.3,
    repair: bool = False,
) -> CheckReport:
    """Check the invariant for every sku (or ``skus``); optionally repair Redis. Exports the
    result as Prometheus gauges."""
    balances = stock_balances(inventory=inventory, skus=skus)
    suspects = {b.sku for b in balances if b.drift not in (0, None)}
    for _ in range(max(0, samples - 1)):
        if not suspects:
            break
        time.sleep(interval)
        again = {b.sku: b for b in stock_balances(inventory=inventory, skus=sorted(suspects))}
        previous = {b.sku: b.drift for b in balances}
        suspects = {s for s in suspects if s in again and again[s].drift == previous[s]}
        balances = [again.get(b.sku, b) for b in balances]
    report = CheckReport(
        checked=len(balances),
        drifting=[b for b in balances if b.sku in suspects],
        unknown=[b for b in balances if b.available is None],
        ledger_mismatch=[b for b in balances if b.on_hand != b.received - b.sold],
    )
    if repair:
        report.settled_reservations = reservations_settle(inventory=inventory)
        to_fix = report.drifting + report.unknown
        missing = [b.sku for b in report.unknown]
        if inventory.epoch() is None:
            # Redis came back empty: only the coordinated rebuild may set counters, once
            # the order service has restored its reservations (stock_availability_rebuild).
            missing, to_fix = [], []
            report.drifting = []
        if missing:
            stock_available_rebuild(skus=missing, inventory=inventory)
        incr = inventory.client.register_script(_INCR_CLAMPED)
        for balance in report.drifting:
            incr(keys=[available_key(balance.sku)], args=[-balance.drift])
        report.repaired = len(to_fix)
    _export(report)
    return report


def _export(report: CheckReport) -> None:
    for balance in report.drifting:
        DRIFT_UNITS.labels(sku=balance.sku).set(0 if report.repaired else balance.drift)
    drifting_skus = {b.sku for b in report.drifting}
    for sample in list(DRIFT_UNITS.collect()[0].samples):
        sku = sample.labels.get("sku")
        if sku and sku not in drifting_skus:
            DRIFT_UNITS.labels(sku=sku).set(0)
    bad = 0 if report.repaired else len(report.drifting) + len(report.unknown)
    DRIFT_SKUS.set(bad)
    DRIFT_ABS_UNITS.set(0 if report.repaired else sum(abs(b.drift) for b in report.drifting))
    UNKNOWN_SKUS.set(0 if report.repaired else len(report.unknown))
    REPAIRED_SKUS.inc(report.repaired)
    LAST_CHECK.set(time.time())


def reservations_settle(*, inventory: Inventory) -> int:
    """Commit or release reservations of orders fulfillment already decided."""
    reservations = _reservations(inventory)
    settled = _settled([r.order_id for r in reservations])
    for order_id, outcome in settled.items():
        if outcome == ProcessedMessage.Outcome.FULFILLED:
            inventory.commit(reservation_id=order_id)
        else:
            inventory.release(reservation_id=order_id)
    return len(settled)


def stock_available_rebuild(*, skus: list[str], inventory: Inventory) -> dict[str, int]:
    """Set availability counters from the system of record: on hand minus what open
    reservations (of orders not yet processed) hold."""
    reservations = _reservations(inventory)
    settled = _settled([r.order_id for r in reservations])
    held: dict[str, int] = {}
    for reservation in reservations:
        # A failed order's reservation is still held: its release will add the units back.
        if settled.get(reservation.order_id) == ProcessedMessage.Outcome.FULFILLED:
            continue
        for sku, qty in reservation.lines.items():
            held[sku] = held.get(sku, 0) + qty
    on_hand = dict(Stock.objects.filter(sku__in=skus).values_list("sku", "on_hand"))
    values = {sku: max(0, on_hand[sku] - held.get(sku, 0)) for sku in skus if sku in on_hand}
    inventory.set_available_many(values)
    return values


@dataclass(frozen=True)
class RebuildResult:
    state: str  # "open" (nothing to do) | "waiting" (for the order service) | "rebuilt"
    skus: int = 0
    held_units: int = 0


def stock_availability_rebuild(*, inventory: Inventory) -> RebuildResult:
    """After Redis came back empty: once the order service restored the reservations of
    its accepted-but-unsettled orders, settle the ones fulfillment already processed, set
    every counter from the stock (``on_hand - held``) and open the sale (``inv:epoch``)."""
    epoch, restored = inventory.markers()
    if epoch is not None:
        return RebuildResult(state="open")
    if restored is None:
        return RebuildResult(state="waiting")
    reservations_settle(inventory=inventory)
    skus = list(Stock.objects.values_list("sku", flat=True))
    values = stock_available_rebuild(skus=skus, inventory=inventory)
    on_hand = dict(Stock.objects.values_list("sku", "on_hand"))
    held = sum(max(0, on_hand.get(sku, 0) - value) for sku, value in values.items())
    if not inventory.epoch_set(epoch=f"{time.time():.3f}", restored=restored):
        return RebuildResult(state="waiting")  # Redis restarted again meanwhile
    return RebuildResult(state="rebuilt", skus=len(values), held_units=held)
