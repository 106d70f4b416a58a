"""The catalog under real gunicorn behind the NGINX edge rendered from deploy/nginx: the
APQ GET protocol, Cache-Control/ETag/304 and inventory from Redis, over real HTTP; and the
storefront page's own script, run by node against it."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from catalog_factories import FlashSaleFactory, ProductFactory
from django.conf import settings
from django.db import connection

from flashops import platform
from flashops.defaults import DEFAULTS
from flashops.processes import ManagedProcess, free_port, gunicorn_process, wait_for_port

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
QUERY = (
    "query Page($n: Int) { products(first: $n) { edges { node { sku flashSale { "
    "perShopperLimit } inventory { available status } } } } }"
)
SHA = hashlib.sha256(QUERY.encode()).hexdigest()


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
    origin = gunicorn_process(
        "catalog_service.config.wsgi",
        port=origin_port,
        root=ROOT,
        env=env,
        log_path=tmp_path / "origin.log",
    )
    edge_env = platform.load_env()
    for key in DEFAULTS:
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


_DOM_SHIM = r"""
// Just enough DOM for the storefront's script to run its grid page under node.
const BASE = process.env.BASE;
class El {
  constructor(tag) {
    this.tag = tag; this.children = []; this.attrs = {}; this.className = ""; this._text = "";
    this.dataset = {}; this.options = []; this.isConnected = true;
  }
  append(...xs) {
    for (const x of xs) {
      const n = typeof x === "string" ? {text: x} : x;
      this.children.push(n);
      if (this.tag === "select") this.options.push(n);
    }
  }
  replaceChildren(...xs) { this.children = []; this._text = ""; this.append(...xs); }
  set textContent(v) { this._text = String(v); this.children = []; }
  get textContent() {
    const texts = this.children.map(c => (c.text !== undefined ? c.text : c.textContent));
    return this._text + texts.join("");
  }
  setAttribute(name, value) { this.attrs[name] = String(value); }
  addEventListener() {}
  remove() {}
}
const nodes = {};
for (const id of ["storefront-queries", "grid", "status", "category", "pager", "announcer",
                  "cart-link"]) nodes[id] = new El(id === "category" ? "select" : "div");
nodes["storefront-queries"]._text = process.env.QUERIES_JSON;
nodes.grid.dataset.pageSize = "24";
nodes.category.options.push({text: "All categories"});
nodes.category.dataset.current = "";
nodes.status._text = "Loading";
globalThis.window = globalThis;
globalThis.location = {search: ""};
const store = {};
globalThis.sessionStorage = {getItem: k => store[k] ?? null, setItem: (k, v) => { store[k] = v; },
                             removeItem: k => { delete store[k]; }};
globalThis.document = {getElementById: id => nodes[id], createElement: tag => new El(tag),
                       body: {dataset: {page: "grid"}}, cookie: ""};
const calls = [];
const realFetch = globalThis.fetch;
globalThis.fetch = (url, options) => {
  calls.push(((options && options.method) || "GET") + " " + url.split("?")[0]);
  return realFetch(BASE + url, options);
};
function text(n) { return n.text !== undefined ? n.text : n.textContent; }
function report() {
  const cards = nodes.grid.children.map(li => li.children[0].children.map(text).join(" | "));
  console.log(JSON.stringify({status: nodes.status.textContent, calls, cards,
                              categories: nodes.category.options.map(text),
                              pager: nodes.pager.children.map(text)}));
  process.exit(0);
}
let waited = 0;
const timer = setInterval(() => {
  waited += 50;
  if (!nodes.status.textContent.startsWith("Loading") || waited > 8000) {
    clearInterval(timer); report();
  }
}, 50);
"""
SCRIPT = ROOT / "catalog_service" / "storefront" / "static" / "storefront" / "storefront.js"


def _run_storefront_script(edge: str) -> dict:
    status, _, body = _request(f"{edge}/")
    assert status == 200
    html = body.decode()
    # The page names its script and carries its persisted query; the script file is the
    # one the edge serves from the collected static files.
    assert re.search(r'<script defer src="/static/catalog/storefront/storefront\.js\?v=\w+">', html)
    queries_json = re.search(
        r'<script id="storefront-queries" type="application/json">([\s\S]*?)</script>', html
    ).group(1)
    node = shutil.which("node")
    assert node, "node (Debian nodejs) runs the storefront's script in this test"
    result = subprocess.run(
        [node, "-e", _DOM_SHIM + SCRIPT.read_text()],
        env={"BASE": edge, "QUERIES_JSON": queries_json, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_storefront_page_lists_products_with_apq_get(served, inventory):
    _, edge = served
    on_sale = ProductFactory(sku="SF-1", name="Deal kettle", price="80.00")
    FlashSaleFactory(product=on_sale, sale_price="40.00", per_shopper_limit=2)
    lamp = ProductFactory(sku="SF-2", name="Plain lamp", price="1025.50")
    inventory.set_available_many({"SF-1": 3, "SF-2": 0})

    first = _run_storefront_script(edge)
    # hash-only GET, PersistedQueryNotFound, one POST that registers the query
    assert first["calls"] == ["GET /graphql", "POST /graphql"]
    assert first["status"] == ""
    assert first["pager"] == ["Page 1"]
    assert first["categories"] == ["All categories"] + sorted(
        {on_sale.category.name, lamp.category.name}
    )
    nbsp = "\u00a0"
    assert first["cards"] == [
        " | ".join(
            [
                "",  # the picture
                "Deal kettle",
                on_sale.category.name,
                "Flash sale",
                f"40.00{nbsp}EUR was 80.00{nbsp}EUR",
                "Limit 2 per shopper",
                "Only 3 left",
                first["cards"][0].split(" | ")[7],  # the countdown, checked below
                "No reviews yet",
            ]
        ),
        f" | Plain lamp | {lamp.category.name} | 1,025.50{nbsp}EUR | Sold out | No reviews yet",
    ]
    assert re.fullmatch(
        r"Sale ends in (59|60) min \d\d s|Sale ends in 1 h 00 min",
        first["cards"][0].split(" | ")[7],
    )
    again = _run_storefront_script(edge)
    assert again["calls"] == ["GET /graphql"]  # known hash: the cacheable GET only
    assert again["cards"][1] == first["cards"][1]
