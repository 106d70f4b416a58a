"""The catalog under real gunicorn behind the NGINX edge rendered from deploy/nginx: the
APQ GET protocol, Cache-Control/ETag/304 and inventory from Redis, over real HTTP."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from catalog_factories import FlashSaleFactory, ProductFactory
from django.conf import settings
from django.db import connection

from shared.testing.processes import ManagedProcess, free_port, wait_for_port

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QUERY = (
    "query Page($n: Int) { products(first: $n) { edges { node { sku flashSale { "
    "perShopperLimit } inventory { available status } } } } }"
)
SHA = hashlib.sha256(QUERY.encode()).hexdigest()


def _platform():
    loader = importlib.machinery.SourceFileLoader("bin_platform", str(ROOT / "bin" / "platform"))
    spec = importlib.util.spec_from_loader("bin_platform", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _request(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def served(tmp_path):
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    )
    origin_port = free_port()
    env = {
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": "test-only",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "False",
        "CATALOG_DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "INVENTORY_REDIS_URL": settings.INVENTORY_REDIS_URL,
        "OFFERS_REDIS_URL": settings.OFFERS_REDIS_URL,
        "WEB_WORKERS": "1",
        "SERVICE": "catalog",
        "LOG_LEVEL": "WARNING",
    }
    origin = ManagedProcess(
        [
            str(BIN / "gunicorn"),
            "catalog_service.config.wsgi",
            "-c",
            str(ROOT / "deploy" / "gunicorn.conf.py"),
            "--bind",
            f"127.0.0.1:{origin_port}",
        ],
        env=env,
        cwd=ROOT,
        log_path=tmp_path / "origin.log",
    ).start()
    platform = _platform()
    edge_env = platform.load_env()
    for key in platform.DEFAULTS:
        if key.endswith("_PORT"):
            edge_env[key] = str(free_port())
    edge_env.update({"CATALOG_INSTANCES": "1", "ORDER_INSTANCES": "1", "EDGE_INSTANCES": "1"})
    edge_env.update(
        {
            "CATALOG_PORT": str(origin_port),
            "VAR_DIR": str(tmp_path / "var"),
            "STATIC_ROOT_BASE": str(tmp_path / "static"),
        }
    )
    conf = platform.render(edge_env)
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    edge = ManagedProcess(
        [nginx, "-p", str(conf.parent), "-c", str(conf), "-g", "daemon off;"],
        log_path=tmp_path / "nginx.log",
    ).start()
    try:
        wait_for_port(origin_port, proc=origin.proc)
        wait_for_port(int(edge_env["EDGE_PORT"]), proc=edge.proc)
        yield f"http://127.0.0.1:{origin_port}", f"http://127.0.0.1:{edge_env['EDGE_PORT']}"
    finally:
        edge.stop()
        origin.stop()


def _get_url(base: str, n: int) -> str:
    return f"{base}/graphql?" + urllib.parse.urlencode(
        {
            "extensions": json.dumps({"persistedQuery": {"version": 1, "sha256Hash": SHA}}),
            "variables": json.dumps({"n": n}),
        }
    )


def test_apq_get_through_gunicorn_and_the_edge(served, inventory):
    origin, edge = served
    products = [ProductFactory(sku=f"HTTP-{i}") for i in range(3)]
    FlashSaleFactory(product=products[0], per_shopper_limit=2)
    inventory.set_available_many({"HTTP-0": 100, "HTTP-1": 4, "HTTP-2": 0})

    status, headers, body = _request(_get_url(edge, 3), headers={"Accept": "application/json"})
    assert status == 200
    assert json.loads(body)["errors"][0]["message"] == "PersistedQueryNotFound"
    assert headers["Cache-Control"] == "no-store"

    register = json.dumps(
        {
            "query": QUERY,
            "variables": {"n": 3},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": SHA}},
        }
    ).encode()
    status, headers, _ = _request(f"{edge}/graphql", register, {"Content-Type": "application/json"})
    assert (status, headers["Cache-Control"]) == (200, "no-store")

    status, headers, body = _request(_get_url(edge, 3))
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=1, stale-while-revalidate=10"
    assert json.loads(body) == {
        "data": {
            "products": {
                "edges": [
                    {
                        "node": {
                            "sku": "HTTP-0",
                            "flashSale": {"perShopperLimit": 2},
                            "inventory": {"available": 100, "status": "IN_STOCK"},
                        }
                    },
                    {
                        "node": {
                            "sku": "HTTP-1",
                            "flashSale": None,
                            "inventory": {"available": 4, "status": "LOW_STOCK"},
                        }
                    },
                    {
                        "node": {
                            "sku": "HTTP-2",
                            "flashSale": None,
                            "inventory": {"available": 0, "status": "SOLD_OUT"},
                        }
                    },
                ]
            }
        }
    }
    # nothing personal in the answer: an edge or a CDN may share it
    assert headers.get("Set-Cookie") is None
    assert "Cookie" not in (headers.get("Vary") or "")
    etag = headers["ETag"]
    status, headers, body = _request(_get_url(origin, 3), headers={"If-None-Match": etag})
    assert (status, body, headers["ETag"]) == (304, b"", etag)

    # the origin reads Redis on every request: a new value is the next answer
    inventory.set_available(sku="HTTP-2", available=50)
    status, headers, body = _request(_get_url(origin, 3), headers={"If-None-Match": etag})
    assert status == 200
    assert json.loads(body)["data"]["products"]["edges"][2]["node"]["inventory"] == {
        "available": 50,
        "status": "IN_STOCK",
    }
