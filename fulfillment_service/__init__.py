"""Fulfillment service: see docs/architecture.md."""
