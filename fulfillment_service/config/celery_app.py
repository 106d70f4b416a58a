"""The fulfillment service's Celery app: `celery -A fulfillment_service.config.celery_app`.

Two departures from the platform defaults, both measured (docs/adr/0031):

* Celery's Django fixup closes every database connection before and after each task
  unless ``CELERY_DB_REUSE_MAX`` is set: a new PostgreSQL backend per task (two, with the
  provider's connection). Connections are reused here for 500 tasks; a task that hits a
  database error closes them itself before its retry (see tasks.py).
* Task events (task-received/started/succeeded, each a confirmed publish) are off by
  default; Flower switches them on remotely when it connects (``enable_events``), so
  monitoring still works where Flower runs. ``FULFILLMENT_TASK_EVENTS=1`` forces them on.
* The prefetch window holds batches (ADR 0094): ``process_order`` messages are gathered
  into batches of ``FULFILLMENT_BATCH_SIZE`` in the main process (tasks.BatchTask), so each
  pool process gets ``FULFILLMENT_PREFETCH_MULTIPLIER`` messages of the window (default two
  batches: one running, one ready). Still acks late: a message is acked after its batch.
"""

import os

from shared.celery import make_celery
from shared.settings import settings_module

app = make_celery("fulfillment", settings_module("fulfillment_service"))
app.conf["CELERY_DB_REUSE_MAX"] = int(os.environ.get("FULFILLMENT_DB_REUSE_MAX", "500"))
app.conf.worker_send_task_events = os.environ.get("FULFILLMENT_TASK_EVENTS", "0") == "1"
_batch = max(1, int(os.environ.get("FULFILLMENT_BATCH_SIZE", "100")))
app.conf.worker_prefetch_multiplier = int(
    os.environ.get("FULFILLMENT_PREFETCH_MULTIPLIER", str(2 * _batch))
)
