"""Writes of the waiting room: definitions (DB + Redis mirror), joining, passes, admission.

The definition lives in PostgreSQL (models.WaitingRoom) and is mirrored to the inventory
Redis by :func:`room_save`; everything a shopper does runs one of the room's Lua scripts
(state.py) and never touches the database (ADRs 0104-0106). A Redis that came back empty
gets its rooms again from :func:`rooms_publish`, which the order relay runs every round.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from order_service.waitingroom import errors, state
from order_service.waitingroom.models import RoomState, WaitingRoom
from order_service.waitingroom.passes import QueuePass, pass_sign
from order_service.waitingroom.selectors import rooms_for_skus
from shared.inventory import LineGuards

CUSTOMER_PREFIX = "customer:"


def holder_signed_in(holder: str | None) -> bool:
    """A signed-in shopper's id is ``customer:<account id>`` (set by the accounts app)."""
    return bool(holder) and str(holder).startswith(CUSTOMER_PREFIX)


# --- definitions -----------------------------------------------------------------------------


def _conf(room: WaitingRoom) -> dict[str, str]:
    return {
        "title": room.title,
        "skus": ",".join(room.skus),
        "state": room.state,
        "opens_at": f"{room.opens_at.timestamp():.3f}" if room.opens_at else "0",
        "rate": str(room.admission_rate),
        "allowance": str(room.dropout_allowance_percent),
        "pass_ttl": str(room.pass_ttl_seconds),
        "claim": str(settings.QUEUE_CLAIM_SECONDS),
        "accounts_only": "1" if room.accounts_only else "0",
    }


def room_mirror(*, room: WaitingRoom) -> None:
    """Write one room's definition and its skus' guard keys to Redis."""
    client = state.client()
    conf_key = state.room_key(room.slug, "conf")
    old = state.room_skus(room.slug) or []
    guard = json.dumps({"slug": room.slug, "accounts_only": room.accounts_only})
    pipe = client.pipeline(transaction=True)
    pipe.hset(conf_key, mapping=dict(_conf(room)))  # type: ignore[arg-type]
    pipe.sadd(state.ROOMS_KEY, room.slug)
    for sku in set(old) - set(room.skus):
        pipe.delete(state.sku_key(sku))
    for sku in room.skus:
        if room.state == RoomState.CLOSED:
            pipe.delete(state.sku_key(sku))
        else:
            pipe.set(state.sku_key(sku), guard)
    pipe.execute()


def _skus_clean(skus: list[str]) -> list[str]:
    clean = []
    for sku in skus:
        sku = str(sku).strip()
        if not sku or len(sku) > 64 or any(c in sku for c in ",{} \t\n\0"):
            raise errors.RoomInvalid("A sku is empty or has characters a sku cannot have.", sku=sku)
        if sku not in clean:
            clean.append(sku)
    if not clean:
        raise errors.RoomInvalid("A waiting room guards at least one sku.")
    return clean


def room_check(*, room: WaitingRoom) -> None:
    """Refuse (ROOM_INVALID) a definition that cannot be saved: bad skus, or a sku that
    another room not closed guards already (a sku is guarded by one room at most)."""
    room.skus = _skus_clean(list(room.skus or []))
    if room.state == RoomState.CLOSED:
        return
    clash = (
        WaitingRoom.objects.exclude(pk=room.pk)
        .exclude(state=RoomState.CLOSED)
        .filter(skus__overlap=room.skus)
        .values_list("slug", flat=True)
        .first()
    )
    if clash:
        raise errors.RoomInvalid(
            f"A sku of this room is guarded by the room {clash!r}, which is not closed.",
            room=clash,
        )


def room_save(*, room: WaitingRoom) -> WaitingRoom:
    """Validate, save and mirror a room (the mirror is written once the row is committed)."""
    room_check(room=room)
    try:
        room.full_clean(exclude=["skus"])
    except ValidationError as exc:
        raise errors.RoomInvalid(fields=exc.message_dict) from None
    with transaction.atomic():
        room.save()
        transaction.on_commit(lambda: room_mirror(room=room))
    return room


def room_delete(*, room: WaitingRoom) -> None:
    """Delete a room: its skus are no longer guarded, its live state is dropped."""
    slug, skus = room.slug, list(room.skus)
    with transaction.atomic():
        room.delete()
        transaction.on_commit(lambda: _room_unmirror(slug=slug, skus=skus))


def _room_unmirror(*, slug: str, skus: list[str]) -> None:
    client = state.client()
    skus = sorted(set(skus) | set(state.room_skus(slug) or []))
    client.delete(
        *[state.room_key(slug, part) for part in state.ROOM_KEYS],
        *[state.sku_key(s) for s in skus],
    )
    client.srem(state.ROOMS_KEY, slug)


def room_create(**fields: object) -> WaitingRoom:
    return room_save(room=WaitingRoom(**fields))


def _room_state_set(*, slug: str, new: RoomState) -> WaitingRoom:
    room = WaitingRoom.objects.filter(slug=slug).first()
    if room is None:
        raise errors.UnknownRoom(room=slug)
    room.state = new
    return room_save(room=room)


def room_open(*, slug: str) -> WaitingRoom:
    return _room_state_set(slug=slug, new=RoomState.OPEN)


def room_pause(*, slug: str) -> WaitingRoom:
    return _room_state_set(slug=slug, new=RoomState.PAUSED)


def room_close(*, slug: str) -> WaitingRoom:
    return _room_state_set(slug=slug, new=RoomState.CLOSED)


def rooms_publish() -> int:
    """Mirror every room again (Redis came back empty, or a mirror write was lost): the
    definitions and the skus' guards. The live queue is not in PostgreSQL and is not
    rebuilt: shoppers join again (docs/waiting-room.md). Returns how many rooms."""
    rooms = list(WaitingRoom.objects.all())
    for room in rooms:
        room_mirror(room=room)
    known = {room.slug for room in rooms}
    for slug in [s for s in state.room_slugs() if s not in known]:
        _room_unmirror(slug=slug, skus=[])  # deleted while Redis missed it
    return len(rooms)


# --- shoppers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinResult:
    status: state.RoomStatus
    ticket: int | None
    admitted: bool


def _accounts_check(*, slug: str, holder: str) -> list[str]:
    """The room's skus, once its accounts-only rule let the holder in."""
    conf = state.room_conf(slug)
    if conf is None:
        raise errors.UnknownRoom(room=slug)
    if conf.accounts_only and not holder_signed_in(holder):
        raise errors.AccountRequired(room=slug)
    return conf.skus


def room_join(*, slug: str, holder: str) -> JoinResult:
    """Take a place in the room (or find one's place again: one place per holder)."""
    skus = _accounts_check(slug=slug, holder=holder)
    # A uniform random score for the pre-queue: its order at the opening is independent of
    # arrival (ADR 0104). 53 bits: a float's mantissa holds them exactly.
    score = secrets.randbits(53)
    status = state.run_script("join", slug=slug, args=[holder, str(score)], skus=skus)
    if status is None:
        raise errors.UnknownRoom(room=slug)
    if status.kind == "CLOSED":
        return JoinResult(status=status, ticket=None, admitted=True)
    return JoinResult(status=status, ticket=status.ticket, admitted=status.extra == "1")


@dataclass(frozen=True)
class PassIssued:
    token: str | None  # None: the room is closed, nothing to show
    qpass: QueuePass | None
    status: state.RoomStatus


def room_pass_issue(*, slug: str, holder: str, session_key: str) -> PassIssued:
    """A pass for an admitted holder still in flight; else the reason as an error."""
    skus = _accounts_check(slug=slug, holder=holder)
    status = state.run_script("pass", slug=slug, args=[holder], skus=skus)
    if status is None:
        raise errors.UnknownRoom(room=slug)
    if status.kind == "CLOSED":
        return PassIssued(token=None, qpass=None, status=status)
    if status.kind == "NOT_JOINED":
        raise errors.QueueNotJoined(room=slug)
    if status.kind == "NOT_YET":
        position = status.ticket - status.admitted_through if status.ticket is not None else None
        raise errors.QueueNotYet(room=slug, ticket=status.ticket, position=position)
    if status.kind == "LOST":
        raise errors.QueuePlaceLost(room=slug)
    if status.kind == "SOLD_OUT":
        raise errors.QueueSoldOut(room=slug)
    assert status.ticket is not None
    expires = int(status.extra)
    qpass = QueuePass(slug=slug, ticket=status.ticket, expires_at=expires)
    token = pass_sign(slug=slug, ticket=status.ticket, expires_at=expires, session_key=session_key)
    return PassIssued(token=token, qpass=qpass, status=status)


def room_shopper_done(*, slug: str, holder: str) -> bool:
    """The holder's checkout was accepted: it leaves in_flight (its place is used) and
    counts as bought; admission may then let the next shopper in (ADR 0106)."""
    return state.holder_done(slug=slug, holder=holder)


# --- the buying paths' guard -------------------------------------------------------------------


def rooms_line_guards(
    *, skus: list[str], holder: str | None, passes: Mapping[str, QueuePass] | None
) -> LineGuards:
    """The rooms' guard of ``skus`` for checkout's reservation script, which checks it in
    its own round trip (ADR 0107): the guard key of each sku, the rooms this request holds
    a valid pass of, whether the holder is signed in."""
    now = time.time()
    return LineGuards(
        keys={sku: state.sku_key(sku) for sku in skus},
        allowed=tuple(sorted(slug for slug, p in (passes or {}).items() if p.expires_at > now)),
        signed_in=holder_signed_in(holder),
    )


def rooms_guard_refusal(
    *, sku: str | None, holder: str | None, passes: Mapping[str, QueuePass] | None
) -> errors.OrderError:
    """Why the reservation script refused a guarded line (GUARDED): the same answer as
    :func:`rooms_guard_check` gives (one more Redis read, on the refusal only)."""
    try:
        rooms_guard_check(skus=[sku] if sku else [], holder=holder, passes=passes)
    except errors.OrderError as refusal:
        return refusal
    # The room closed between the script and this read: trying again simply buys.
    return errors.QueueRequired("The sale's waiting room just changed: try again.", sku=sku)


def rooms_guard_check(
    *, skus: list[str], holder: str | None, passes: Mapping[str, QueuePass] | None
) -> list[str]:
    """Raise unless the request may buy ``skus``: each sku of a guarded room needs a valid
    pass of that room (QUEUE_REQUIRED), and a signed-in holder for an accounts-only room
    (ACCOUNT_REQUIRED). Returns the slugs of the guarded rooms (one Redis MGET)."""
    guards = rooms_for_skus(skus=skus)
    slugs: list[str] = []
    now = time.time()
    for sku in sorted(guards):
        guard = guards[sku]
        if guard.slug in slugs:
            continue
        if guard.accounts_only and not holder_signed_in(holder):
            raise errors.AccountRequired(room=guard.slug, sku=sku)
        qpass = (passes or {}).get(guard.slug)
        if qpass is None or qpass.expires_at <= now:
            raise errors.QueueRequired(
                room=guard.slug, sku=sku, queue_url=f"/waiting-room/{guard.slug}"
            )
        slugs.append(guard.slug)
    return slugs


def rooms_shopper_done(*, slugs: list[str], holder: str) -> None:
    for slug in slugs:
        room_shopper_done(slug=slug, holder=holder)
