"""The order service's question to fulfillment (through the sidecar in production): the
client answers what a shopper may see, and degrades instead of failing."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from flashops.processes import free_port
from order_service.orders.fulfillment import fulfillment_details_get

ORDER_ID = uuid.UUID("3f2a1c4e-0000-4000-8000-000000000001")

FULFILLMENT_ANSWER = {
    "order_id": str(ORDER_ID),
    "status": "fulfilled",
    "payment": {
        "status": "captured", "amount": "19.98", "currency": "EUR",
        "provider": "simulated", "provider_reference": "ch_secret", "decline_code": "",
    },
    "shipment": {"status": "pending", "lines": [{"sku": "A", "quantity": 2}]},
    "ledger": {"status": "posted", "transactions": [{"id": 1, "entries": []}]},
}  # fmt: skip


@pytest.fixture
def fulfillment_api():
    """A real HTTP server answering as fulfillment's internal API would; records requests."""
    seen: list[dict] = []
    answers: dict[str, tuple[int, dict]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server API
            seen.append({"path": self.path, "request_id": self.headers.get("X-Request-ID")})
            code, body = answers.get(self.path, (404, {"code": "order_not_found"}))
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", answers, seen
    finally:
        server.shutdown()
        server.server_close()


def test_details_are_trimmed_to_what_a_shopper_may_see(settings, fulfillment_api):
    url, answers, seen = fulfillment_api
    settings.FULFILLMENT_URL = url
    answers[f"/internal/orders/{ORDER_ID}"] = (200, FULFILLMENT_ANSWER)
    assert fulfillment_details_get(order_id=ORDER_ID) == {
        "available": True,
        "payment": {"status": "captured", "amount": "19.98", "currency": "EUR",
                    "decline_code": ""},
        "shipment": {"status": "pending"},
        "ledger": {"status": "posted"},
    }  # fmt: skip
    assert [r["path"] for r in seen] == [f"/internal/orders/{ORDER_ID}"]


def test_an_order_fulfillment_has_not_processed_yet(settings, fulfillment_api):
    url, _answers, _seen = fulfillment_api
    settings.FULFILLMENT_URL = url
    assert fulfillment_details_get(order_id=ORDER_ID) == {
        "available": False,
        "reason": "not_processed_yet",
    }


def test_fulfillment_errors_and_unreachable_degrade(settings, fulfillment_api):
    url, answers, _seen = fulfillment_api
    settings.FULFILLMENT_URL = url
    answers[f"/internal/orders/{ORDER_ID}"] = (503, {"detail": "upstream overflow"})
    assert fulfillment_details_get(order_id=ORDER_ID) == {"available": False, "reason": "http_503"}
    settings.FULFILLMENT_URL = f"http://127.0.0.1:{free_port()}"
    assert fulfillment_details_get(order_id=ORDER_ID) == {
        "available": False,
        "reason": "unreachable",
    }
