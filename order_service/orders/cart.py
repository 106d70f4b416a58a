"""The cart, kept in the Django session (stored in Redis and shared by every instance: R5).

The session holds ``{"cart": {sku: quantity}, "shopper_id": "..."}`` and, once the shopper
signs in, ``"account_id": <id>`` (order_service/accounts, ADR 0108); nothing about a cart
lives in process memory, so any instance of any service can serve the next request.
"""

from __future__ import annotations

import uuid
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

CART_KEY = "cart"
SHOPPER_KEY = "shopper_id"
# The signed-in shopper account (written by order_service.accounts at sign-in, ADR 0108).
ACCOUNT_KEY = "account_id"


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


def shopper_from_session(session: MutableMapping[str, Any], *, create: bool) -> Shopper | None:
    """The shopper of this session; with ``create``, give an anonymous session an id.

    A signed-in session (``account_id``) is always ``customer:<id>``, whatever shopper id it
    held before, so per-shopper limits count per account in every session and on every
    device (ADR 0109). A guest's id is random and stored in the session rather than derived
    from the session key, because the key changes at sign-in while the cart stays.
    No database query: this runs on every cart and checkout request.
    """
    account_id = session.get(ACCOUNT_KEY)
    if isinstance(account_id, int) and not isinstance(account_id, bool):
        shopper_id = f"customer:{account_id}"
        if session.get(SHOPPER_KEY) != shopper_id:
            session[SHOPPER_KEY] = shopper_id
        return Shopper(shopper_id=shopper_id, customer_id=account_id)
    guest_id = session.get(SHOPPER_KEY)
    if not guest_id or str(guest_id).startswith("customer:"):
        # A customer id without the account is left over (not signed in): a guest again.
        if not create:
            return None
        guest_id = f"anon:{uuid.uuid4().hex}"
        session[SHOPPER_KEY] = guest_id
    return Shopper(shopper_id=str(guest_id))
