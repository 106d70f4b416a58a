"""The cart, kept in the Django session (stored in Redis and shared by every instance: R5).

The session holds ``{"cart": {sku: quantity}, "shopper_id": "..."}``; nothing about a cart
lives in process memory, so any instance of any service can serve the next request.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

CART_KEY = "cart"
SHOPPER_KEY = "shopper_id"


@dataclass(frozen=True)
class Shopper:
    shopper_id: str
    customer_id: int | None = None


class SessionCart:
    """A view of the cart in a session; every change is written back to the session."""

    def __init__(self, session: MutableMapping[str, Any]):
        self.session = session

    def lines(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in (self.session.get(CART_KEY) or {}).items()}

    def quantity(self, sku: str) -> int:
        return self.lines().get(sku, 0)

    def set(self, sku: str, quantity: int) -> None:
        lines = self.lines()
        lines[sku] = quantity
        self.session[CART_KEY] = lines

    def remove(self, sku: str) -> None:
        lines = self.lines()
        lines.pop(sku, None)
        self.session[CART_KEY] = lines

    def clear(self) -> None:
        self.session[CART_KEY] = {}


def shopper_from_session(
    session: MutableMapping[str, Any], *, customer_id: int | None, create: bool
) -> Shopper | None:
    """The shopper of this session; with ``create``, give an anonymous session an id.

    The id is random and stored in the session rather than derived from the session key,
    because Django changes the key at login while the shopper stays the same.
    """
    shopper_id = session.get(SHOPPER_KEY)
    if not shopper_id:
        if customer_id is not None:
            shopper_id = f"customer:{customer_id}"
        elif create:
            shopper_id = f"anon:{uuid.uuid4().hex}"
        else:
            return None
        session[SHOPPER_KEY] = shopper_id
    return Shopper(shopper_id=shopper_id, customer_id=customer_id)
