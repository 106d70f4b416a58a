"""Reads of the waiting room, all from Redis (ADR 0104): the buying paths' guard lookup,
the shared status document, the list of rooms."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from order_service.waitingroom import state

POLL_MS = 1000


@dataclass(frozen=True)
class RoomGuard:
    slug: str
    accounts_only: bool


def rooms_for_skus(*, skus: list[str]) -> dict[str, RoomGuard]:
    """The guarding room of each of ``skus`` that has one (rooms not closed): one MGET."""
    return {
        sku: RoomGuard(slug=g["slug"], accounts_only=bool(g.get("accounts_only")))
        for sku, g in state.guards_get(list(skus)).items()
    }


def status_document(*, slug: str, status: state.RoomStatus) -> dict[str, Any]:
    return {
        "room": slug,
        "state": status.state,
        "opens_at": _iso(status.opens_at),
        "admitted_through": status.admitted_through,
        "last_ticket": status.last_ticket,
        "queue_length": status.queue_length,
        "in_flight": status.in_flight,
        "units_left": status.units_left,
        "rate": status.rate,
        "poll_ms": POLL_MS,
        "server_time": _iso(status.server_time),
    }


def _iso(unix: float) -> str | None:
    if not unix:
        return None
    return datetime.fromtimestamp(unix, UTC).isoformat().replace("+00:00", "Z")


def room_status(*, slug: str) -> state.RoomStatus | None:
    """The room after one tick (the tick is how the room advances: ADR 0104); None for an
    unknown room."""
    return state.run_script("tick", slug=slug)


def rooms_list(*, include_closed: bool = False) -> list[dict[str, Any]]:
    """Every mirrored room (not closed, unless asked), as ``GET /queue/rooms`` lists them."""
    client = state.client()
    slugs = state.room_slugs()
    pipe = client.pipeline(transaction=False)
    for slug in slugs:
        pipe.hgetall(state.room_key(slug, "conf"))
    rooms = []
    for slug, conf in zip(slugs, pipe.execute(), strict=True):
        if not conf or (conf.get("state") == "closed" and not include_closed):
            continue
        opens = float(conf.get("opens_at") or 0)
        derived = conf.get("state", "closed")
        if derived == "open" and opens and opens > time.time():
            derived = "prequeue"
        rooms.append(
            {
                "slug": slug,
                "title": conf.get("title", ""),
                "skus": [s for s in conf.get("skus", "").split(",") if s],
                "state": derived,
                "opens_at": _iso(opens),
                "accounts_only": conf.get("accounts_only") == "1",
                "queue_url": f"/waiting-room/{slug}",
            }
        )
    return rooms


def room_waits(*, slug: str) -> tuple[float | None, float | None]:
    """Median of the last 1000 admitted shoppers' waits, and the longest wait so far (s)."""
    client = state.client()
    pipe = client.pipeline(transaction=False)
    pipe.lrange(state.room_key(slug, "waits"), 0, -1)
    pipe.hget(state.room_key(slug, "run"), "max_wait")
    waits_raw, max_raw = pipe.execute()
    waits = sorted(float(w) for w in waits_raw)
    median = waits[len(waits) // 2] if waits else None
    return median, (float(max_raw) if max_raw is not None and waits else None)


def rooms_live() -> list[dict[str, Any]]:
    """Every mirrored room's status now (one tick each): the admin's and the metrics'."""
    out = []
    for slug in state.room_slugs():
        status = room_status(slug=slug)
        if status is not None:
            out.append(status_document(slug=slug, status=status))
    return out
