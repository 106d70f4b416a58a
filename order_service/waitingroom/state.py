"""The waiting room's live state in the inventory Redis: keys, scripts, parsed answers.

Every hot path of the room (join, pass, status, the buying paths' guard) reads and writes
here, never PostgreSQL (ADR 0104). The scripts (``lua/``) run the room's tick atomically:
freeze the pre-queue at the opening, expire in_flight, admit at the rate under the stock
cap (ADR 0106). Their clock is Redis's ``TIME``, so every process agrees on it.

Keys (``{slug}`` is a hash tag: one room's keys stay in one slot):
``wr:{slug}:conf`` definition, ``wr:{slug}:run`` counters, ``wr:{slug}:pre`` pre-queue,
``wr:{slug}:holders``, ``wr:{slug}:tickets``, ``wr:{slug}:inflight``, ``wr:{slug}:waits``;
``wr:sku:{SKU}`` -> the guarding room (JSON) for each sku of a room not closed;
``wr:rooms`` the set of mirrored slugs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import redis

from order_service.orders.stores import inventory
from order_service.waitingroom.metrics import WAIT_SECONDS
from shared.inventory import available_key

ROOMS_KEY = "wr:rooms"
LUA = Path(__file__).resolve().parent / "lua"
ROOM_KEYS = ("conf", "run", "pre", "holders", "tickets", "inflight", "waits")


def room_key(slug: str, part: str) -> str:
    return f"wr:{{{slug}}}:{part}"


def sku_key(sku: str) -> str:
    return f"wr:sku:{{{sku}}}"


def client() -> redis.Redis:
    return inventory().client


@cache
def _script(name: str):
    source = (LUA / "room.lua").read_text() + "\n" + (LUA / f"{name}.lua").read_text()
    return client().register_script(source)


@cache
def _done_script():
    return client().register_script((LUA / "done.lua").read_text())


@dataclass(frozen=True)
class RoomStatus:
    """What a script answered: ``kind`` (STATUS, TICKET, PRE, OK, NOT_YET, LOST, ...), the
    holder's ticket and one extra value, and the room's status after the tick."""

    kind: str
    ticket: int | None
    extra: str
    state: str
    opens_at: float
    admitted_through: int
    last_ticket: int
    queue_length: int
    in_flight: int
    units_left: int | None
    rate: float
    server_time: float
    waits: list[float] = field(default_factory=list)


def _parse(raw: list[str]) -> RoomStatus | None:
    if raw[0] == "UNKNOWN":
        return None
    return RoomStatus(
        kind=raw[0],
        ticket=int(raw[1]) if raw[1] else None,
        extra=raw[2],
        state=raw[3],
        opens_at=float(raw[4]),
        admitted_through=int(raw[5]),
        last_ticket=int(raw[6]),
        queue_length=int(raw[7]),
        in_flight=int(raw[8]),
        units_left=int(raw[9]) if raw[9] else None,
        rate=float(raw[10]),
        server_time=float(raw[11]),
        waits=[float(w) for w in raw[12:]],
    )


def _keys(slug: str, skus: list[str]) -> list[str]:
    return [room_key(slug, part) for part in ROOM_KEYS] + [available_key(s) for s in skus]


def room_slugs() -> list[str]:
    """Every mirrored room's slug, sorted."""
    return sorted(str(s) for s in client().smembers(ROOMS_KEY))


def room_skus(slug: str) -> list[str] | None:
    """The skus of a mirrored room (None: no such room in Redis)."""
    raw = client().hget(room_key(slug, "conf"), "skus")
    if raw is None:
        return None
    return [s for s in str(raw).split(",") if s]


@dataclass(frozen=True)
class RoomConf:
    skus: list[str]
    accounts_only: bool


def room_conf(slug: str) -> RoomConf | None:
    """What a shopper's request needs of the definition (None: no such room in Redis)."""
    skus, accounts_only = client().hmget(room_key(slug, "conf"), ["skus", "accounts_only"])
    if skus is None:
        return None
    return RoomConf(skus=[s for s in str(skus).split(",") if s], accounts_only=accounts_only == "1")


def run_script(
    name: str, *, slug: str, args: list[str] | None = None, skus: list[str] | None = None
) -> RoomStatus | None:
    """Run ``tick``, ``join`` or ``pass`` for one room (None: unknown room). Two round
    trips unless the caller read the room's skus already: the skus (for the availability
    keys), then the script."""
    if skus is None:
        skus = room_skus(slug)
    if skus is None:
        return None
    status = _parse(_script(name)(keys=_keys(slug, skus), args=args or []))
    # Admission happens in whichever script ticked: observe the waits of those it let in.
    for wait in status.waits if status else ():
        WAIT_SECONDS.labels(room=slug).observe(wait)
    return status


def holder_done(*, slug: str, holder: str) -> bool:
    return bool(
        _done_script()(keys=[room_key(slug, "run"), room_key(slug, "inflight")], args=[holder])
    )


def guards_get(skus: list[str]) -> dict[str, dict]:
    """The guarding room of each sku that has one: ``{sku: {"slug", "accounts_only"}}``."""
    if not skus:
        return {}
    values = client().mget([sku_key(s) for s in skus])
    return {sku: json.loads(v) for sku, v in zip(skus, values, strict=True) if v}
