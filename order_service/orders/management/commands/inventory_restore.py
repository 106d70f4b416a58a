"""`manage.py order inventory_restore`: after Redis came back empty, write back the
reservations of orders accepted but not yet settled (what the relay loop does by itself;
orders/restore.py, ADR 0088). Does nothing while Redis has a rebuilt availability."""

from django.core.management.base import BaseCommand

from order_service.orders.restore import inventory_reservations_restore


class Command(BaseCommand):
    help = "Restore open reservations into an empty Redis (before fulfillment rebuilds stock)."

    def handle(self, *args, **options):
        restored = inventory_reservations_restore(grace=0.0)
        if restored is None:
            self.stdout.write("inventory_restore: Redis has its availability; nothing to do")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"inventory_restore: {restored.reservations} reservation(s), {restored.units} "
                f"units, {restored.shopper_counters} shopper counter(s) restored"
            )
        )
