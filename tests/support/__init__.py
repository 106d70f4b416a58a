"""Test-only helpers (never in the runtime library or the image): the pytest plugin, the
checks every service passes, HTTP/staff clients, and the edge/mesh lab."""
