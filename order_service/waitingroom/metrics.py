"""The waiting room's Prometheus metrics (docs/waiting-room.md, "Watching a room").

Gauges are read from Redis at scrape time by :class:`WaitingRoomCollector` (one pipelined
read of every mirrored room), so they are as fresh as the scrape and the same whichever
worker answers. The wait histogram is observed where admission happens (the tick in the
worker that ran it) and summed over the workers like the HTTP metrics.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

import prometheus_client
import redis
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

WAIT_SECONDS = Histogram(
    "flashsale_waitingroom_wait_seconds",
    "Time from joining (or from the opening, for the pre-queue) to admission",
    ["room"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)

STATES = ("prequeue", "open", "sold_out", "paused", "closed")


class WaitingRoomCollector(Collector):
    """``flashsale_waitingroom_{queue_length,admitted,in_flight,units_left,open}{room}``."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # Imported here: the selectors' scripts observe WAIT_SECONDS of this module.
        from order_service.waitingroom.selectors import rooms_live

        families = {
            name: GaugeMetricFamily(f"flashsale_waitingroom_{name}", help_, labels=["room"])
            for name, help_ in (
                ("queue_length", "Shoppers waiting (pre-queue included), not yet admitted"),
                ("admitted", "Tickets admitted so far (admitted_through)"),
                ("in_flight", "Admitted shoppers still able to buy"),
                ("units_left", "Unreserved units of the room's skus"),
            )
        }
        open_ = GaugeMetricFamily(
            "flashsale_waitingroom_open",
            "1 for the room's current state (prequeue, open, sold_out, paused, closed)",
            labels=["room", "state"],
        )
        try:
            rooms = rooms_live()
        except redis.RedisError:  # the scrape still answers the other metrics
            logger.warning("waiting room gauges: Redis unavailable", exc_info=True)
            rooms = []
        for live in rooms:
            slug = live["room"]
            families["queue_length"].add_metric([slug], live["queue_length"])
            families["admitted"].add_metric([slug], live["admitted_through"])
            families["in_flight"].add_metric([slug], live["in_flight"])
            if live["units_left"] is not None:
                families["units_left"].add_metric([slug], live["units_left"])
            for name in STATES:
                open_.add_metric([slug, name], 1.0 if live["state"] == name else 0.0)
        yield from families.values()
        yield open_

    def describe(self) -> Iterable[Any]:
        return []


_COLLECTOR = WaitingRoomCollector()


def metrics_view(request: HttpRequest) -> HttpResponse:
    """``/metrics`` of the order service: django-prometheus's export (every worker's
    metrics) plus the room gauges read now."""
    registry = CollectorRegistry()
    # The room gauges first: the tick they run may admit shoppers, whose waits then
    # appear in this very scrape's histogram.
    registry.register(_COLLECTOR)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_DefaultRegistry())
    page = prometheus_client.generate_latest(registry)
    return HttpResponse(page, content_type=prometheus_client.CONTENT_TYPE_LATEST)


class _DefaultRegistry(Collector):
    """The process's default registry as one collector (single-process servers)."""

    def collect(self) -> Iterator[Any]:
        yield from prometheus_client.REGISTRY.collect()

    def describe(self) -> Iterable[Any]:
        return []
