"""Helpers for system tests that drive a running ``Platform`` (tests/system/conftest.py):
run a service's management command against it, and small demo data."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Limits high enough that a fuzzer or a browser test meets the application, not the edge's
# 429s (the admission tests in test_edge.py keep the real ones).
HIGH_LIMITS = {
    "ORDER_RATE": "100000r/s",
    "ORDER_BURST": "100000",
    "ORDER_CLIENT_RATE": "100000r/s",
    "ORDER_CLIENT_BURST": "100000",
    "QUEUE_CLIENT_RATE": "100000r/s",
    "QUEUE_CLIENT_BURST": "100000",
    "RATELIMIT_CHECKOUT_SHOPPER": "100000/m",
    "RATELIMIT_CHECKOUT_IP": "100000/m",
    "RATELIMIT_API_SHOPPER": "100000/m",
    "RATELIMIT_API_IP": "100000/m",
}


def platform_manage(platform, service: str, *args: str, timeout: float = 300) -> str:
    """``manage.py <service> <args>`` with the platform's databases, Redis and broker."""
    env = {**os.environ, **platform.env, "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), service, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"manage.py {service} {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def platform_seed(platform, products: int = 12) -> None:
    """A small demo: ``products`` products (the first 20 skus are on flash sale) and stock."""
    platform_manage(
        platform, "catalog", "seed_demo", "--products", str(products),
        "--reviews-min", "0", "--reviews-max", "2",
    )  # fmt: skip
    platform_manage(platform, "fulfillment", "seed_demo", "--count", str(products))


@contextmanager
def seeded_platform(
    tmp_path_factory, backing, *, env: dict[str, str], products: int = 12
) -> Iterator:
    """A module's own platform (``Platform`` on the private Redis and RabbitMQ of
    ``backing``) with ``env`` over its settings and a small demo seeded; stopped after."""
    from conftest import Platform

    redis_server, rabbitmq = backing
    running = Platform(tmp_path_factory.mktemp("platform"), redis_server, rabbitmq)
    running.env.update(env)
    running.start()
    try:
        platform_seed(running, products=products)
        yield running
    finally:
        running.stop()
