"""Request ids: taken from or added to X-Request-ID, in logs, passed on to calls and tasks."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from kombu import Connection, Exchange, Queue

from shared import http as shared_http
from shared.celery import make_celery
from shared.logging import clean_request_id, get_request_id, reset_request_id, set_request_id

pytestmark = pytest.mark.django_db


def test_incoming_request_id_is_kept_and_echoed(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"


def test_missing_or_unsafe_request_id_is_replaced(client):
    generated = client.get("/healthz")["X-Request-ID"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    unsafe = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nINJECTED")["X-Request-ID"]
    assert unsafe != "bad id\nINJECTED" and len(unsafe) == 32
    assert clean_request_id("x" * 129) is None
    assert clean_request_id("ok.id:1") == "ok.id:1"


def test_log_records_carry_request_id_and_service_as_json(capsys):
    from django.conf import settings
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler()
    fmt = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(JsonFormatter(fmt["fmt"], rename_fields=fmt["rename_fields"]))
    from shared.logging import RequestIdFilter

    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("test.request_id")
    logger.addHandler(handler)
    token = set_request_id("req-42")
    try:
        logger.warning("hello")
    finally:
        reset_request_id(token)
        logger.removeHandler(handler)
    record = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert record["message"] == "hello"
    assert record["request_id"] == "req-42"
    assert record["service"] == "catalog"
    assert record["level"] == "WARNING"


def test_outgoing_http_calls_carry_the_request_id():
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # http.server API
            seen["id"] = self.headers.get("X-Request-ID")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.handle_request, daemon=True)
    thread.start()
    token = set_request_id("req-out-7")
    try:
        shared_http.session().get(f"http://127.0.0.1:{server.server_port}/", timeout=5)
    finally:
        reset_request_id(token)
        thread.join(5)
        server.server_close()
    assert seen["id"] == "req-out-7"


def test_celery_messages_carry_the_request_id_to_the_worker(settings):
    """Published on the real broker (the tests' vhost); the header is read back raw."""
    app = make_celery("requestid-test", "catalog_service.config.settings.test")
    exchange = Exchange("requestid-test", type="direct", durable=False)
    queue = Queue("requestid-test", exchange, routing_key="requestid-test", auto_delete=False)
    app.conf.task_queues = [queue]
    app.conf.task_routes = {"requestid.echo": {"queue": "requestid-test"}}

    @app.task(name="requestid.echo")
    def echo():
        return get_request_id()

    with Connection(settings.CELERY_BROKER_URL) as conn:
        bound = queue(conn.default_channel)
        bound.declare()
        bound.purge()
        token = set_request_id("req-task-9")
        try:
            echo.apply_async(connection=conn)
        finally:
            reset_request_id(token)
        message = None
        for _ in range(50):
            message = bound.get(no_ack=True)
            if message:
                break
        bound.delete()
    assert message is not None
    assert message.headers["request_id"] == "req-task-9"
    # The worker side binds it around the task body (task_prerun / task_postrun signals).
    assert echo.apply(headers={"request_id": "req-task-9"}).get() == "req-task-9"
    assert get_request_id() is None
