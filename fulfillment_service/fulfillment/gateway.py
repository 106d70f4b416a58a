"""Payment gateway interface and the built-in simulated provider.

A gateway charges and refunds by **idempotency key**, as real providers (Stripe, Adyen) do:
asking twice with the same key returns the first answer and never charges twice. That is
what makes "charge, then crash before our commit, then redelivery" safe: the redelivered
message asks again with the same key (``order:<order_id>``) and gets the same charge back.

The simulated provider keeps its side of the story in its own tables
(:class:`~fulfillment_service.fulfillment.models.SimulatedCharge`), written in their own
autocommit transactions, so its memory survives our crashes like a remote provider's would.
It can be told (settings / environment) to be slow (``PAYMENT_LATENCY_MS``), to decline a
share of charges (``PAYMENT_DECLINE_RATE``) and to fail transiently
(``PAYMENT_TRANSIENT_ERROR_RATE``). Like a provider's test cards, some shopper ids script
an outcome: ``test-decline...`` is always declined, ``test-flaky-N...`` fails transiently on
the first N attempts for its key, then succeeds.

A running provider can be retold, as one tells a sandbox provider to misbehave, through
``PAYMENT_SIMULATION_FILE`` (default ``$VAR_DIR/payment-simulation.json`` when ``VAR_DIR``
is set): a JSON object with any of ``latency_ms``, ``decline_rate``,
``transient_error_rate``, read again whenever the file changes; a missing file means the
settings' values. The spike's faults ``payment_slow_2s`` / ``payment_failing_50pct`` use it.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, connection, connections

from fulfillment_service.fulfillment.errors import GatewayUnavailable
from fulfillment_service.fulfillment.models import SimulatedCharge, SimulatedRequest

# The provider's own connection (settings.DATABASES["provider"]): autocommit, and its
# commits do not wait for the WAL flush. It stands in for a remote system whose durability
# is not ours to pay for: a crash of our worker cannot make it forget a charge (the row is
# committed before the answer comes back); only a crash of PostgreSQL itself could lose
# its last few hundred milliseconds. Our ledger transaction always waits for the flush.
PROVIDER_DB = "provider"
DECLINE_PREFIX = "test-decline"
FLAKY_PATTERN = re.compile(r"^test-flaky-(\d+)")


@dataclass(frozen=True)
class ChargeResult:
    approved: bool
    reference: str
    decline_code: str = ""


class PaymentGateway(Protocol):
    name: str

    def charge(
        self, *, idempotency_key: str, amount: Decimal, currency: str, shopper_id: str
    ) -> ChargeResult:
        """Charge once per key; raise GatewayUnavailable when the answer is unknown."""

    def refund(self, *, idempotency_key: str) -> None:
        """Refund the charge made with this key (idempotent)."""


class IdempotencyKeyReused(ValueError):
    """The same key was used for a different amount: a bug on our side, never retried."""


class SimulatedProvider:
    name = "simulated"

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        decline_rate: float = 0.0,
        transient_error_rate: float = 0.0,
        rng: random.Random | None = None,
    ):
        self.latency_ms = latency_ms
        self.decline_rate = decline_rate
        self.transient_error_rate = transient_error_rate
        self.rng = rng or random.Random()  # noqa: S311 - simulation, not security
        self.defaults = (latency_ms, decline_rate, transient_error_rate)
        self.simulation_file = ""
        self._simulation_stamp: float | None = None

    def _refresh(self) -> None:
        """Take the behaviour from the simulation file when it changed (one stat a call)."""
        if not self.simulation_file:
            return
        try:
            stamp = os.stat(self.simulation_file).st_mtime
        except OSError:
            stamp = None
        if stamp == self._simulation_stamp:
            return
        self._simulation_stamp = stamp
        latency, decline, transient = self.defaults
        if stamp is not None:
            try:
                told = json.loads(Path(self.simulation_file).read_text() or "{}")
            except (OSError, ValueError):
                told = {}
            latency = float(told.get("latency_ms", latency))
            decline = float(told.get("decline_rate", decline))
            transient = float(told.get("transient_error_rate", transient))
        self.latency_ms, self.decline_rate, self.transient_error_rate = latency, decline, transient

    def charge(
        self, *, idempotency_key: str, amount: Decimal, currency: str, shopper_id: str
    ) -> ChargeResult:
        # A provider is a remote system: nothing it records may be rolled back by ours.
        if connection.in_atomic_block:
            raise RuntimeError("charge() must be called outside any database transaction")
        self._refresh()
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)
        flaky = FLAKY_PATTERN.match(shopper_id)
        if flaky:
            attempts = self._count_attempt(idempotency_key)
            if attempts <= int(flaky.group(1)):
                raise GatewayUnavailable(f"simulated outage (attempt {attempts} for this key)")
        if self.transient_error_rate and self.rng.random() < self.transient_error_rate:
            raise GatewayUnavailable("simulated transient provider error")

        charges = SimulatedCharge.objects.using(PROVIDER_DB)
        existing = charges.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            declined = shopper_id.startswith(DECLINE_PREFIX) or (
                self.decline_rate > 0 and self.rng.random() < self.decline_rate
            )
            try:
                existing = SimulatedCharge.objects.using(PROVIDER_DB).create(
                    idempotency_key=idempotency_key,
                    reference=f"sim_{uuid.uuid4().hex[:24]}",
                    amount=amount,
                    currency=currency,
                    status=(
                        SimulatedCharge.Status.DECLINED
                        if declined
                        else SimulatedCharge.Status.APPROVED
                    ),
                    decline_code="card_declined" if declined else "",
                )
            except IntegrityError:
                # A concurrent request with the same key won; its answer is the answer.
                existing = SimulatedCharge.objects.using(PROVIDER_DB).get(
                    idempotency_key=idempotency_key
                )
        if existing.amount != amount or existing.currency != currency:
            raise IdempotencyKeyReused(
                f"key {idempotency_key} was used for {existing.amount} {existing.currency}"
            )
        return ChargeResult(
            approved=existing.status == SimulatedCharge.Status.APPROVED,
            reference=existing.reference,
            decline_code=existing.decline_code,
        )

    def refund(self, *, idempotency_key: str) -> None:
        if connection.in_atomic_block:
            raise RuntimeError("refund() must be called outside any database transaction")
        SimulatedCharge.objects.using(PROVIDER_DB).filter(
            idempotency_key=idempotency_key, status=SimulatedCharge.Status.APPROVED
        ).update(refunded=True)

    @staticmethod
    def _count_attempt(key: str) -> int:
        table = SimulatedRequest._meta.db_table
        with connections[PROVIDER_DB].cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (idempotency_key, attempts) VALUES (%s, 1) "  # noqa: S608
                f"ON CONFLICT (idempotency_key) DO UPDATE SET attempts = {table}.attempts + 1 "
                "RETURNING attempts",
                [key],
            )
            return cursor.fetchone()[0]


@cache
def gateway_from_settings() -> PaymentGateway:
    if settings.PAYMENT_GATEWAY != "simulated":
        raise ValueError(f"unknown PAYMENT_GATEWAY {settings.PAYMENT_GATEWAY!r}")
    provider = SimulatedProvider(
        latency_ms=settings.PAYMENT_LATENCY_MS,
        decline_rate=settings.PAYMENT_DECLINE_RATE,
        transient_error_rate=settings.PAYMENT_TRANSIENT_ERROR_RATE,
    )
    provider.simulation_file = settings.PAYMENT_SIMULATION_FILE
    return provider
