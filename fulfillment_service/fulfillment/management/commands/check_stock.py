"""`manage.py fulfillment check_stock [--repair]`: the stock invariant checker.

For every sku: received = available in Redis + held by open reservations + sold in the
ledger. Exit code 0 when it holds (or was repaired), 1 when drift remains. After Redis came
back empty, ``--repair`` rebuilds the counters only once the order service has restored
its open reservations (ADR 0088); until then it says so and leaves them missing."""

import sys

from django.core.management.base import BaseCommand

from fulfillment_service.fulfillment.invariants import (
    stock_availability_rebuild,
    stock_invariant_check,
)
from fulfillment_service.fulfillment.stock import inventory_client


def report_lines(report) -> list[str]:
    lines = []
    for b in report.drifting:
        lines.append(
            f"  DRIFT {b.sku}: received {b.received} != available {b.available} + held "
            f"{b.held} + sold {b.sold} (drift {b.drift:+d})"
        )
    for b in report.unknown:
        lines.append(f"  UNKNOWN {b.sku}: no Redis counter (on hand {b.on_hand}, held {b.held})")
    for b in report.ledger_mismatch:
        lines.append(
            f"  LEDGER {b.sku}: on hand {b.on_hand} != received {b.received} - sold {b.sold}"
        )
    return lines


class Command(BaseCommand):
    help = "Check (and with --repair fix) Redis availability against PostgreSQL and the ledger."

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="rebuild Redis from PostgreSQL")
        parser.add_argument("--sku", action="append", dest="skus", help="only these skus")
        parser.add_argument("--samples", type=int, default=3)

    def handle(self, *args, repair, skus, samples, **options):
        if repair:
            rebuilt = stock_availability_rebuild(inventory=inventory_client())
            if rebuilt.state == "rebuilt":
                self.stdout.write(
                    f"Redis came back empty: {rebuilt.skus} counters rebuilt "
                    f"({rebuilt.held_units} units held by accepted orders); sale resumed"
                )
            elif rebuilt.state == "waiting":
                self.stdout.write(
                    "Redis came back empty: waiting for the order service's open reservations "
                    "(its outbox_relay restores them; or run `manage.py order inventory_restore`)"
                )
        report = stock_invariant_check(
            inventory=inventory_client(), skus=skus, samples=samples, repair=repair
        )
        for line in report_lines(report):
            self.stdout.write(line)
        if report.ok:
            ok = f"stock invariant holds for {report.checked} skus"
            self.stdout.write(self.style.SUCCESS(ok))
            return
        summary = (
            f"{report.checked} skus checked: {len(report.drifting)} drifting, "
            f"{len(report.unknown)} unknown in Redis, {len(report.ledger_mismatch)} ledger mismatch"
        )
        if repair:
            self.stdout.write(
                self.style.WARNING(
                    f"{summary}; repaired {report.repaired} Redis counters, settled "
                    f"{report.settled_reservations} leftover reservations"
                )
            )
            if report.ledger_mismatch:
                sys.exit(1)
            return
        self.stdout.write(self.style.ERROR(f"{summary}; run with --repair to rebuild Redis"))
        sys.exit(1)
