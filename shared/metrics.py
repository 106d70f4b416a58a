"""Prometheus metrics every service shares, and the HTTP server of the background processes.

The web processes (gunicorn) export their metrics on ``/metrics`` (django-prometheus, with
``PROMETHEUS_MULTIPROC_DIR`` aggregating the workers). A background process (an outbox
relay, ``fulfillment maintain``) serves no requests, so it serves its own metrics with
:func:`metrics_server_start` on ``METRICS_PORT``: Prometheus scrapes it like any target and
a process that died shows as a target down (ADR 0070).

The business metrics defined here are the ones two services share (one name, a ``service``
label): the outbox backlog and its oldest message's age, and the available units of each
sku on a live flash sale. Checkout metrics belong to the order service
(``order_service/orders/metrics.py``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import REGISTRY, CollectorRegistry, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from shared.offers import Offer, get_offers

if TYPE_CHECKING:
    import redis

    from shared.inventory import Inventory

OUTBOX_BACKLOG = Gauge(
    "outbox_backlog_messages",
    "Outbox messages written but not yet published to RabbitMQ",
    ["service"],
    multiprocess_mode="mostrecent",
)
OUTBOX_OLDEST_AGE = Gauge(
    "outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox message (0 when none waits)",
    ["service"],
    multiprocess_mode="mostrecent",
)


def outbox_gauges_set(*, service: str, pending: int, oldest_age_seconds: float | None) -> None:
    """Export one service's outbox backlog (called by its relay, every few seconds)."""
    OUTBOX_BACKLOG.labels(service=service).set(pending)
    OUTBOX_OLDEST_AGE.labels(service=service).set(max(0.0, oldest_age_seconds or 0.0))


class Every:
    """True at most once per ``seconds`` (a loop refreshing gauges between its rounds)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.seconds:
            return False
        self._last = now
        return True


class SaleAvailabilityCollector(Collector):
    """``inventory_sale_available_units{sku}``: units Redis still sells for each sku whose
    flash sale is live now. The counters are read at every scrape (one MGET of the sale
    skus), so the gauge is as fresh as the scrape; the offers with a sale window are
    re-read (a SCAN and a pipelined read of the offer read model) at most every
    ``refresh_seconds``, since reading every offer costs 36-46 ms per 1000 products here
    (20,000 offers: 0.72-0.91 s; a scrape of the cached list: 1 ms).
    ``offers`` and ``inventory`` return the offer read model's Redis client and the
    Inventory."""

    def __init__(
        self,
        *,
        offers: Callable[[], redis.Redis],
        inventory: Callable[[], Inventory],
        refresh_seconds: float = 30.0,
    ):
        self._offers = offers
        self._inventory = inventory
        self._refresh = Every(refresh_seconds)
        self._sales: list[Offer] = []

    def _sale_offers(self) -> list[Offer]:
        if self._refresh.due():
            client = self._offers()
            skus = sorted(
                (key.decode() if isinstance(key, bytes) else key)[len("offer:{") : -1]
                for key in client.scan_iter(match="offer:{*}", count=1000)
            )
            self._sales = [
                offer
                for offer in get_offers(client, skus).values()
                if offer is not None and offer.active and offer.sale_price and offer.ends_at
            ]
        return self._sales

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "inventory_sale_available_units",
            "Units still available (Redis) of each sku on a live flash sale",
            labels=["sku"],
        )
        now = datetime.now(UTC)
        live = [offer.sku for offer in self._sale_offers() if offer.on_sale_at(now)]
        available = self._inventory().availability_many(live) if live else {}
        for sku, units in sorted(available.items()):
            if units is not None:
                family.add_metric([sku], float(units))
        yield family

    def describe(self) -> Iterable[Any]:
        return []


def metrics_registry(*, collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """This process's metrics: the multi-process directory's when the process has one
    (``PROMETHEUS_MULTIPROC_DIR``), else the default registry; plus scrape-time collectors."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
    else:
        registry = REGISTRY
    for collector in collectors:
        registry.register(collector)
    return registry


def metrics_server_start(
    *, port: int | None = None, collectors: Iterable[Collector] = ()
) -> int | None:
    """Serve this process's metrics over HTTP on ``port`` (default ``METRICS_PORT``; none
    when unset or 0) at ``METRICS_ADDR`` (127.0.0.1; 0.0.0.0 in a container). Returns the
    port, or None when no server was asked for."""
    if port is None:
        port = int(os.environ.get("METRICS_PORT") or 0)
    if not port:
        return None
    addr = os.environ.get("METRICS_ADDR", "127.0.0.1")
    start_http_server(port, addr=addr, registry=metrics_registry(collectors=collectors))
    return port
