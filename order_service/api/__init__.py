"""The order service's REST API (DRF): transport only, logic lives in order_service.orders."""
