"""Fault injection for tests/order/test_order_outbox.py, run as its own process.

Places one order through the real checkout service, then dies by SIGKILL at the moment the
transaction has committed and the relay would be woken. The service code has no fault
hook: this script replaces the after-commit wake-up of *this process only*.

    python tests/order/helpers/checkout_then_die.py SKU QUANTITY IDEMPOTENCY_KEY [WHEN]

WHEN is ``after-commit`` (default: the order is written, the relay not woken) or
``after-reserve`` (the stock is reserved in Redis, the order not yet written).
"""

import os
import signal
import sys

import django

from shared.settings import settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module("order_service"))
django.setup()

from order_service.orders import services  # noqa: E402 - after django.setup()
from order_service.orders.cart import Shopper  # noqa: E402


def die_before_publishing(**_):
    print("committed; dying before publish", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def die_before_writing(**_):
    print("reserved; dying before the database write", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


sku, quantity, key = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if (sys.argv[4] if len(sys.argv) > 4 else "after-commit") == "after-reserve":
    services._order_record = die_before_writing
else:
    # After the commit, before the script that ends the guard and wakes the relay (or the
    # after-commit wake-up, when the relay listens on another Redis).
    services._guard_finish = die_before_publishing
    services.outbox_wake = die_before_publishing
services.order_checkout(
    shopper=Shopper(shopper_id="anon:killed-process"),
    items={sku: quantity},
    idempotency_key=key,
    fingerprint="fault-test",
)
print("UNREACHABLE: the process should have been killed", flush=True)
sys.exit(3)
