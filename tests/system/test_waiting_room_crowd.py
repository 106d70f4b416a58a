"""The waiting room under a crowd (issue 13), short: 1,000 shoppers, 50 units, the real platform.

``python -m bench.waitingroom`` as a user runs it (bench/waitingroom): the platform with its
own Redis, RabbitMQ and databases, a room over two demo skus of 30 + 20 units, 25 shoppers in
the pre-queue and 975 arriving after the opening. The run must keep every promise: the order
app within its budget in every 1 s window, tickets in arrival order after the opening and the
pre-queue independent of arrival, every waiting shopper told sold out within 2 s of the last
unit, all 50 units sold and none oversold, the audit clean. The figures' arithmetic is checked
exactly on records and a log written here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.waitingroom import analysis
from bench.waitingroom.crowd import check_loopback, plan_arrivals, shopper_address

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z: the room opens


def _record(index: int, group: str, **fields) -> dict:
    base = {
        "index": index, "group": group, "planned_at": 0.0, "join_sent": None, "join_at": None,
        "join_status": 200, "join_failures": 0, "ticket": None, "ticket_at": None,
        "admitted_at": None, "pass_at": None, "pass_status": None, "checkout": [],
        "accepted_at": None, "order_id": None, "sku": None, "api_429": 0, "sold_out_at": None,
        "sold_out_how": None, "polls": 0, "last_open_poll_sent": None, "recent_polls": [],
        "outcome": "bought",
        "errors": [],
    }  # fmt: skip
    return base | fields


def test_arrivals_are_planned_in_order_with_an_address_each():
    plan = plan_arrivals(prequeue=3, post=4, prequeue_from=T0 - 10, opens_at=T0,
                         post_until=T0 + 5, seed=7)  # fmt: skip
    assert [a.index for a in plan] == list(range(7))
    assert [a.group for a in plan] == ["pre"] * 3 + ["post"] * 4
    assert all(T0 - 10 <= a.at < T0 - 0.5 for a in plan[:3])
    assert all(T0 <= a.at < T0 + 5 for a in plan[3:])
    assert [a.at for a in plan] == sorted(a.at for a in plan)
    addresses = [shopper_address(i) for i in range(70_000)]
    assert len(set(addresses)) == 70_000
    assert all(a.startswith("127.") and not a.endswith((".0", ".255")) for a in addresses)
    check_loopback("http://127.0.0.1:8080")
    with pytest.raises(ValueError, match="loopback"):
        check_loopback("http://10.0.0.1:8080")


def test_fairness_sold_out_and_waits_from_records():
    records = [
        # the pre-queue: arrived 1, 2, 3, got tickets 2, 3, 1 at the opening
        _record(0, "pre", join_sent=T0 - 3, join_at=T0 - 2.9, ticket=2, admitted_at=T0 + 0.5,
                pass_at=T0 + 0.6, accepted_at=T0 + 0.7, order_id="o0"),
        _record(1, "pre", join_sent=T0 - 2, join_at=T0 - 1.9, ticket=3, admitted_at=T0 + 1.2,
                pass_at=T0 + 1.3, accepted_at=T0 + 1.4, order_id="o1", api_429=1),
        _record(2, "pre", join_sent=T0 - 1, join_at=T0 - 0.9, ticket=1, admitted_at=T0 + 0.2,
                pass_at=T0 + 0.3, accepted_at=T0 + 0.4, order_id="o2"),
        # after the opening: tickets in arrival order; the last two wait and are told
        _record(3, "post", join_sent=T0 + 1, join_at=T0 + 1.1, ticket=4, admitted_at=T0 + 2,
                pass_at=T0 + 2.1, accepted_at=T0 + 2.2, order_id="o3"),
        _record(4, "post", join_sent=T0 + 2, join_at=T0 + 2.1, ticket=5,
                sold_out_at=T0 + 4.0, sold_out_how="status", last_open_poll_sent=T0 + 2.9,
                outcome="told_sold_out", recent_polls=[[T0 + 2.9, T0 + 2.95, False, T0 + 2.5],
                                                       [T0 + 3.9, T0 + 4.0, True, T0 + 3.6]]),
        _record(5, "post", join_sent=T0 + 2.5, join_at=T0 + 2.6, ticket=6,
                sold_out_at=T0 + 5.5, sold_out_how="status", last_open_poll_sent=T0 + 3.5,
                outcome="told_sold_out", recent_polls=[[T0 + 3.5, T0 + 3.55, False, T0 + 2.9],
                                                       [T0 + 5.4, T0 + 5.5, True, T0 + 5.2]]),
        # joined after the last unit: told at once by its join
        _record(6, "post", join_sent=T0 + 6, join_at=T0 + 6.1, ticket=7,
                sold_out_at=T0 + 6.1, sold_out_how="join", outcome="told_sold_out"),
    ]  # fmt: skip
    fair = analysis.fairness(records)
    assert fair["post_opening_arrival_vs_ticket"]["rho"] == 1.0
    assert fair["post_opening_arrival_vs_ticket"]["n"] == 4
    assert fair["post_opening_adjacent_inversions"] == 0
    assert fair["prequeue_arrival_vs_ticket"]["rho"] == -0.5
    assert fair["prequeue_tickets_are_1_to_P"] is True
    assert fair["prequeue_all_before_post"] is True
    assert fair["duplicate_tickets"] == 0

    samples = [{"t": T0 + 2.0, "units_left": 1}, {"t": T0 + 3.0, "units_left": 0}]
    assert analysis.last_unit_at(samples) == T0 + 3.0
    sold = analysis.sold_out(records, last_unit=T0 + 3.0)
    assert sold["waiting_at_last_unit"] == 2
    assert (sold["told"], sold["not_told"]) == (2, 0)
    assert sold["delay_s"] == {"p50": 1.0, "p99": 2.5, "max": 2.5, "over_2s": 1}
    assert sold["stale_s"] == 0.5  # shopper 5's poll sent at t+3.5 still said "open"
    assert sold["polls_answered_open_after_last_unit"] == 1
    assert (sold["joined_after_last_unit"], sold["joined_after_told"]) == (1, 1)
    assert sold["told_how"] == {"status": 2}
    # shopper 4: first poll after the last unit sent at +0.9, told 0.1 s later; shopper 5:
    # polled at +0.5 and was answered "open" (a document rendered before the last unit)
    assert sold["poll_phase_s"] == {"p50": 0.5, "p99": 0.9, "max": 0.9}
    assert sold["room_part_s"] == {"p50": 0.1, "p99": 2.0, "max": 2.0}
    assert sold["last_open_answer_s"] == 0.55
    assert sold["first_sold_out_document_rendered_s"] == 0.6
    assert analysis.histogram({"1": 2, "19": 1}) == {"p50": 0.1, "p99": 1.0, "max": 1.0}

    waits = analysis.waits(records, opens_at=T0)
    assert waits["admitted"] == 4
    assert (waits["p50_s"], waits["max_s"]) == (0.5, 1.2)
    people = analysis.shoppers(records)
    assert (people["took_pass"], people["bought"], people["admitted_not_bought"]) == (4, 4, 0)
    assert (people["admitted_429"], people["admitted_shoppers_with_a_429"]) == (1, 1)
    assert people["outcomes"] == {"bought": 4, "told_sold_out": 3}


def _line(at: str, uri: str, status: int, rt: float, upstream: str = "127.0.0.1:1",
          cache: str = "") -> str:  # fmt: skip
    return json.dumps({"time": at, "uri": uri, "status": status, "rt": rt,
                       "upstream": upstream, "method": "GET", "cache": cache})  # fmt: skip


def test_order_budget_and_queue_paths_from_the_edge_log(tmp_path):
    log = tmp_path / "access.log"
    lines = [
        _line("2027-01-15T08:00:00+00:00", "/api/orders", 202, 0.010),
        _line("2027-01-15T08:00:00+00:00", "/api/orders", 202, 0.010),
        _line("2027-01-15T08:00:00+00:00", "/api/orders", 429, 0.001, ""),  # the edge's own
        _line("2027-01-15T08:00:01+00:00", "/api/orders/abc", 200, 0.005),
        _line("2027-01-15T08:00:00+00:00", "/queue/sale/status", 200, 0.002, "127.0.0.1:1",
              "EXPIRED"),
        _line("2027-01-15T08:00:00+00:00", "/queue/sale/status", 200, 0.000, "", "HIT"),
        _line("2027-01-15T08:00:00+00:00", "/queue/sale/status", 200, 0.000, "", "HIT"),
        _line("2027-01-15T08:00:01+00:00", "/queue/sale/join", 200, 0.020),
        _line("2027-01-15T08:00:01+00:00", "/queue/sale/pass", 200, 0.020),
        "not json",
    ]  # fmt: skip
    log.write_text("\n".join(lines) + "\n")
    budget = analysis.order_budget(log, t0=T0, since=T0, until=T0 + 2, budget=2,
                                   limit={"rate": "1r/s", "burst": 0})  # fmt: skip
    assert budget["max_per_1s_window"] == 2
    assert budget["within_budget"] is True
    assert (budget["api_requests"], budget["api_429_at_edge"]) == (4, 1)
    assert budget["per_s"] == {0: 2, 1: 1}
    paths = analysis.queue_paths(log, t0=T0, since=T0, until=T0 + 2)
    assert paths["status"] == {"edge_requests": 3, "edge_max_per_s": 3, "origin_requests": 1,
                               "origin_max_per_s": 1, "p50_s": 0.0, "p99_s": 0.002}  # fmt: skip
    assert paths["join"]["origin_requests"] == 1
    assert paths["pass"]["edge_requests"] == 1
    cad = analysis.cadence(poll_times=[T0 + 0.1, T0 + 0.2, T0 + 1.5], gaps={"20": 2, "21": 1},
                           poll_ms=1000, since=T0, until=T0 + 2)  # fmt: skip
    assert cad["polls_per_s"] == [2, 1]
    assert cad["gap_s"] == {"target": 1.0, "p50": 1.05, "p99": 1.1, "max": 1.1}


@pytest.fixture(scope="module")
def crowd_run(tmp_path_factory) -> dict:
    """One bench run for the tests below (about 90 s: the platform's start is most of it)."""
    out = tmp_path_factory.mktemp("waitingroom")
    run = subprocess.run(
        [sys.executable, "-m", "bench.waitingroom", "--shoppers", "1000", "--prequeue", "25",
         "--prequeue-s", "5", "--arrive-s", "8", "--tail-s", "12",
         "--skus", "SKU-000130,SKU-000480", "--admission-rate", "20", "--workers", "2",
         "--db-suffix", "wrci", "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=580,
    )  # fmt: skip
    assert run.returncode in (0, 1), run.stdout[-4000:] + run.stderr[-4000:]
    result = json.loads((out / "result.json").read_text())
    result["_summary"] = (out / "summary.txt").read_text()
    result["_returncode"] = run.returncode
    return result


@pytest.mark.system
@pytest.mark.timeout(600)
def test_a_crowd_of_1000_through_the_room_keeps_every_promise(crowd_run):
    result = crowd_run
    print(result["_summary"])  # shown by pytest when an assertion fails
    f = result["figures"]
    assert result["units_at_start"] == 50  # demo stock: 30 + 20 units
    assert result["units_sold"] == 50
    assert result["units_left_at_end"] == 0
    assert result["oversold_units"] == 0
    assert result["audit"]["ok"] is True
    assert f["order_budget"]["within_budget"] is True
    assert f["shoppers"]["joined"] == 1000
    assert f["shoppers"]["with_ticket"] == 1000
    assert f["shoppers"]["admitted_429"] == 0
    assert f["fairness"]["duplicate_tickets"] == 0
    assert f["fairness"]["prequeue_tickets_are_1_to_P"] is True
    assert f["fairness"]["prequeue_all_before_post"] is True
    assert f["fairness"]["post_opening_arrival_vs_ticket"]["rho"] >= 0.99
    assert f["fairness"]["prequeue_arrival_vs_ticket"]["p_value"] > 0.001
    # shoppers who came after the opening were admitted too; admission follows the tickets,
    # each shopper seeing it at its next poll (up to a poll period and a cached document
    # later), so over the few seconds of this sale the correlation is clear but far from 1
    assert f["fairness"]["post_opening_arrival_vs_admission_seen"]["n"] > 0
    assert f["fairness"]["ticket_vs_admission_seen"]["rho"] > 0.3
    sold = f["sold_out"]
    assert sold["waiting_at_last_unit"] > 0
    assert sold["not_told"] == 0
    verdicts = {k: v for k, v in result["verdicts"].items() if k != "told_sold_out_within_2s"}
    assert verdicts == dict.fromkeys(verdicts, True)
    assert result["_returncode"] == 0


@pytest.mark.system
@pytest.mark.timeout(600)
def test_every_waiting_shopper_is_told_sold_out_within_2s(crowd_run):
    """Issue 13's bound, apart: the delay is the document's age at the edge (the room's
    part, ``stale_s``: at most half a second, the edge's cache key changes every 0.5 s)
    plus the shopper's poll gap (``poll_ms``, 1 s +- 10 %)."""
    print(crowd_run["_summary"])
    sold = crowd_run["figures"]["sold_out"]
    assert crowd_run["figures"]["generator"]["gap_s"]["p99"] <= 1.2  # the crowd kept time
    assert sold["delay_s"]["max"] <= 2.0, sold
