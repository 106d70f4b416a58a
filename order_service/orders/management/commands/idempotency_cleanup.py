"""`manage.py order idempotency_cleanup`: delete Idempotency-Keys past IDEMPOTENCY_KEY_TTL.

The outbox relay does this every few minutes too; this command is for cron or by hand.
"""

from django.core.management.base import BaseCommand

from order_service.orders.services import idempotency_keys_expire


class Command(BaseCommand):
    help = "Delete idempotency keys older than IDEMPOTENCY_KEY_TTL (default 24 h)."

    def handle(self, *args, **options):
        deleted = idempotency_keys_expire()
        self.stdout.write(f"deleted {deleted} expired idempotency key(s)")
