"""The order service's business metrics: checkouts by outcome and the accept latency.

Counted where the outcome is decided (``services.order_checkout``, and the app's own rate
limit in ``api/ratelimit.py``), in every gunicorn worker; ``PROMETHEUS_MULTIPROC_DIR`` sums
the workers on ``/metrics`` as for the HTTP metrics. The relay exports the order outbox
backlog and the age of the oldest order still waiting for fulfillment
(:func:`relay_gauges_refresh`). docs/runbook.md, "Day of the sale", says what each means.
"""

from __future__ import annotations

from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram

from order_service.orders.selectors import order_oldest_accepted, outbox_backlog
from shared.metrics import outbox_gauges_set

# Outcomes a shopper can get; every other refusal (bad input, unknown sku...) is "rejected".
OUTCOMES = (
    "accepted", "replayed", "sold_out", "limit", "rate_limited", "sale_not_active", "rejected",
)  # fmt: skip
_OUTCOME_OF_CODE = {
    "SOLD_OUT": "sold_out",
    "STOCK_UNAVAILABLE": "sold_out",
    "SALE_PAUSED": "sold_out",
    "LIMIT_EXCEEDED": "limit",
    "RATE_LIMITED": "rate_limited",
    "SALE_NOT_ACTIVE": "sale_not_active",
}

CHECKOUTS = Counter(
    "order_checkouts_total",
    "Checkout attempts by outcome (accepted, replayed, sold_out, limit, rate_limited, ...)",
    ["outcome"],
)
ACCEPT_SECONDS = Histogram(
    "order_checkout_accept_seconds",
    "Time to accept an order in the order service (validate, reserve, write; 202 follows)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0),
)
OLDEST_ACCEPTED_AGE = Gauge(
    "order_oldest_accepted_age_seconds",
    "Age of the oldest order accepted but not yet paid, fulfilled or failed (0 when none)",
    multiprocess_mode="mostrecent",
)
for _outcome in OUTCOMES:
    CHECKOUTS.labels(outcome=_outcome)  # every outcome is a series from the start (0)


def checkout_outcome_of(*, code: str) -> str:
    """The outcome label of a refused checkout's error code."""
    return _OUTCOME_OF_CODE.get(code, "rejected")


def checkout_record(*, outcome: str, seconds: float | None = None) -> None:
    """Count one checkout; an accepted one also observes its latency."""
    CHECKOUTS.labels(outcome=outcome).inc()
    if outcome == "accepted" and seconds is not None:
        ACCEPT_SECONDS.observe(seconds)


def relay_gauges_refresh() -> None:
    """Outbox backlog and the oldest order still waiting for fulfillment (the relay calls
    this every few seconds)."""
    backlog = outbox_backlog()
    age = backlog.oldest_age
    outbox_gauges_set(
        service="order",
        pending=backlog.pending,
        oldest_age_seconds=age.total_seconds() if age is not None else None,
    )
    oldest = order_oldest_accepted()
    OLDEST_ACCEPTED_AGE.set(
        max(0.0, (timezone.now() - oldest).total_seconds()) if oldest is not None else 0.0
    )
