"""Container health check: GET a health path of the app server inside this container.

    python deploy/docker/healthcheck.py [PATH]     (default /healthz; exit 0 when it answers 200)

The Dockerfile's HEALTHCHECK runs it for the web roles; docker-compose.yml runs it with
``/flower/healthcheck`` and ``PORT=5555`` for Flower. It sends a ``Host`` the production
settings accept (the first of ``DJANGO_ALLOWED_HOSTS``) and ``X-Forwarded-Proto: https`` as the
edge does, so neither ALLOWED_HOSTS nor the HTTPS redirect turns a healthy process into a
failing check. Standard library only: it must run in any role of the image.
"""

from __future__ import annotations

import http.client
import os
import sys


def health_host(allowed_hosts: str) -> str:
    """A host name that ``ALLOWED_HOSTS`` accepts: its first entry, made concrete."""
    for entry in (part.strip() for part in allowed_hosts.split(",")):
        if not entry:
            continue
        if entry == "*":
            return "localhost"
        return entry.lstrip(".")  # ".example.com" also matches "example.com"
    return "localhost"


def check(path: str, port: int, host: str, timeout: float = 4.0) -> tuple[bool, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "X-Forwarded-Proto": "https"})
        response = conn.getresponse()
        response.read()
    except OSError as exc:
        return False, f"GET {path} on :{port} failed: {exc}"
    finally:
        conn.close()
    return response.status == 200, f"GET {path} on :{port} answered {response.status}"


def main(argv: list[str]) -> int:
    path = argv[1] if len(argv) > 1 else "/healthz"
    port = int(os.environ.get("PORT", "8000"))
    ok, message = check(path, port, health_host(os.environ.get("DJANGO_ALLOWED_HOSTS", "")))
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
