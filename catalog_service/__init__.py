"""Catalog service: see docs/architecture.md."""
