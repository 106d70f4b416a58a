"""Test helpers shared by every service's tests: real processes on free ports.

The pytest plugin (:mod:`shared.testing.plugin`, registered as an entry point) exposes them as
fixtures. Fault tests use a *private* Redis or RabbitMQ started here, never the machine's
shared servers.
"""

from shared.testing.processes import (
    ManagedProcess,
    PrivateRabbitMQ,
    PrivateRedis,
    free_port,
    wait_for_port,
)

__all__ = ["ManagedProcess", "PrivateRabbitMQ", "PrivateRedis", "free_port", "wait_for_port"]
