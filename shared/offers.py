"""The offer read model in Redis: what the catalog sells right now, for the order service.

The catalog owns products and flash sales. It publishes each sku's current offer here
(``offer:{SKU}`` hash) whenever it changes, and can republish all of them
(``manage.py catalog publish_offers``). The order service validates a cart and prices an
order from this read model: it never reads the catalog's database, and checkout does not
depend on the catalog being up.

Fields (all strings): ``sku``, ``name``, ``price``, ``currency``, ``sale_price`` (empty when
no flash sale), ``starts_at``/``ends_at`` (ISO 8601, empty when no sale),
``per_shopper_limit`` (``0`` when none), ``active`` (``1`` or ``0``: sellable at all).

``offer:epoch`` is written after a complete publication of every offer. An empty Redis
(restarted) lacks it: the order service then answers ``SALE_PAUSED`` for an offer it cannot
find, instead of ``UNKNOWN_SKU``, and the catalog's publisher republishes at once (ADR 0088).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

import redis

OFFERS_EPOCH_KEY = "offer:epoch"


def offer_key(sku: str) -> str:
    return f"offer:{{{sku}}}"


def offers_epoch(client: redis.Redis) -> str | None:
    value = client.get(OFFERS_EPOCH_KEY)
    return value.decode() if isinstance(value, bytes) else value


def redis_run_id(client: redis.Redis) -> str:
    """The server's run id: it changes when Redis restarts (and comes back empty here)."""
    return str(client.info("server")["run_id"])


def offers_epoch_set(client: redis.Redis, *, run_id: str) -> bool:
    """Mark the offers complete, unless Redis restarted since ``run_id`` was read (the
    publication would then be partial). Returns whether the marker was written."""
    if redis_run_id(client) != run_id:
        return False
    client.set(OFFERS_EPOCH_KEY, run_id)
    return True


@dataclass(frozen=True)
class Offer:
    sku: str
    name: str
    price: str
    currency: str
    sale_price: str = ""
    starts_at: str = ""
    ends_at: str = ""
    per_shopper_limit: int = 0
    active: bool = True

    def on_sale_at(self, moment: datetime) -> bool:
        if not (self.sale_price and self.starts_at and self.ends_at):
            return False
        starts = datetime.fromisoformat(self.starts_at)
        ends = datetime.fromisoformat(self.ends_at)
        return starts <= moment < ends

    def to_hash(self) -> dict[str, str]:
        data = asdict(self)
        data["per_shopper_limit"] = str(self.per_shopper_limit)
        data["active"] = "1" if self.active else "0"
        return data

    @classmethod
    def from_hash(cls, data: dict[str, str]) -> Offer:
        return cls(
            sku=data["sku"],
            name=data.get("name", ""),
            price=data["price"],
            currency=data["currency"],
            sale_price=data.get("sale_price", ""),
            starts_at=data.get("starts_at", ""),
            ends_at=data.get("ends_at", ""),
            per_shopper_limit=int(data.get("per_shopper_limit") or 0),
            active=data.get("active", "1") == "1",
        )


def publish_offers(client: redis.Redis, offers: list[Offer]) -> None:
    pipe = client.pipeline(transaction=False)
    for offer in offers:
        key = offer_key(offer.sku)
        pipe.delete(key)
        pipe.hset(key, mapping=offer.to_hash())
    pipe.execute()


def get_offers(client: redis.Redis, skus: list[str]) -> dict[str, Offer | None]:
    """Offers for skus in one round trip; None for an unknown sku."""
    pipe = client.pipeline(transaction=False)
    for sku in skus:
        pipe.hgetall(offer_key(sku))
    out: dict[str, Offer | None] = {}
    for sku, raw in zip(skus, pipe.execute(), strict=True):
        if raw:
            raw = {
                (k.decode() if isinstance(k, bytes) else k): (
                    v.decode() if isinstance(v, bytes) else v
                )
                for k, v in raw.items()
            }
        out[sku] = Offer.from_hash(raw) if raw else None
    return out
