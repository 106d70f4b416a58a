"""`manage.py fulfillment restock --sku S --quantity N`: receive units of a sku.

PostgreSQL (the system of record) first, then the Redis availability counter; a missing
counter is rebuilt from PostgreSQL instead of guessed.
"""

from django.core.management.base import BaseCommand, CommandError

from fulfillment_service.fulfillment.errors import UnknownSku
from fulfillment_service.fulfillment.stock import stock_restock


class Command(BaseCommand):
    help = "Receive units of a sku: PostgreSQL stock and Redis availability together."

    def add_arguments(self, parser):
        parser.add_argument("--sku", required=True)
        parser.add_argument("--quantity", required=True, type=int)
        parser.add_argument("--new", action="store_true", help="allow a sku with no stock row")

    def handle(self, *args, sku, quantity, new, **options):
        if quantity <= 0:
            raise CommandError("--quantity must be a positive number of units")
        try:
            result = stock_restock(sku=sku, quantity=quantity, source="command", create=new)
        except UnknownSku as exc:
            raise CommandError(f"{exc}; check the sku, or pass --new to create it") from exc
        note = " (Redis counter was missing: rebuilt from PostgreSQL)" if result.rebuilt else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"{sku}: +{quantity} units; on hand {result.on_hand}, received {result.received}, "
                f"available in Redis {result.available}{note}"
            )
        )
