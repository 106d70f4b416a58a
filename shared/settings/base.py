"""Base settings every service starts from.

Each service's ``config/settings/base.py`` does ``from shared.settings.base import *`` and then
calls :func:`service_settings` to fill in what differs per service (database, URLs, apps).
Everything comes from the environment (django-environ) with defaults that work on a local
development machine; production.py removes the defaults for secrets.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import environ
from csp.constants import NONCE

REPO_ROOT = Path(__file__).resolve().parents[2]
env = environ.Env()

# A .env file at the repository root is optional; the environment always wins.
if (REPO_ROOT / ".env").exists():
    environ.Env.read_env(str(REPO_ROOT / ".env"), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="local-dev-only-not-secret-4a7f0c2e9d")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

SHARED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "axes",
    "csp",
    "shared",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "shared.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    # Django's SessionMiddleware, with staff sessions of their own under the admin (ADR 0065).
    "shared.sessions.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: it answers a locked-out login (see LOGIN THROTTLING).
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Client address and login throttling (docs/security.md) ---
# X-Forwarded-For is believed only when the request comes from one of these (the edge).
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
# django-axes counts failed logins in the service's own database (AccessAttempt, visible and
# deletable in its admin: that is the unlock) and logs one line per failure. A username or a
# client address with LOGIN_FAILURE_LIMIT failures is locked out for LOGIN_LOCKOUT_MINUTES.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "shared.clientip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = True
# The audit line names the account and the address (never the password).
AXES_SENSITIVE_PARAMETERS: list[str] = []

# --- Content-Security-Policy on every response (django-csp; docs/security.md) ---
# Scripts only from this origin or inline with the response's nonce ({{ request.csp_nonce }});
# nothing from another origin at all. Inline *style attributes* stay allowed: Django's admin
# uses them, and they cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        # Redoc renders in a web worker made from a blob.
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'self'"],
    }
}

# --- JSON bodies (shared/jsonbounds.py): no parser bombs, REST, GraphQL and broker alike ---
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)
JSON_MAX_ITEMS = env.int("JSON_MAX_ITEMS", default=10_000)

# --- Redis: cache, sessions (shared by every instance of every service: R5), inventory ---
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
INVENTORY_REDIS_URL = env("INVENTORY_REDIS_URL", default=REDIS_URL)
REDIS_TIMEOUT = env.float("REDIS_TIMEOUT", default=1.0)

_redis_options = {
    "CLIENT_CLASS": "django_redis.client.DefaultClient",
    "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT,
    "SOCKET_TIMEOUT": REDIS_TIMEOUT,
}


def redis_caches(service: str) -> dict:
    """Cache aliases: ``default`` is private to the service, ``sessions`` is platform-wide."""
    return {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{service}:cache",
            "OPTIONS": dict(_redis_options),
        },
        # Same location and prefix in every service: any instance can read any session.
        "sessions": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "platform:session",
            "OPTIONS": dict(_redis_options),
        },
        # Staff logins to this service's admin (shared.sessions, ADR 0065): every instance of
        # the service reads them, no other service can.
        "staff_sessions": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{service}:staff-session",
            "OPTIONS": dict(_redis_options),
        },
    }


# Django's cache store, creating a session in one round trip (shared/sessions.py).
SESSION_ENGINE = "shared.sessions"
SESSION_CACHE_ALIAS = "sessions"
SESSION_COOKIE_NAME = "flashsale_session"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=7 * 24 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE: Literal["Lax", "Strict", "None", False] = "Lax"


# Each service sets STAFF_SESSION_PATH (its admin prefix) and STAFF_SESSION_COOKIE_NAME.
STAFF_SESSION_COOKIE_AGE = env.int("STAFF_SESSION_COOKIE_AGE", default=8 * 3600)
# Admin messages ("3 sales extended") live in the session that is in use (the staff one
# under /admin/<service>/), not in a cookie every service would read.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# --- Behind the edge (ADR 0065) ---
# NGINX forwards Host as the browser sent it (with its port) and sets X-Forwarded-Proto to
# its own $scheme, replacing what a client sent; the application servers are reachable only
# from the edge (loopback locally, the internal network in containers). So the scheme the
# browser used is known, and CSRF's Origin check compares like with like.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
EDGE_HOST = env("EDGE_HOST", default="127.0.0.1")
EDGE_PORT = env.int("EDGE_PORT", default=8080)
EDGE_TLS_PORT = env.int("EDGE_TLS_PORT", default=8443)


def edge_origins(*, host: str, port: int, tls_port: int) -> list[str]:
    """The origins a browser on this machine uses to reach the edge (http and https)."""
    hosts = dict.fromkeys([host, "127.0.0.1", "localhost", "[::1]"])
    return [f"http://{h}:{port}" for h in hosts] + [f"https://{h}:{tls_port}" for h in hosts]


# Origins allowed to POST forms beyond the request's own (a proxy in front of the edge, e.g.
# https://shop.example.com); locally the edge's own origins, from the runner's ports.
CSRF_TRUSTED_ORIGINS = env.list(
    "CSRF_TRUSTED_ORIGINS",
    default=edge_origins(host=EDGE_HOST, port=EDGE_PORT, tls_port=EDGE_TLS_PORT),
)

# --- RabbitMQ / Celery (services that run workers import shared.celery) ---
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="amqp://guest:guest@127.0.0.1:5672//")
BROKER_CONNECT_TIMEOUT = env.float("BROKER_CONNECT_TIMEOUT", default=2.0)

# --- The outbox relay (shared/outbox, ADRs 0091-0093), the same in every service ---
# How long the relay waits for the broker's confirms of one batch (seconds).
OUTBOX_CONFIRM_TIMEOUT = env.float("OUTBOX_CONFIRM_TIMEOUT", default=2.0)
# The relay sleeps on its wake channel (a Redis PUBLISH after each commit that wrote rows)
# and sweeps anyway after this many seconds: the fallback when a wake is lost.
OUTBOX_RELAY_INTERVAL = env.float("OUTBOX_RELAY_INTERVAL", default=0.5)
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=200)
# Where the wake-ups go (Redis pub/sub; channels are per table and database, ADR 0092).
OUTBOX_WAKE_REDIS_URL = env("OUTBOX_WAKE_REDIS_URL", default=REDIS_URL)

# --- Health: what /readyz checks. Services narrow or extend this list. ---
READINESS_CHECKS = ["database", "redis", "broker"]
# Checked and reported, but the instance stays ready without them (see shared/health.py).
READINESS_DEGRADED_OK: list[str] = []

# --- Static files, collected per service under var/static/<service> ---
STATIC_ROOT_BASE = Path(env("STATIC_ROOT_BASE", default=str(REPO_ROOT / "var" / "static")))

# --- Logging: JSON lines with the request id (shared.logging) ---
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOG_FORMAT = env("LOG_FORMAT", default="json")  # "json" or "console"

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "shared.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(service)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "console": {
            "format": "%(asctime)s %(levelname)-7s [%(service)s %(request_id)s] %(name)s: "
            "%(message)s"
        },
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {"level": "WARNING"},
    },
}

# Prometheus: with several gunicorn workers, metrics are aggregated through
# PROMETHEUS_MULTIPROC_DIR (set by the runner); django-prometheus reads it itself.
PROMETHEUS_EXPORT_MIGRATIONS = False

SERVICE_NAME = os.environ.get("SERVICE_NAME", "")


def database(service: str, default_name: str) -> dict:
    """The service's own PostgreSQL database, from ``<SERVICE>_DATABASE_URL``."""
    var = f"{service.upper()}_DATABASE_URL"
    cfg = env.db_url(
        var, default=f"postgres://{default_name}:{default_name}@127.0.0.1:5432/{default_name}"
    )
    cfg["ENGINE"] = "django_prometheus.db.backends.postgresql"
    cfg["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    cfg["CONN_HEALTH_CHECKS"] = True
    cfg.setdefault("OPTIONS", {})["connect_timeout"] = env.int(
        "DATABASE_CONNECT_TIMEOUT", default=3
    )
    return cfg
