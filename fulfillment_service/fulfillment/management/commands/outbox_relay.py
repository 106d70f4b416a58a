"""`manage.py fulfillment outbox_relay [--once]`: publish status events from the outbox.

The shared relay loop (shared/outbox/command.py): woken after each commit that wrote
events, polling every ``OUTBOX_RELAY_INTERVAL`` seconds as the fallback, confirmed
batches taken with SKIP LOCKED (several relays may run), backoff with jitter for what the
broker did not take. Its metrics (``METRICS_PORT``): the fulfillment outbox backlog and the
age of its oldest unpublished event.
"""

from fulfillment_service.fulfillment.outbox import outbox
from shared.outbox.command import OutboxRelayCommand


class Command(OutboxRelayCommand):
    help = "Publish outbox status events to the order service (loop; --once for one sweep)."
    outbox = outbox
