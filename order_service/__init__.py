"""Order service: see docs/architecture.md."""
