"""WSGI entry point for gunicorn: `gunicorn catalog_service.config.wsgi`."""

import os

from django.core.wsgi import get_wsgi_application

from shared.settings import settings_module

os.environ["DJANGO_SETTINGS_MODULE"] = settings_module("catalog_service")

application = get_wsgi_application()
