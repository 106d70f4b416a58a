"""Render the edge (NGINX) and mesh (Envoy) configuration from settings in the environment.

Used by ``bin/platform render`` (:mod:`flashops.platform`, and so by ``bin/platform up``),
by the system tests and by the benchmarks, so that all of them run exactly the configuration
in deploy/. Templates use ``${NAME}`` placeholders like envsubst (what the nginx image does
in production); NGINX's own lower-case ``$variables`` are left alone. Standard library only.

Settings (environment, defaults in :data:`flashops.defaults.DEFAULTS`):

- ``CATALOG_INSTANCES`` / ``ORDER_INSTANCES``: gunicorn instances per service; instance ``i``
  (0-based) listens on ``<SERVICE>_PORT + INSTANCE_PORT_STRIDE * i``.
- ``ORDER_RATE`` / ``ORDER_BURST``: the order service's total admission budget (``N r/s`` or
  ``N r/m``). ``EDGE_INSTANCES`` NGINX instances each get ``1/EDGE_INSTANCES`` of it (rounded
  down), so together they never admit more than the total (docs/edge-and-mesh.md).
- ``ORDER_CLIENT_RATE`` / ``ORDER_CLIENT_BURST``: the per-client share (key: the client IP).
- ``QUEUE_CLIENT_RATE`` / ``QUEUE_CLIENT_BURST``: the waiting room's joins and passes per
  client (``/queue/``), outside the order budget (docs/waiting-room.md).
- ``EDGE_TRUSTED_PROXIES``: comma-separated addresses/CIDRs whose ``X-Forwarded-For`` is
  believed; empty (the default) means the TCP peer is the client.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path

from flashops.defaults import DEFAULTS, DEPLOY, ROOT, settings

_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_RATE = re.compile(r"^\s*(\d+)\s*r/(s|m)\s*$")


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Fill ``${NAME}`` like envsubst does, leaving NGINX's own ``$name`` alone."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template needs ${{{name}}}")
        return values[name]

    return _PLACEHOLDER.sub(sub, text)


# --- admission control ------------------------------------------------------------------


def rate_per_minute(rate: str) -> int:
    """``"50r/s"`` -> 3000; ``"600r/m"`` -> 600."""
    match = _RATE.match(rate)
    if not match:
        raise ValueError(f"a rate looks like '50r/s' or '600r/m', not {rate!r}")
    count, unit = int(match.group(1)), match.group(2)
    return count * 60 if unit == "s" else count


def instance_share(*, rate: str, burst: int, instances: int) -> tuple[str, int]:
    """One NGINX instance's share of the total budget (rate in r/m, burst), rounded down.

    Rounding down is the safe side: N instances together admit at most the total, and an
    uneven spread across instances can only admit less, never more.
    """
    if instances < 1:
        raise ValueError("EDGE_INSTANCES must be at least 1")
    per_minute = rate_per_minute(rate) // instances
    if per_minute < 1:
        raise ValueError(f"ORDER_RATE {rate} split over {instances} edge instances is < 1r/m")
    return f"{per_minute}r/m", burst // instances


def instance_ports(base: int, instances: int, stride: int) -> list[int]:
    return [base + stride * i for i in range(instances)]


def service_ports(s: Mapping[str, str], service: str) -> list[int]:
    """A service's instance ports; ``<SERVICE>_PORT_2`` overrides the second one."""
    upper = service.upper()
    ports = instance_ports(
        int(s[f"{upper}_PORT"]), int(s[f"{upper}_INSTANCES"]), int(s["INSTANCE_PORT_STRIDE"])
    )
    if len(ports) > 1 and s.get(f"{upper}_PORT_2"):
        ports[1] = int(s[f"{upper}_PORT_2"])
    return ports


def _servers(ports: list[int], *, extra: str = "max_fails=3 fail_timeout=5s") -> str:
    return "\n    ".join(f"server 127.0.0.1:{port} {extra};" for port in ports)


def nginx_values(env: Mapping[str, str], *, prefix: Path, tls_dir: Path) -> dict[str, str]:
    """Every placeholder of deploy/nginx/*.template for a local (non-container) run."""
    s = settings(env)
    order_rate, order_burst = instance_share(
        rate=s["ORDER_RATE"], burst=int(s["ORDER_BURST"]), instances=int(s["EDGE_INSTANCES"])
    )
    trusted = [p.strip() for p in s["EDGE_TRUSTED_PROXIES"].split(",") if p.strip()]
    static_root = Path(
        s.get("STATIC_ROOT_BASE") or Path(s.get("VAR_DIR", str(ROOT / "var"))) / "static"
    )
    return {
        "NGINX_USER": "user root;" if os.geteuid() == 0 else "",
        "NGINX_WORKERS": s["NGINX_WORKERS"],
        "NGINX_PREFIX": str(prefix),
        "NGINX_MIME_TYPES": "/etc/nginx/mime.types",
        "EDGE_LISTEN": f"{s['EDGE_HOST']}:{s['EDGE_PORT']}",
        "EDGE_TLS_LISTEN": f"{s['EDGE_HOST']}:{s['EDGE_TLS_PORT']}",
        "EDGE_TLS_CERT": str(tls_dir / "cert.pem"),
        "EDGE_TLS_KEY": str(tls_dir / "key.pem"),
        "EDGE_TLS_STAPLING": s.get("EDGE_TLS_STAPLING", "off"),
        "EDGE_ACCESS_LOG": str(prefix / "access.log"),
        "EDGE_CACHE_DIR": str(prefix / "cache"),
        "EDGE_MICROCACHE_TTL": s["EDGE_MICROCACHE_TTL"],
        "EDGE_MAX_BODY": s["EDGE_MAX_BODY"],
        "EDGE_REAL_IP_FROM": "".join(f"set_real_ip_from {p};\n" for p in trusted),
        "CATALOG_UPSTREAM": f"127.0.0.1:{service_ports(s, 'catalog')[0]}",
        "CATALOG_EXTRA_SERVERS": _servers(service_ports(s, "catalog")[1:]),
        "ORDER_UPSTREAM": f"127.0.0.1:{service_ports(s, 'order')[0]}",
        "ORDER_EXTRA_SERVERS": _servers(service_ports(s, "order")[1:]),
        "FULFILLMENT_UPSTREAM": f"127.0.0.1:{s['FULFILLMENT_PORT']}",
        "FLOWER_UPSTREAM": f"127.0.0.1:{s['FLOWER_PORT']}",
        "ORDER_RATE_PER_INSTANCE": order_rate,
        "ORDER_BURST_PER_INSTANCE": str(order_burst),
        "ORDER_CLIENT_RATE": f"{rate_per_minute(s['ORDER_CLIENT_RATE'])}r/m",
        "ORDER_CLIENT_BURST": s["ORDER_CLIENT_BURST"],
        "QUEUE_CLIENT_RATE": f"{rate_per_minute(s['QUEUE_CLIENT_RATE'])}r/m",
        "QUEUE_CLIENT_BURST": s["QUEUE_CLIENT_BURST"],
        "ORDER_RETRY_AFTER": s["ORDER_RETRY_AFTER"],
        "STATIC_ROOT": str(static_root) + "/",
        "METRICS_ALLOW": "",
    }


def render_nginx(env: Mapping[str, str], *, prefix: Path, tls_dir: Path) -> Path:
    """Write nginx.conf and conf.d/ under ``prefix``; returns the main file's path."""
    values = nginx_values(env, prefix=prefix, tls_dir=tls_dir)
    for sub in ("conf.d", "cache", "tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    src = DEPLOY / "nginx"
    main = prefix / "nginx.conf"
    main.write_text(render_template((src / "nginx.local.conf.template").read_text(), values))
    for template in sorted((src / "templates").glob("*.conf.template")):
        out = prefix / "conf.d" / template.name.removesuffix(".template")
        out.write_text(render_template(template.read_text(), values))
    return main


def nginx_command(nginx: str, prefix: Path) -> list[str]:
    return [nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"]


# --- mesh -------------------------------------------------------------------------------

SIDECARS = ("order", "fulfillment")


def envoy_values(env: Mapping[str, str], *, sds_dir: Path) -> dict[str, str]:
    s = settings(env)
    values = {k: s[k] for k in DEFAULTS if k.startswith(("MESH_", "FULFILLMENT_", "ORDER_SIDE"))}
    values["MESH_SDS_DIR"] = str(sds_dir)
    return values


def render_envoy(env: Mapping[str, str], *, out_dir: Path, sds_dir: Path) -> dict[str, Path]:
    """Write ``<out_dir>/<sidecar>.yaml`` for both sidecars; returns {sidecar: path}."""
    values = envoy_values(env, sds_dir=sds_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for sidecar in SIDECARS:
        template = DEPLOY / "envoy" / f"{sidecar}-sidecar.yaml.template"
        path = out_dir / f"{sidecar}.yaml"
        path.write_text(render_template(template.read_text(), values))
        paths[sidecar] = path
    return paths


def envoy_command(envoy: str, config: Path, *, log_level: str = "warn") -> list[str]:
    """Envoy's argv. No hot restart: several Envoys share this host without clashing."""
    return [
        envoy,
        "-c",
        str(config),
        "--disable-hot-restart",
        "--log-level",
        log_level,
        "--concurrency",
        "1",
        "--drain-time-s",
        "2",
    ]


def order_per_window(*, rate: str, burst: int, instances: int, seconds: float) -> int:
    """The most requests ``instances`` edges can admit in ``seconds`` (tests, bench, docs)."""
    per_minute, each_burst = instance_share(rate=rate, burst=burst, instances=instances)
    per_second = rate_per_minute(per_minute) / 60
    # Each instance: its burst, plus one for the first request, plus the refill.
    return instances * (each_burst + 1 + math.ceil(per_second * seconds))
