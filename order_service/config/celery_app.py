"""The order service's Celery app: `celery -A order_service.config.celery_app worker`."""

from shared.celery import make_celery
from shared.settings import settings_module

app = make_celery("order", settings_module("order_service"))
