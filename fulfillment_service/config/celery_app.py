"""The fulfillment service's Celery app: `celery -A fulfillment_service.config.celery_app`."""

from shared.celery import make_celery
from shared.settings import settings_module

app = make_celery("fulfillment", settings_module("fulfillment_service"))
