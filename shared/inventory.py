"""The inventory read model in Redis: key layout and atomic scripts (R3).

Fulfillment's PostgreSQL stock is the system of record. Redis holds what can still be sold,
so that reads are instant and checkout reservations are atomic at any rate:

==============================  ============================================================
``inv:{SKU}:available``         units that can still be reserved (integer, never negative)
``inv:{SKU}:shopper:{ID}``      units of SKU reserved by shopper ID (per-shopper limit)
``inv:res:{RESERVATION}``       hash of SKU -> units held by one reservation (= order id)
``inv:restored``                the order service has written back the reservations of every
                                order accepted but not yet settled (after Redis came back empty)
``inv:epoch``                   the counters are complete: rebuilt from the systems of record,
                                accepted-but-unsettled orders included. No epoch, no sale
==============================  ============================================================

* catalog reads availability (:func:`availability_many`, one MGET for a whole page);
* the order service reserves all lines of an order or none (:meth:`Inventory.reserve`) and
  releases a reservation if it cannot record the order;
* fulfillment commits a reservation once the order is paid and stock deducted
  (:meth:`Inventory.commit`), releases it on decline (:meth:`Inventory.release`), restocks,
  and rebuilds missing counters from its stock table (:meth:`Inventory.set_available`).

Invariant: units received = available + held by open reservations + sold.
A missing ``available`` key means "unknown": it is never treated as zero or as in stock;
reservations on it are refused (``MISSING``) until it is rebuilt.

An empty Redis (restarted: it keeps nothing on disk) has no ``inv:epoch``: the reserve
script then answers ``PAUSED`` and checkout refuses with a retryable 503 until the rebuild
is done (ADR 0088): the order service restores its open reservations (``inv:restored``),
then fulfillment sets every counter to ``on_hand - held`` and writes ``inv:epoch``.

All keys of one order must live on one Redis node (a single instance here; with Redis
Cluster the ``{...}`` hash tags would have to become a per-sale tag).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, cast

import redis

from shared.offers import offer_key

AVAILABLE_PREFIX = "inv:{"
AVAILABLE_SUFFIX = "}:available"
LOW_STOCK_THRESHOLD = 10

IN_STOCK = "IN_STOCK"
LOW_STOCK = "LOW_STOCK"
SOLD_OUT = "SOLD_OUT"


EPOCH_KEY = "inv:epoch"
RESTORED_KEY = "inv:restored"


def available_key(sku: str) -> str:
    return f"{AVAILABLE_PREFIX}{sku}{AVAILABLE_SUFFIX}"


def shopper_key(sku: str, shopper_id: str) -> str:
    return f"inv:{{{sku}}}:shopper:{shopper_id}"


def reservation_key(reservation_id: str | uuid.UUID) -> str:
    return f"inv:res:{reservation_id}"


def stock_status(available: int | None, threshold: int = LOW_STOCK_THRESHOLD) -> str:
    """IN_STOCK / LOW_STOCK / SOLD_OUT; unknown availability is not sellable (SOLD_OUT)."""
    if available is None or available <= 0:
        return SOLD_OUT
    if available <= threshold:
        return LOW_STOCK
    return IN_STOCK


@dataclass(frozen=True)
class ReserveLine:
    sku: str
    quantity: int
    per_shopper_limit: int = 0  # 0: no limit


@dataclass(frozen=True)
class ReserveGuard:
    """An in-flight lock and a replay marker taken with a reservation (checkout's
    Idempotency-Key, ADR 0097): the same Redis, the same round trip."""

    lock_key: str
    marker_key: str
    token: str
    lock_ttl: int


@dataclass(frozen=True)
class ReserveResult:
    ok: bool
    # OK | DUPLICATE | PAUSED | MISSING | SOLD_OUT | LIMIT_EXCEEDED; with a guard also IN_USE and
    # REPLAY; with offers read also CHECK (an offer refuses a line; nothing reserved)
    code: str = "OK"
    sku: str | None = None
    marker: str | None = None  # REPLAY: the marker's value
    # With offers read: each line's offer hash as the script saw it ({} when missing).
    offers: dict[str, dict[str, str]] | None = None
    # With line guards: the rooms guarding the lines (each once); GUARDED when one refused.
    rooms: tuple[str, ...] = ()


@dataclass(frozen=True)
class LineGuards:
    """Guards the caller keeps beside the lines (the order service's waiting rooms, ADR
    0107): a key per sku whose value, when present, is ``{"slug", "accounts_only"}``; the
    reservation needs ``slug`` among ``allowed`` (and ``signed_in`` when accounts only).
    Checked inside the reservation script: no round trip of its own."""

    keys: dict[str, str]
    allowed: tuple[str, ...] = ()
    signed_in: bool = False


@cache
def _script_source(name: str) -> str:
    return resources.files("shared").joinpath(f"lua/{name}.lua").read_text()


class Inventory:
    """Operations on the inventory keys of one Redis (its client comes from the caller)."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._reserve = client.register_script(_script_source("reserve"))
        self._release = client.register_script(_script_source("release"))
        self._restock = client.register_script(_script_source("restock"))
        self._unlock = client.register_script(_script_source("unlock"))

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> Inventory:
        return cls(redis.Redis.from_url(url, decode_responses=True, **kwargs))

    # --- reads ---------------------------------------------------------------------------
    def availability_many(self, skus: list[str]) -> dict[str, int | None]:
        """Availability of each sku in one round trip (MGET); None where unknown."""
        if not skus:
            return {}
        values = self.client.mget([available_key(s) for s in skus])
        return {
            sku: (int(v) if v is not None else None) for sku, v in zip(skus, values, strict=True)
        }

    def shopper_units_many(self, *, shopper_id: str, skus: list[str]) -> dict[str, int]:
        """Units of each sku this shopper holds in the sale (reserved or bought): one MGET.

        The counters the reserve script checks the per-shopper limit against, so that a cart
        can refuse what checkout would refuse.
        """
        if not skus:
            return {}
        values = self.client.mget([shopper_key(s, shopper_id) for s in skus])
        return {sku: int(v or 0) for sku, v in zip(skus, values, strict=True)}

    def reservation(self, reservation_id: str | uuid.UUID) -> dict[str, int]:
        # Every client given here decodes responses (from_url, the services' stores): str.
        raw = cast("dict[str, str]", self.client.hgetall(reservation_key(reservation_id)))
        return {k: int(v) for k, v in raw.items() if not k.startswith("shopper:")}

    def held_by_reservations(self) -> dict[str, int]:
        """Units per sku held by open reservations (SCAN; for the invariant checker)."""
        held: dict[str, int] = {}
        for key in self.client.scan_iter(match="inv:res:*", count=1000):
            for sku, qty in self.reservation(key.removeprefix("inv:res:")).items():
                held[sku] = held.get(sku, 0) + qty
        return held

    # --- writes --------------------------------------------------------------------------
    def reserve(
        self,
        *,
        reservation_id: str | uuid.UUID,
        shopper_id: str,
        lines: list[ReserveLine],
        shopper_ttl: int = 0,
        guard: ReserveGuard | None = None,
        offer_limits: int = 0,
        line_guards: LineGuards | None = None,
    ) -> ReserveResult:
        """Reserve every line or none, counting the per-shopper limit atomically.

        With ``guard``, first take its lock (else ``IN_USE``) and answer ``REPLAY`` from its
        marker when there is one; the lock stays taken only when the result is OK (release
        it with :meth:`guard_finish` or :meth:`release`). With ``offer_limits`` > 0, read
        every line's offer in the same script: a line's limit is its offer's
        ``per_shopper_limit`` (``offer_limits`` units when it has none) and nothing is
        reserved (``CHECK``) when an offer is missing, inactive, in another currency than
        the others, or refuses the quantity. With ``line_guards``, nothing is reserved
        (``GUARDED``) when a line's guard refuses the request. One round trip whatever the
        options.
        """
        if not lines:
            raise ValueError("nothing to reserve")
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise ValueError("each sku may appear once per reservation")
        keys = [reservation_key(reservation_id)]
        keys += [guard.lock_key, guard.marker_key] if guard else ["", ""]
        args: list[str | int] = [len(lines), int(shopper_ttl)]
        args += [guard.token, guard.lock_ttl] if guard else ["", 0]
        args.append(int(offer_limits))
        for line in lines:
            if line.quantity <= 0 and not offer_limits:
                raise ValueError(f"quantity must be positive for {line.sku}")
            keys += [available_key(line.sku), shopper_key(line.sku, shopper_id)]
            keys.append(offer_key(line.sku))
            args += [line.quantity, line.per_shopper_limit, line.sku]
        if line_guards is not None:
            keys += [line_guards.keys[sku] for sku in skus]
            args += [f",{','.join(line_guards.allowed)},", "1" if line_guards.signed_in else "0"]
        keys.append(EPOCH_KEY)  # always the last key (reserve.lua)
        result = self._reserve(keys=keys, args=args)
        code = result[0]
        if code in ("IN_USE", "PAUSED"):
            return ReserveResult(ok=False, code=code)
        if code == "REPLAY":
            return ReserveResult(ok=False, code=code, marker=result[1])
        offers = None
        if offer_limits:
            offers = {
                sku: dict(zip(raw[::2], raw[1::2], strict=True))
                for sku, raw in zip(skus, result[2 : 2 + len(lines)], strict=True)
            }
        rooms = tuple(str(slug) for slug in result[2 + len(lines) :])
        return ReserveResult(
            ok=code == "OK", code=code, sku=result[1] or None, offers=offers, rooms=rooms
        )

    def release(self, *, reservation_id: str | uuid.UUID, guard: ReserveGuard | None = None) -> int:
        """Give the units back (idempotent); returns how many were given back. With
        ``guard``, release its lock in the same round trip."""
        if guard is None:
            return int(
                self._release(
                    keys=[reservation_key(reservation_id)],
                    args=[AVAILABLE_PREFIX, AVAILABLE_SUFFIX],
                )
            )
        pipe = self.client.pipeline(transaction=False)
        self._release(
            keys=[reservation_key(reservation_id)],
            args=[AVAILABLE_PREFIX, AVAILABLE_SUFFIX],
            client=pipe,
        )
        self._unlock(
            keys=[guard.lock_key, guard.marker_key], args=[guard.token, "", 0, 0], client=pipe
        )
        return int(pipe.execute()[0])

    def guard_finish(
        self,
        *,
        guard: ReserveGuard,
        marker: str = "",
        marker_ttl: int = 0,
        extend_counters: list[str] | None = None,
        counter_ttl: int = 0,
        wake_channel: str = "",
    ) -> None:
        """Release the guard's lock (if still ours), remembering ``marker`` for
        ``marker_ttl`` seconds, lengthening the given shopper counters to ``counter_ttl``
        and publishing on ``wake_channel`` (the outbox relay's, when it listens on this
        Redis): one round trip."""
        self._unlock(
            keys=[guard.lock_key, guard.marker_key, *(extend_counters or [])],
            args=[guard.token, marker, int(marker_ttl), int(counter_ttl), wake_channel],
        )

    def commit(self, *, reservation_id: str | uuid.UUID) -> bool:
        """The reserved units are sold: forget the reservation (idempotent)."""
        return bool(self.client.delete(reservation_key(reservation_id)))

    def settle_many(
        self,
        *,
        committed: list[str | uuid.UUID],
        released: list[str | uuid.UUID],
    ) -> None:
        """:meth:`commit` and :meth:`release` for many reservations in one round trip (a
        pipeline, not a transaction: each step is idempotent on its own)."""
        if not committed and not released:
            return
        pipe = self.client.pipeline(transaction=False)
        if committed:
            pipe.delete(*[reservation_key(r) for r in committed])
        for reservation_id in released:
            self._release(
                keys=[reservation_key(reservation_id)],
                args=[AVAILABLE_PREFIX, AVAILABLE_SUFFIX],
                client=pipe,
            )
        pipe.execute()

    def restock(self, *, sku: str, quantity: int) -> int | None:
        """Add units; None when the counter is missing (rebuild it with set_available)."""
        if quantity <= 0:
            raise ValueError("restock quantity must be positive")
        value = int(self._restock(keys=[available_key(sku)], args=[quantity]))
        return None if value < 0 else value

    def set_available(self, *, sku: str, available: int) -> None:
        """Set a counter from the system of record (rebuild or repair)."""
        if available < 0:
            raise ValueError("availability cannot be negative")
        self.client.set(available_key(sku), available)

    def set_available_many(self, values: dict[str, int]) -> None:
        if values:
            self.client.mset({available_key(s): max(0, v) for s, v in values.items()})

    # --- the rebuild after an empty restart (ADR 0088) -------------------------------------
    def markers(self) -> tuple[str | None, str | None]:
        """(epoch, restored) in one round trip; None where missing."""
        epoch, restored = self.client.mget([EPOCH_KEY, RESTORED_KEY])
        return _text(epoch), _text(restored)

    def epoch(self) -> str | None:
        return _text(self.client.get(EPOCH_KEY))

    def reservations_restore(
        self,
        *,
        reservations: dict[str, dict[str, int]],
        shopper_ids: dict[str, str],
        shopper_units: dict[tuple[str, str], int],
        shopper_ttl: int,
        marker: str,
    ) -> None:
        """Write back what only the order service knows (orders accepted, not yet settled):
        each one's reservation hash, the per-shopper counters, then ``inv:restored``.

        Only while no epoch is set: a reservation written over live counters would be
        counted twice. ``shopper_ids`` maps a reservation to its shopper (for release)."""
        pipe = self.client.pipeline(transaction=False)
        for reservation_id, lines in reservations.items():
            fields: dict[Any, str | int] = {}  # redis-py types keys as bytes | str | ...
            for sku, qty in lines.items():
                fields[sku] = qty
                fields[f"shopper:{sku}"] = shopper_key(sku, shopper_ids[reservation_id])
            pipe.hset(reservation_key(reservation_id), mapping=fields)
        for (sku, shopper_id), units in shopper_units.items():
            pipe.set(shopper_key(sku, shopper_id), units, ex=shopper_ttl if shopper_ttl else None)
        pipe.set(RESTORED_KEY, marker)
        pipe.execute()

    def epoch_set(self, *, epoch: str, restored: str) -> bool:
        """Open the sale: the counters are complete (only the rebuild calls this). Written
        only if ``inv:restored`` still holds ``restored``: a Redis that restarted again
        meanwhile has lost the reservations the counters were computed against."""
        return bool(
            self.client.eval(
                "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                "redis.call('SET', KEYS[2], ARGV[2]) return 1 end return 0",
                2,
                RESTORED_KEY,
                EPOCH_KEY,
                restored,
                epoch,
            )
        )


def _text(value: bytes | str | None) -> str | None:
    """A reply of the client (decode_responses=True gives str; a raw client gives bytes)."""
    return value.decode() if isinstance(value, bytes) else value
