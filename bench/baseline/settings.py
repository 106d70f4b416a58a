"""Settings of the monolith (bench/baseline): one database, database sessions, no cache."""

from __future__ import annotations

import os

import environ

env = environ.Env()

SECRET_KEY = os.environ.get("MONOLITH_SECRET_KEY", "monolith-bench-not-a-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "bench.baseline.urls"
WSGI_APPLICATION = "bench.baseline.wsgi.application"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "bench.baseline.apps.MonolithConfig",
]
MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
DATABASES = {
    "default": env.db_url(
        "MONOLITH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/monolith"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = 60
# The old shop keeps everything in its one database: sessions (and the cart in them) too.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 900
CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
# The simulated payment provider: the same knobs and behaviour as fulfillment's gateway.
PAYMENT_LATENCY_MS = env.float("PAYMENT_LATENCY_MS", default=0.0)
PAYMENT_DECLINE_RATE = env.float("PAYMENT_DECLINE_RATE", default=0.0)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
CSRF_FAILURE_VIEW = "bench.baseline.views.csrf_failure"
