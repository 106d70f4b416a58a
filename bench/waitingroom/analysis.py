"""From the shoppers' records, the edge's access log and the stock samples to the figures.

Pure functions (no I/O but reading the log), so tests check them on records made by hand.

- **Order budget**: the order app's budgeted requests (``/api/``, proxied upstream) per 1 s
  window, by bench.spike.analysis (the edge log, bucketed by arrival), against
  ``flashops.edgemesh.order_per_window`` (rate + burst of every edge instance). The room's
  own paths (``/queue/``) reach the order app outside that budget (SPEC13): counted apart.
- **Fairness**: Spearman's rank correlation (scipy.stats.spearmanr) between arrival (the
  generator's send time of the first join) and ticket: for the shoppers who arrived after
  the opening it should be ~1 (first come, first served), for the pre-queue ~0 with a large
  p-value (the shuffle is independent of arrival). The admission order is ticket order by
  construction (admitted_through is a watermark), so the correlation with the time each
  shopper *saw* it was admitted is given too (that one carries the polling's noise).
- **Sold out**: ``last_unit_at`` is the first stock sample (every 50 ms) where the room's
  skus had no unreserved unit left. A shopper waiting then (joined before it, not admitted
  before it) is told when an answer first says sold out (the status document, a join, a
  pass or a checkout). Its delay is that moment minus ``last_unit_at``. The room's own part
  is ``stale_s``: the latest poll *sent* after the last unit that was still answered "not
  sold out"; the rest is the shopper's poll cadence (the generator's, when it lags).
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

from bench.spike.analysis import analyse, percentile, read_log


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def spearman(x: list[float], y: list[float]) -> dict:
    """rho and its two-sided p-value; None for fewer than 3 pairs."""
    if len(x) < 3:
        return {"n": len(x), "rho": None, "p_value": None}
    from scipy.stats import spearmanr

    result = spearmanr(x, y)
    return {
        "n": len(x),
        "rho": _rounded(float(result.statistic), 4),
        "p_value": _rounded(float(result.pvalue), 4),
    }


def fairness(records: list[dict]) -> dict:
    with_ticket = [r for r in records if r["ticket"] is not None and r["join_sent"] is not None]
    post = sorted((r for r in with_ticket if r["group"] == "post"), key=lambda r: r["join_sent"])
    pre = sorted((r for r in with_ticket if r["group"] == "pre"), key=lambda r: r["join_sent"])
    post_admitted = [r for r in post if r["admitted_at"] is not None]
    admitted = [r for r in with_ticket if r["admitted_at"] is not None]
    inversions = sum(1 for a, b in itertools.pairwise(post) if b["ticket"] < a["ticket"])
    tickets_pre = sorted(r["ticket"] for r in pre)
    return {
        "post_opening_arrival_vs_ticket": spearman(
            [r["join_sent"] for r in post], [r["ticket"] for r in post]
        ),
        # the same for the shoppers whose first join was answered: a join that timed out
        # and was sent again may have been served after later arrivals' (overload)
        "post_opening_arrival_vs_ticket_first_try": spearman(
            [r["join_sent"] for r in post if not r["join_failures"]],
            [r["ticket"] for r in post if not r["join_failures"]],
        ),
        "post_opening_arrival_vs_admission_seen": spearman(
            [r["join_sent"] for r in post_admitted], [r["admitted_at"] for r in post_admitted]
        ),
        "post_opening_adjacent_inversions": inversions,
        # Admission follows the tickets (every admitted shopper, the pre-queue's too).
        "ticket_vs_admission_seen": spearman(
            [r["ticket"] for r in admitted], [r["admitted_at"] for r in admitted]
        ),
        "prequeue_arrival_vs_ticket": spearman(
            [r["join_sent"] for r in pre], [r["ticket"] for r in pre]
        ),
        # The pre-queue gets tickets 1..P, all before every later arrival's.
        "prequeue_tickets_are_1_to_P": tickets_pre == list(range(1, len(pre) + 1)),
        "prequeue_all_before_post": (not pre or not post)
        or max(tickets_pre) < min(r["ticket"] for r in post),
        "duplicate_tickets": len(with_ticket) - len({r["ticket"] for r in with_ticket}),
        # admitted_through is a watermark: the admitted are tickets 1..K but for those told
        # "sold out" before they polled again
        "not_admitted_below_highest_admitted": _holes(with_ticket, admitted),
    }


def _holes(with_ticket: list[dict], admitted: list[dict]) -> int:
    top = max((r["ticket"] for r in admitted), default=0)
    return sum(1 for r in with_ticket if r["ticket"] <= top and r["admitted_at"] is None)


def last_unit_at(samples: list[dict]) -> float | None:
    """The first sample time at which no unit of the room's skus was left unreserved."""
    for s in samples:
        if s.get("units_left") == 0:
            return float(s["t"])
    return None


def sold_out(records: list[dict], *, last_unit: float | None) -> dict:
    if last_unit is None:
        return {"last_unit_at": None, "waiting_at_last_unit": 0}
    waiting = [r for r in records if r["join_at"] is not None and r["join_at"] <= last_unit
               and (r["admitted_at"] is None or r["admitted_at"] > last_unit)]  # fmt: skip
    told = [r["sold_out_at"] - last_unit for r in waiting if r["sold_out_at"] is not None]
    late_join = [r for r in records if r["join_at"] is not None and r["join_at"] > last_unit]
    stale = [r["last_open_poll_sent"] - last_unit for r in records
             if (r["last_open_poll_sent"] or 0) > last_unit]  # fmt: skip
    return {
        "last_unit_at": round(last_unit, 3),
        "waiting_at_last_unit": len(waiting),
        "told": len(told),
        "not_told": len(waiting) - len(told),
        "told_how": dict(Counter(r["sold_out_how"] for r in waiting if r["sold_out_how"])),
        "delay_s": _spread(told) | {"over_2s": sum(1 for d in told if d > 2.0)},
        "stale_s": _rounded(max(stale, default=0.0)),
        "polls_answered_open_after_last_unit": len(stale),
        **_split(waiting, last_unit=last_unit),
        "joined_after_last_unit": len(late_join),
        "joined_after_told": sum(1 for r in late_join if r["sold_out_at"] is not None),
    }


def _spread(values: list[float]) -> dict:
    return {"p50": _rounded(percentile(values, 50)), "p99": _rounded(percentile(values, 99)),
            "max": _rounded(max(values, default=None))}  # fmt: skip


def _split(waiting: list[dict], *, last_unit: float) -> dict:
    """Each told shopper's delay in two: until its first poll sent after the last unit (its
    poll phase and cadence: the generator's part) and from that poll to the answer that
    said sold out (the document's age at the edge: the room's part). And when the first
    document saying sold out was rendered at the origin."""
    phase, room, rendered, open_answers = [], [], [], []
    for r in waiting:
        polls = r.get("recent_polls") or []
        after = [p for p in polls if p[0] >= last_unit]
        open_answers += [p[1] - last_unit for p in polls if not p[2] and p[1] > last_unit]
        told = [p for p in polls if p[2]]
        if not after or not told or r["sold_out_how"] != "status":
            continue
        phase.append(after[0][0] - last_unit)
        room.append(told[0][1] - after[0][0])
        if told[0][3] is not None:
            rendered.append(told[0][3] - last_unit)
    return {
        "poll_phase_s": _spread(phase),
        "room_part_s": _spread(room),
        "last_open_answer_s": _rounded(max(open_answers, default=0.0)),
        "first_sold_out_document_rendered_s": _rounded(min(rendered, default=None)),
    }


def waits(records: list[dict], *, opens_at: float) -> dict:
    """Join (or the opening, for the pre-queue) to the first answer that admitted the shopper."""
    values = [
        r["admitted_at"] - max(r["join_at"], opens_at)
        for r in records
        if r["admitted_at"] is not None and r["join_at"] is not None
    ]
    return {
        "admitted": len(values),
        "p50_s": _rounded(percentile(values, 50), 2),
        "p99_s": _rounded(percentile(values, 99), 2),
        "max_s": _rounded(max(values, default=None), 2),
    }


def shoppers(records: list[dict]) -> dict:
    outcomes = Counter(r["outcome"] for r in records)
    admitted = [r for r in records if r["pass_at"] is not None]
    return {
        "total": len(records),
        "joined": sum(1 for r in records if r["join_at"] is not None),
        "with_ticket": sum(1 for r in records if r["ticket"] is not None),
        "took_pass": len(admitted),
        "bought": sum(1 for r in records if r["accepted_at"] is not None),
        "admitted_not_bought": sum(1 for r in admitted if r["accepted_at"] is None),
        "outcomes": dict(sorted(outcomes.items())),
        "admitted_429": sum(r["api_429"] for r in admitted),
        "admitted_shoppers_with_a_429": sum(1 for r in admitted if r["api_429"]),
        "checkout_statuses": dict(
            Counter(f"{s} {c}".strip() for r in records for _, s, c in r["checkout"])
        ),
        "join_failures": sum(r["join_failures"] for r in records),
        "errors": sum(len(r["errors"]) for r in records),
        "error_examples": sorted({e for r in records for e in r["errors"]})[:10],
    }


def cadence(
    *, poll_times: list[float], gaps: dict[str, int], poll_ms: int, since: float, until: float
) -> dict:
    """The generator's own figure: polls per second achieved and the gaps between polls."""
    per_s = Counter(math.floor(t - since) for t in poll_times if since <= t < until)
    return {
        "polls": len(poll_times),
        "max_polls_per_s": max(per_s.values(), default=0),
        "gap_s": {"target": poll_ms / 1000, **histogram(gaps)},
        "polls_per_s": [per_s.get(s, 0) for s in range(max(per_s, default=-1) + 1)],
    }


def histogram(bins: dict[str, int]) -> dict:
    """p50 / p99 / max of a histogram of 50 ms bins, each counted at its upper edge (a value
    is at most the figure given)."""
    expanded = [(int(k) + 1) * 0.05 for k, n in bins.items() for _ in range(n)]
    return {"p50": _rounded(percentile(expanded, 50), 2),
            "p99": _rounded(percentile(expanded, 99), 2),
            "max": _rounded(max(expanded, default=None), 2)}  # fmt: skip


def queue_paths(path: Path, *, t0: float, since: float, until: float) -> dict:
    """Per second, the room's requests at the edge and those that reached the order app."""
    edge: dict[str, Counter[int]] = defaultdict(Counter)
    origin: dict[str, Counter[int]] = defaultdict(Counter)
    statuses: Counter[str] = Counter()
    times: dict[str, list[float]] = defaultdict(list)
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            uri = entry.get("uri", "")
            if not uri.startswith("/queue/"):
                continue
            at = datetime.fromisoformat(entry["time"]).timestamp()
            if not since - 1 <= at <= until + 1:
                continue
            kind = uri.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
            second = math.floor(at + 0.5 - float(entry["rt"]) - t0)
            edge[kind][second] += 1
            times[kind].append(float(entry["rt"]))
            statuses[f"{kind} {entry['status']}"] += 1
            if entry.get("cache"):
                statuses[f"{kind} cache {entry['cache']}"] += 1
            upstream = entry.get("upstream", "")
            if upstream and upstream != "-":
                origin[kind][second] += 1
    return {
        kind: {
            "edge_requests": sum(edge[kind].values()),
            "edge_max_per_s": max(edge[kind].values(), default=0),
            "origin_requests": sum(origin[kind].values()),
            "origin_max_per_s": max(origin[kind].values(), default=0),
            "p50_s": _rounded(percentile(times[kind], 50)),
            "p99_s": _rounded(percentile(times[kind], 99)),
        }
        for kind in sorted(edge)
    } | {"statuses": dict(sorted(statuses.items()))}


def order_budget(
    path: Path, *, t0: float, since: float, until: float, budget: int, limit: dict
) -> dict:
    """The order app's budgeted requests per 1 s window, by the spike's own analysis."""
    rows = read_log(path, t0=t0, since=since, until=until)
    seconds = max(1, math.ceil(until - t0))
    figures = analyse(
        rows=rows, samples=[], t0=t0, spike_s=seconds, load_end=until, phases=[], order_limit=limit
    )
    series = figures["series"]["order_app_per_s"]
    return {
        "max_per_1s_window": figures["order_app"]["max_per_1s_window"],
        "budget_per_1s_window": budget,
        "within_budget": figures["order_app"]["max_per_1s_window"] <= budget,
        "limit": limit,
        "api_requests": len(rows),
        "api_429_at_edge": sum(1 for r in rows if r["status"] == 429),
        "per_s": dict(zip(figures["series"]["second"], series, strict=True)),
    }
