"""Errors of the fulfillment domain, split by what the caller should do about them."""

from __future__ import annotations


class TransientError(Exception):
    """Worth retrying later (with backoff): the outcome is unknown or the peer is down."""


class GatewayUnavailable(TransientError):
    """The payment provider did not answer; the charge may or may not exist (same key
    on retry returns it if it does)."""


class InsufficientStock(Exception):
    """The system of record has fewer units than the order needs."""

    def __init__(self, sku: str, wanted: int):
        super().__init__(f"not enough stock of {sku} for {wanted} units")
        self.sku = sku
        self.wanted = wanted


class UnknownSku(ValueError):
    def __init__(self, sku: str):
        super().__init__(f"unknown sku {sku!r}")
        self.sku = sku
