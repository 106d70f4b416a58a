"""GET /internal/orders/{order_id}: payment, shipment and ledger status of an order.

Served on loopback only (gunicorn binds 127.0.0.1); other services reach it through the
Envoy sidecar. Errors carry a stable machine-readable ``code``."""

import uuid

from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from fulfillment_service.fulfillment.selectors import order_status_get


@never_cache
@require_GET
def order_detail(request, order_id: str):
    try:
        parsed = uuid.UUID(order_id)
    except ValueError:
        return JsonResponse(
            {"code": "invalid_order_id", "detail": "order_id must be a UUID"}, status=400
        )
    status = order_status_get(order_id=parsed)
    if status is None:
        return JsonResponse(
            {"code": "order_not_found", "detail": "fulfillment has not processed this order"},
            status=404,
        )
    return JsonResponse(status)
