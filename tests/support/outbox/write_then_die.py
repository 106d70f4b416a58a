"""Fault injection for the outbox suite, run as its own process of one service:

    python -m tests.support.outbox.write_then_die SERVICE N   (from the repository root)

writes N outbox rows through the service's write path in one transaction and dies by
SIGKILL the moment that transaction has committed, before its after-commit hooks run (so
before the relay is woken). The service code has no fault hook: the first on_commit
callback of the transaction is the kill.
"""

import os
import signal
import sys

import django

from shared.settings import settings_module

service, n = sys.argv[1], int(sys.argv[2])
os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module(f"{service}_service"))
django.setup()

from django.db import transaction  # noqa: E402

from tests.support.outbox.writers import rows_write  # noqa: E402


def die() -> None:
    print("committed; dying before the relay is woken", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


with transaction.atomic():
    transaction.on_commit(die)  # registered first: runs before the writer's wake-up
    rows_write(service=service, n=n)
print("UNREACHABLE: the process should have been killed", flush=True)
sys.exit(3)
