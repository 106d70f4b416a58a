"""WSGI entry point of the monolith (gunicorn bench.baseline.wsgi -c deploy/gunicorn.conf.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")
application = get_wsgi_application()
