"""The platform's common Django library. It imports no service (import-linter enforces it)."""
