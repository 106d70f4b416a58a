"""The simulated provider behaves like a real one: idempotent by key, configurable."""

from __future__ import annotations

import random
import time
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import override_settings

from fulfillment_service.fulfillment import gateway as gateway_module
from fulfillment_service.fulfillment.errors import GatewayUnavailable
from fulfillment_service.fulfillment.gateway import (
    IdempotencyKeyReused,
    SimulatedProvider,
    gateway_from_settings,
)
from fulfillment_service.fulfillment.models import SimulatedCharge

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _charge(provider, key="order:1", amount="10.00", shopper="s"):
    return provider.charge(
        idempotency_key=key, amount=Decimal(amount), currency="EUR", shopper_id=shopper
    )


def test_the_same_key_never_charges_twice_and_returns_the_first_answer():
    provider = SimulatedProvider(decline_rate=0.5, rng=random.Random(7))
    first = _charge(provider)
    answers = {_charge(provider) for _ in range(10)}
    assert answers == {first}
    assert SimulatedCharge.objects.count() == 1
    # A fresh provider object (a restarted worker) still remembers: it is in the table.
    assert _charge(SimulatedProvider(decline_rate=0.5)) == first


def test_reusing_a_key_for_another_amount_is_refused():
    provider = SimulatedProvider()
    _charge(provider, amount="10.00")
    with pytest.raises(IdempotencyKeyReused):
        _charge(provider, amount="11.00")


def test_decline_rate_transient_rate_and_latency_are_honoured():
    always_declines = SimulatedProvider(decline_rate=1.0)
    result = _charge(always_declines, key="k-decline")
    assert (result.approved, result.decline_code) == (False, "card_declined")
    with pytest.raises(GatewayUnavailable):
        _charge(SimulatedProvider(transient_error_rate=1.0), key="k-transient")
    assert not SimulatedCharge.objects.filter(idempotency_key="k-transient").exists()
    slow = SimulatedProvider(latency_ms=200)
    started = time.perf_counter()
    assert _charge(slow, key="k-slow").approved
    assert time.perf_counter() - started >= 0.2


def test_scripted_shoppers_decline_or_fail_a_number_of_times():
    provider = SimulatedProvider()
    assert not _charge(provider, key="k1", shopper="test-decline-card").approved
    for _ in range(2):
        with pytest.raises(GatewayUnavailable):
            _charge(provider, key="k2", shopper="test-flaky-2")
    assert _charge(provider, key="k2", shopper="test-flaky-2").approved


def test_a_charge_inside_a_database_transaction_is_refused():
    with (
        pytest.raises(RuntimeError, match="outside any database transaction"),
        transaction.atomic(),
    ):
        _charge(SimulatedProvider())


def test_the_gateway_is_configured_from_settings():
    gateway_module.gateway_from_settings.cache_clear()
    try:
        with override_settings(
            PAYMENT_LATENCY_MS=5, PAYMENT_DECLINE_RATE=0.25, PAYMENT_TRANSIENT_ERROR_RATE=0.1
        ):
            provider = gateway_from_settings()
        assert (provider.latency_ms, provider.decline_rate, provider.transient_error_rate) == (
            5,
            0.25,
            0.1,
        )
    finally:
        gateway_module.gateway_from_settings.cache_clear()
