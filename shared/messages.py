"""Message contracts between services (versioned). The only thing services share about
each other: names of queues and tasks, and the shape of the payloads.

A payload is a JSON object with ``"type"`` and ``"version"``. A consumer accepts the versions
it knows and rejects others (they go to the dead-letter queue, never silently dropped).
Adding an optional field keeps the version; anything else is a new version, and the
producer keeps sending the old one until every consumer reads the new.

Transport: Celery tasks on RabbitMQ, published by *name* (``app.send_task``) so that no
service imports another's code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# Queues (RabbitMQ quorum queues, one per consuming service).
FULFILLMENT_QUEUE = "fulfillment"
ORDER_QUEUE = "order"

# Task names, as registered by the consuming service.
PROCESS_ORDER_TASK = "fulfillment.process_order"  # consumes OrderAccepted
ORDER_STATUS_TASK = "order.apply_status"  # consumes OrderStatusChanged


class ContractError(ValueError):
    """A payload that does not match any known version of its contract."""


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: str  # decimal as a string: "19.99"
    currency: str


@dataclass(frozen=True)
class OrderAccepted:
    """Order service -> fulfillment: an order was accepted and its stock reserved."""

    order_id: str  # uuid
    shopper_id: str
    lines: tuple[OrderLine, ...]
    total: str
    currency: str
    accepted_at: str  # ISO 8601, UTC
    type: str = field(default="order.accepted", init=False)
    version: int = field(default=1, init=False)

    def to_dict(self) -> dict[str, Any]:
        # asdict() by hand: it is on the checkout's path, and asdict's generic recursion
        # (a deep copy of every value) cost a tenth of the message's building (ADR 0112).
        # tests/shared/test_messages.py holds the two equal.
        return {
            "order_id": self.order_id,
            "shopper_id": self.shopper_id,
            "lines": tuple(
                {
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "currency": line.currency,
                }
                for line in self.lines
            ),
            "total": self.total,
            "currency": self.currency,
            "accepted_at": self.accepted_at,
            "type": self.type,
            "version": self.version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderAccepted:
        _expect(data, "order.accepted", {1})
        try:
            lines = tuple(OrderLine(**line) for line in data["lines"])
            return cls(
                order_id=str(data["order_id"]),
                shopper_id=str(data["shopper_id"]),
                lines=lines,
                total=str(data["total"]),
                currency=str(data["currency"]),
                accepted_at=str(data["accepted_at"]),
            )
        except (KeyError, TypeError) as exc:
            raise ContractError(f"malformed order.accepted v1: {exc}") from exc


class OrderStatus(StrEnum):
    """An order's status: the one spelling of it (the order's model and the status events
    of fulfillment use these values). Accepted comes first; the others are events."""

    ACCEPTED = "accepted"
    PAID = "paid"
    FULFILLED = "fulfilled"
    FAILED = "failed"


# What a status event may announce (an order is accepted by being written, not by an event).
EVENT_STATUSES = frozenset(s.value for s in OrderStatus if s is not OrderStatus.ACCEPTED)


@dataclass(frozen=True)
class OrderStatusChanged:
    """Fulfillment -> order service: the order moved on (at-least-once; apply idempotently)."""

    order_id: str
    status: str  # an OrderStatus other than "accepted"
    occurred_at: str  # ISO 8601, UTC; later events win
    reason: str = ""  # set when status == "failed"
    type: str = field(default="order.status_changed", init=False)
    version: int = field(default=1, init=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OrderStatusChanged:
        _expect(data, "order.status_changed", {1})
        try:
            event = cls(
                order_id=str(data["order_id"]),
                status=str(data["status"]),
                occurred_at=str(data["occurred_at"]),
                reason=str(data.get("reason", "")),
            )
        except KeyError as exc:
            raise ContractError(f"malformed order.status_changed v1: missing {exc}") from exc
        if event.status not in EVENT_STATUSES:
            raise ContractError(f"unknown order status {event.status!r}")
        return event


def _expect(data: Any, type_: str, versions: set[int]) -> None:
    if not isinstance(data, dict):
        raise ContractError(f"expected a JSON object, got {type(data).__name__}")
    if data.get("type") != type_:
        raise ContractError(f"expected type {type_!r}, got {data.get('type')!r}")
    if data.get("version") not in versions:
        raise ContractError(f"{type_} version {data.get('version')!r} is not one of {versions}")
