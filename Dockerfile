# syntax=docker/dockerfile:1
# The platform's one application image. Every role runs from it, chosen by the command:
#   gunicorn <svc>_service.config.wsgi -c deploy/gunicorn.conf.py --bind 0.0.0.0:8000
#   celery -A <svc>_service.config.celery_app worker ...   (order, fulfillment)
#   python manage.py <catalog|order|fulfillment> migrate   (one-shot release jobs)
# docker-compose.yml and deploy/k8s/ give the command; docs/deployment.md explains each role.
# No secret is baked in: settings come from the environment at run time (production settings
# refuse to start without DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and the database URL).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtualenv with the pinned dependency tree and the project ---------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, in their own layer, so a code change does not reinstall them. The
# direct dependencies are read from pyproject.toml and held to requirements.lock's pins.
COPY pyproject.toml requirements.lock ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/direct.txt \
 && pip install -c requirements.lock -r /tmp/direct.txt

# Then the project itself (a regular, non-editable install into the virtualenv).
COPY manage.py ./
COPY shared ./shared
COPY catalog_service ./catalog_service
COPY order_service ./order_service
COPY fulfillment_service ./fulfillment_service
RUN pip install -c requirements.lock . \
 && pip check

# --- runtime: the virtualenv, manage.py and the deploy files; runs as a non-root user -------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_ENV=production \
    STATIC_ROOT_BASE=/srv/static \
    PORT=8000

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it. /srv/static belongs to it:
# a fresh named volume mounted there takes this ownership, and the release job's
# collectstatic writes each service's files into it for NGINX to serve.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /srv/static \
 && chown app:app /srv/static

COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY manage.py ./
COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py
COPY deploy/docker/healthcheck.py ./deploy/docker/healthcheck.py

USER 10001:10001
EXPOSE 8000

# Web roles answer /healthz on $PORT; docker-compose.yml overrides this for workers and Flower.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/docker/healthcheck.py"]

# No default role: without a command this prints manage.py's usage and exits.
CMD ["python", "manage.py"]
