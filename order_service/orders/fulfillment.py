"""The order service's one synchronous question to fulfillment: how far is this order?

The call goes to ``settings.FULFILLMENT_URL``, the order service's local Envoy sidecar, which
adds mTLS, retries, timeouts and latency metrics (docs/edge-and-mesh.md); nothing of that is
done here. The answer is a detail for the shopper, never needed to serve the order's own
status (kept by status events), so any failure degrades to "not available".
"""

from __future__ import annotations

import logging
import uuid

import requests
from django.conf import settings

from shared.http import session

logger = logging.getLogger(__name__)

_http = session()


def fulfillment_details_get(*, order_id: uuid.UUID) -> dict:
    """Payment, shipment and ledger status from fulfillment's internal API, or
    ``{"available": False, "reason": ...}`` when it cannot be had right now."""
    url = f"{settings.FULFILLMENT_URL.rstrip('/')}/internal/orders/{order_id}"
    try:
        response = _http.get(url, timeout=settings.FULFILLMENT_TIMEOUT)
    except requests.RequestException as exc:
        logger.warning("fulfillment unreachable for order %s: %s", order_id, exc)
        return {"available": False, "reason": "unreachable"}
    if response.status_code == 404:
        return {"available": False, "reason": "not_processed_yet"}
    if response.status_code != 200:
        logger.warning("fulfillment answered %s for order %s", response.status_code, order_id)
        return {"available": False, "reason": f"http_{response.status_code}"}
    body = response.json()
    payment, shipment = body.get("payment") or {}, body.get("shipment") or {}
    # Only what a shopper may see: no provider references, no ledger entries.
    return {
        "available": True,
        "payment": {k: payment.get(k) for k in ("status", "amount", "currency", "decline_code")}
        if payment
        else None,
        "shipment": {"status": shipment.get("status")} if shipment else None,
        "ledger": {"status": (body.get("ledger") or {}).get("status")},
    }
