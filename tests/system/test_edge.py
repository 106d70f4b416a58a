"""The edge with the real NGINX, rendered from deploy/nginx exactly as `bin/platform` does.

Admission control is measured at the real order app (two gunicorn instances, counted by its
own Prometheus metrics) behind two NGINX instances. The micro-cache is shown on the real
catalog (a persisted query cached, then served stale with the catalog stopped); the finer
cache rules, pools and retries use small scripted upstreams (tests/support/edgemesh_lab.Stub)
standing in for catalog and order instances, because those tests must count exactly what
reached an instance and script its answers (a 502, a Set-Cookie, a slow reply).
"""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection, HTTPSConnection
from pathlib import Path

import pytest
from cryptography import x509

from flashops import edgemesh
from flashops.processes import free_port
from tests.support import edgemesh_lab as lab

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.system

TRUSTED_PROXY = "127.0.0.2"  # the load balancer in front of the edge, in these tests


def quiet_settings(**overrides: str) -> dict[str, str]:
    """Settings for an edge whose upstreams are stubs (one instance each unless told)."""
    return {
        "CATALOG_INSTANCES": "1",
        "ORDER_INSTANCES": "1",
        "FULFILLMENT_PORT": str(free_port()),
        "FLOWER_PORT": str(free_port()),
        **overrides,
    }


def catalog_script(method, path, headers, body):
    route = path.split("?", 1)[0]
    if method == "POST":
        return lab.json_answer(200, {"data": {"posted": True}})
    if route == "/slow":
        time.sleep(0.4)
    if route == "/setcookie":
        return lab.json_answer(200, {"data": 1}, **{"Set-Cookie": "flashsale_session=abc"})
    if route == "/private":
        return lab.json_answer(200, {"data": 1}, **{"Cache-Control": "private, max-age=60"})
    # What the catalog sends for a persisted query: a CDN-friendly max-age the edge caps.
    return lab.json_answer(
        200, {"data": {"path": path, "at": time.monotonic()}}, **{"Cache-Control": "max-age=60"}
    )


@pytest.fixture(scope="module")
def catalog_stub():
    stub = lab.Stub(catalog_script)
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def order_stub():
    stub = lab.Stub(lambda m, p, h, b: lab.json_answer(202, {"status": "accepted"}))
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def edge(tmp_path_factory, catalog_stub, order_stub):
    """One NGINX in front of the stubs, a client budget of 2 + 1 per minute."""
    work = tmp_path_factory.mktemp("edge")
    running = lab.start_edge(
        work,
        quiet_settings(
            CATALOG_PORT=str(catalog_stub.port),
            ORDER_PORT=str(order_stub.port),
            ORDER_RATE="6000r/s",
            ORDER_BURST="1000",
            ORDER_CLIENT_RATE="1r/m",
            ORDER_CLIENT_BURST="2",
            EDGE_TRUSTED_PROXIES=TRUSTED_PROXY,
        ),
    )
    yield running
    running.stop()


def get(edge, path, **kw):
    return lab.request(edge.port, "GET", path, **kw)


# --- micro-cache ----------------------------------------------------------------------------


def test_catalog_gets_are_served_from_the_cache_within_a_second(edge, catalog_stub):
    path = f"/graphql?extensions=%7B%22sha256Hash%22%3A%22{uuid.uuid4().hex}%22%7D"
    first = get(edge, path)
    assert first.status == 200
    assert first.header("X-Cache-Status") == "MISS"
    statuses = [get(edge, path).header("X-Cache-Status") for _ in range(20)]
    assert statuses == ["HIT"] * 20
    assert catalog_stub.count("GET", "/graphql") >= 1
    hits = sum(1 for m, p, _ in catalog_stub.seen if p == path)
    assert hits == 1
    # The catalog's max-age=60 is for a CDN; the edge keeps it about a second (NGINX's clock
    # ticks in whole seconds, so an entry is fresh for 1 to 2 s).
    time.sleep(2.1)
    refreshed = get(edge, path)
    assert refreshed.status == 200
    assert refreshed.header("X-Cache-Status") in ("STALE", "UPDATING", "EXPIRED")
    deadline = time.monotonic() + 5
    while sum(1 for m, p, _ in catalog_stub.seen if p == path) < 2:
        assert time.monotonic() < deadline, "the background refresh never reached the catalog"
        time.sleep(0.05)
    assert get(edge, path).header("X-Cache-Status") == "HIT"
    assert sum(1 for m, p, _ in catalog_stub.seen if p == path) == 2


def test_concurrent_misses_reach_the_catalog_once(edge, catalog_stub):
    path = f"/slow?q={uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda _: get(edge, path), range(16)))
    assert [r.status for r in replies] == [200] * 16
    assert sum(1 for m, p, _ in catalog_stub.seen if p == path) == 1
    assert len({r.body for r in replies}) == 1


def test_posts_are_never_cached(edge, catalog_stub):
    before = catalog_stub.count("POST", "/graphql")
    for _ in range(3):
        reply = lab.request(edge.port, "POST", "/graphql", body=b'{"query":"{a}"}')
        assert reply.status == 200
        assert reply.header("X-Cache-Status") is None
    assert catalog_stub.count("POST", "/graphql") == before + 3


def test_a_shopper_with_a_session_bypasses_the_cache_and_is_not_stored(edge, catalog_stub):
    path = f"/graphql?q={uuid.uuid4().hex}"
    cookie = {"Cookie": "flashsale_session=s3cr3t"}
    assert [get(edge, path, headers=cookie).header("X-Cache-Status") for _ in range(3)] == [
        "BYPASS"
    ] * 3
    # Had the personal answer been stored, this would be a HIT.
    assert get(edge, path).header("X-Cache-Status") == "MISS"
    assert sum(1 for m, p, _ in catalog_stub.seen if p == path) == 4


@pytest.mark.parametrize("route", ["/setcookie", "/private"])
def test_session_bound_or_private_answers_are_not_cached(edge, catalog_stub, route):
    path = f"{route}?q={uuid.uuid4().hex}"
    assert [get(edge, path).header("X-Cache-Status") for _ in range(3)] == ["MISS"] * 3
    assert sum(1 for m, p, _ in catalog_stub.seen if p == path) == 3


def test_cached_pages_are_served_while_the_catalog_is_down(tmp_path):
    stub = lab.Stub(catalog_script)
    edge = lab.start_edge(tmp_path, quiet_settings(CATALOG_PORT=str(stub.port)))
    try:
        pages = [f"/graphql?q={uuid.uuid4().hex}", "/"]
        warm = {p: get(edge, p) for p in pages}
        assert {p: r.header("X-Cache-Status") for p, r in warm.items()} == dict.fromkeys(
            pages, "MISS"
        )
        stub.stop()  # the catalog is gone: connections are refused
        time.sleep(2.1)  # past the micro-cache's freshness
        for page in pages:
            for _ in range(3):
                reply = get(edge, page)
                assert reply.status == 200
                assert reply.header("X-Cache-Status") == "STALE"
                assert reply.body == warm[page].body
        # A page never cached has nothing to fall back on.
        assert get(edge, f"/graphql?q={uuid.uuid4().hex}").status == 502
    finally:
        edge.stop()


# --- client address and the per-client budget ------------------------------------------------


def order_admissions(edge, n: int, *, source: str | None, xff: list[str]) -> list[int]:
    return [
        lab.request(
            edge.port,
            "POST",
            "/api/orders",
            body=b"{}",
            source=source,
            headers={"X-Forwarded-For": xff[i % len(xff)]},
        ).status
        for i in range(n)
    ]


def test_a_spoofed_forwarded_for_does_not_reset_a_clients_limit(edge, order_stub):
    # From an untrusted peer every X-Forwarded-For is ignored: one client, one budget
    # (burst 2 + the first request, at 1r/m).
    spoofs = [f"198.51.100.{i}" for i in range(10)]
    assert order_admissions(edge, 10, source="127.0.0.1", xff=spoofs) == [202] * 3 + [429] * 7


def test_through_the_trusted_proxy_the_right_most_untrusted_address_is_the_client(edge, order_stub):
    seen_before = len(order_stub.seen)
    # A shopper behind our load balancer prepends made-up entries: still the same client.
    forged = [f"203.0.113.{i}, 192.0.2.10" for i in range(10)]
    assert order_admissions(edge, 10, source=TRUSTED_PROXY, xff=forged) == [202] * 3 + [429] * 7
    # Another real client has a budget of its own.
    assert order_admissions(edge, 4, source=TRUSTED_PROXY, xff=["192.0.2.11"]) == [202] * 3 + [429]
    # The app is told the client the edge decided on, never the forged chain.
    forwarded = [h.get("X-Forwarded-For") for _, _, h in order_stub.seen[seen_before:]]
    assert forwarded == ["192.0.2.10"] * 3 + ["192.0.2.11"] * 3


def test_rejections_are_429_json_with_retry_after(edge):
    statuses = order_admissions(edge, 4, source="127.0.0.3", xff=["x"])
    assert statuses == [202, 202, 202, 429]
    reply = lab.request(edge.port, "POST", "/api/orders", body=b"{}", source="127.0.0.3")
    assert reply.status == 429
    assert reply.header("Retry-After") == "1"
    assert reply.header("Content-Type") == "application/json"
    assert reply.json() == {
        "code": "rate_limited",
        "detail": "The order service is at its request limit; retry after Retry-After seconds.",
        "retry_after": 1,
    }


# --- limits, headers, TLS -----------------------------------------------------------------------


def test_request_body_over_the_limit_is_refused(edge, order_stub):
    before = order_stub.count("POST", "/api/big")
    reply = lab.request(edge.port, "POST", "/api/big", body=b"x" * (65 * 1024), source="127.0.0.4")
    assert reply.status == 413
    assert order_stub.count("POST", "/api/big") == before


def test_security_headers_once_each_and_hsts_only_over_tls(edge):
    plain = get(edge, "/edge/healthz")
    assert plain.status == 200
    assert plain.header_values("X-Content-Type-Options") == ["nosniff"]
    assert plain.header_values("X-Frame-Options") == ["SAMEORIGIN"]
    assert plain.header_values("Referrer-Policy") == ["same-origin"]
    assert plain.header_values("Strict-Transport-Security") == []

    ctx = ssl.create_default_context(cafile=str(edge.prefix.parent / "edge" / "ca.pem"))
    conn = HTTPSConnection("127.0.0.1", edge.tls_port, context=ctx, timeout=5)
    try:
        conn.request("GET", "/edge/healthz")
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200
        assert json.loads(body) == {"status": "ok", "service": "edge"}
        assert resp.getheader("Strict-Transport-Security") == "max-age=31536000"
        assert conn.sock.version() in ("TLSv1.2", "TLSv1.3")
    finally:
        conn.close()


def test_tls_certificate_is_refused_by_a_client_that_does_not_trust_the_edge_ca(edge):
    ctx = ssl.create_default_context()  # the system's CAs only
    conn = HTTPSConnection("127.0.0.1", edge.tls_port, context=ctx, timeout=5)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.request("GET", "/edge/healthz")
    conn.close()


# --- upstream pools: another instance only for idempotent methods ---------------------------


def two_order_instances(workdir: Path, good: lab.Stub, bad: lab.Stub) -> lab.Edge:
    """A fresh edge (both instances healthy in its eyes) in front of a good and a bad order."""
    return lab.start_edge(
        workdir,
        quiet_settings(
            ORDER_INSTANCES="2",
            ORDER_PORT=str(good.port),
            ORDER_PORT_2=str(bad.port),
            ORDER_RATE="6000r/s",
            ORDER_BURST="1000",
            ORDER_CLIENT_RATE="6000r/s",
            ORDER_CLIENT_BURST="1000",
        ),
    )


def request_ids(stub: lab.Stub, method: str) -> list[str]:
    return [h["X-Request-ID"] for m, _, h in stub.seen if m == method]


def test_idempotent_requests_move_to_another_instance_posts_never_do(tmp_path):
    """Each phase on a fresh edge: the bad instance is not yet marked down (max_fails=3), so
    the round-robin sends it requests, and what happens to each one is traced by its id."""
    good = lab.Stub(lambda m, p, h, b: lab.json_answer(200, {"instance": "good"}))
    bad = lab.Stub(lambda m, p, h, b: lab.json_answer(502, {"instance": "bad"}))
    try:
        edge = two_order_instances(tmp_path / "posts", good, bad)
        try:
            posts = {}
            for i in range(10):
                rid = f"post-{i}"
                posts[rid] = lab.request(
                    edge.port, "POST", "/api/orders", body=b"{}", headers={"X-Request-ID": rid}
                )
        finally:
            edge.stop()
        to_bad, to_good = request_ids(bad, "POST"), request_ids(good, "POST")
        # The failing instance did get POSTs (until NGINX marked it down) ...
        assert len(to_bad) >= 1, to_good
        # ... and each of them got its error back: none was sent on to the good instance.
        assert not set(to_bad) & set(to_good)
        for rid in to_bad:
            assert (posts[rid].status, posts[rid].json()) == (502, {"instance": "bad"}), rid
        for rid in to_good:
            assert (posts[rid].status, posts[rid].json()) == (200, {"instance": "good"}), rid
        # Every POST reached exactly one instance, once.
        assert sorted(to_bad + to_good) == sorted(posts)

        edge = two_order_instances(tmp_path / "gets", good, bad)
        try:
            gets = {}
            for i in range(10):
                rid = f"get-{i}"
                gets[rid] = lab.request(
                    edge.port, "GET", "/api/cart", headers={"X-Request-ID": rid}
                )
        finally:
            edge.stop()
        failed_over = request_ids(bad, "GET")
        assert len(failed_over) >= 1
        # A GET that met the bad instance moved on to the good one, and the shopper never
        # saw the 502.
        assert set(failed_over) <= set(request_ids(good, "GET"))
        assert sorted(request_ids(good, "GET")) == sorted(gets)
        assert {rid: (r.status, r.json()) for rid, r in gets.items()} == dict.fromkeys(
            gets, (200, {"instance": "good"})
        )
    finally:
        good.stop()
        bad.stop()


# --- admission control for the whole order service, two edges, counted at the app ----------

RATE, BURST, EDGES = "5r/s", 4, 2


@pytest.fixture(scope="module")
def order_apps(tmp_path_factory):
    """Two real order gunicorn instances sharing one Prometheus directory."""
    work = tmp_path_factory.mktemp("order-apps")
    env = lab.service_database("order", "edge")
    lab.migrate("order", env)
    ports = [free_port(), free_port()]
    apps = [
        lab.start_gunicorn("order", port, work, env={**env, "WEB_WORKERS": "1"}) for port in ports
    ]
    for port in ports:
        lab.wait_http(port, "/healthz")
    yield ports
    for app in apps:
        app.stop()


def app_posts(port: int) -> float:
    text = lab.request(port, "GET", "/metrics").body.decode()
    return lab.prom_value(text, "django_http_requests_total_by_method_total", method="POST")


def flood(ports: list[int], *, total: int, threads: int) -> tuple[list[lab.Reply], float]:
    """``total`` checkouts spread over both edges, as fast as ``threads`` clients go, each
    from another client address (through the trusted proxy) so no per-client limit helps."""
    replies: list[lab.Reply] = []
    lock = threading.Lock()
    per_thread = total // threads

    def client(t: int):
        conns = [
            HTTPConnection("127.0.0.1", p, timeout=10, source_address=(TRUSTED_PROXY, 0))
            for p in ports
        ]
        mine = []
        for i in range(per_thread):
            mine.append(
                lab.request(
                    0,
                    "POST",
                    "/api/orders",
                    body=b'{"lines":[]}',
                    headers={
                        "Content-Type": "application/json",
                        "Idempotency-Key": str(uuid.uuid4()),
                        "X-Forwarded-For": f"10.{t}.{i // 250}.{i % 250}",
                    },
                    conn=conns[i % len(conns)],
                )
            )
        for conn in conns:
            conn.close()
        with lock:
            replies.extend(mine)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(client, range(threads)))
    return replies, time.monotonic() - started


def test_a_flood_100x_over_the_limit_reaches_the_order_app_at_the_limit(
    tmp_path_factory, order_apps
):
    settings = {
        "ORDER_INSTANCES": "2",
        "ORDER_PORT": str(order_apps[0]),
        "ORDER_PORT_2": str(order_apps[1]),
        "CATALOG_INSTANCES": "1",
        "FULFILLMENT_PORT": str(free_port()),
        "FLOWER_PORT": str(free_port()),
        "ORDER_RATE": RATE,
        "ORDER_BURST": str(BURST),
        "EDGE_INSTANCES": str(EDGES),
        "ORDER_CLIENT_RATE": "600r/s",
        "ORDER_CLIENT_BURST": "100",
        "EDGE_TRUSTED_PROXIES": TRUSTED_PROXY,
    }
    edges = [lab.start_edge(tmp_path_factory.mktemp(f"edge{i}"), settings) for i in range(EDGES)]
    try:
        # The renderer split the budget: each edge has half of 5r/s and half the burst.
        conf = (edges[0].prefix / "conf.d" / "flashsale.conf").read_text()
        assert "zone=order_total:1m rate=150r/m;" in conf
        assert "limit_req zone=order_total burst=2 nodelay;" in conf

        before = app_posts(order_apps[0])
        replies, elapsed = flood([e.port for e in edges], total=2400, threads=8)
        offered = len(replies) / elapsed
        limit_per_s = edgemesh.rate_per_minute(RATE) / 60
        # The test means something only if the flood really was 100x the limit.
        assert offered >= 100 * limit_per_s, f"only {offered:.0f} req/s offered"

        time.sleep(0.5)  # the last admitted requests are counted once answered
        received = app_posts(order_apps[0]) - before
        admitted = [r for r in replies if r.status != 429]
        rejected = [r for r in replies if r.status == 429]
        ceiling = edgemesh.order_per_window(
            rate=RATE, burst=BURST, instances=EDGES, seconds=elapsed
        )
        assert received == len(admitted)
        print(
            f"flood: {len(replies)} in {elapsed:.2f}s ({offered:.0f}/s), "
            f"app got {received:.0f}, ceiling {ceiling}"
        )
        assert received <= ceiling, f"{received} > {ceiling} in {elapsed:.2f}s"
        assert len(rejected) == len(replies) - len(admitted) >= 2400 - ceiling
        assert {r.header("Retry-After") for r in rejected} == {"1"}
        assert {r.json()["code"] for r in rejected} == {"rate_limited"}
    finally:
        for e in edges:
            e.stop()


def test_the_budget_split_never_exceeds_the_total():
    for instances in (1, 2, 3, 4, 7):
        rate, burst = edgemesh.instance_share(rate="50r/s", burst=25, instances=instances)
        assert edgemesh.rate_per_minute(rate) * instances <= 3000
        assert burst * instances <= 25
    assert edgemesh.instance_share(rate="50r/s", burst=25, instances=3) == ("1000r/m", 8)
    with pytest.raises(ValueError):
        edgemesh.instance_share(rate="1r/m", burst=0, instances=2)


def test_the_runner_renders_and_checks_the_edge_and_both_sidecars(tmp_path):
    ports = {
        name: str(free_port())
        for name in (
            "EDGE_PORT",
            "EDGE_TLS_PORT",
            "CATALOG_PORT",
            "ORDER_PORT",
            "FULFILLMENT_PORT",
            "FLOWER_PORT",
            "FULFILLMENT_OUTBOUND_PORT",
            "FULFILLMENT_INBOUND_PORT",
            "ORDER_SIDECAR_ADMIN_PORT",
            "FULFILLMENT_SIDECAR_ADMIN_PORT",
        )
    }
    result = lab.run(
        sys.executable,
        str(ROOT / "bin" / "platform"),
        "render",
        env={**os.environ, **ports, "VAR_DIR": str(tmp_path), "ORDER_PORT_2": "18999"},
        cwd=ROOT,
    )
    assert "mesh CA, order certificate, fulfillment certificate, edge TLS certificate" in (
        result.stdout
    )
    conf = (tmp_path / "nginx" / "conf.d" / "flashsale.conf").read_text()
    catalog_2 = int(ports["CATALOG_PORT"]) + 100
    assert f"server 127.0.0.1:{ports['CATALOG_PORT']} max_fails=3 fail_timeout=5s;" in conf
    assert f"server 127.0.0.1:{catalog_2} max_fails=3 fail_timeout=5s;" in conf
    assert "server 127.0.0.1:18999 max_fails=3 fail_timeout=5s;" in conf
    assert f"listen 127.0.0.1:{ports['EDGE_TLS_PORT']} ssl http2;" in conf
    order = (tmp_path / "envoy" / "order.yaml").read_text()
    assert f"port_value: {ports['FULFILLMENT_OUTBOUND_PORT']}" in order
    assert f"path: {tmp_path / 'mesh' / 'sds' / 'order.yaml'}" in order
    for name in ("order", "fulfillment", "mesh-ca"):
        assert (tmp_path / "mesh" / "sds" / f"{name}.yaml").exists()


def test_the_container_edge_makes_a_certificate_when_none_is_mounted(tmp_path):
    script = ROOT / "deploy" / "nginx" / "docker-entrypoint.d" / "15-edge-tls.sh"
    env = {
        **os.environ,
        "EDGE_TLS_CERT": str(tmp_path / "tls" / "cert.pem"),
        "EDGE_TLS_KEY": str(tmp_path / "tls" / "key.pem"),
    }
    first = lab.run("sh", str(script), env=env)
    assert "made a self-signed certificate for localhost" in first.stdout
    cert = x509.load_pem_x509_certificate((tmp_path / "tls" / "cert.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["localhost"]
    assert os.stat(tmp_path / "tls" / "key.pem").st_mode & 0o777 == 0o600
    # A mounted (or already made) certificate is kept.
    again = lab.run("sh", str(script), env=env)
    assert again.stdout.strip() == f"edge-tls: using {tmp_path / 'tls' / 'cert.pem'}"
    assert os.access(script, os.X_OK)  # the nginx image runs only executable scripts


# --- the real catalog behind the edge ----------------------------------------------------------


def apq_query() -> str:
    """A query text of this run's own: its hash is unknown to the catalog until registered."""
    name = f"EdgeCache{uuid.uuid4().hex}"
    return f"query {name} {{ products(first: 3) {{ edges {{ node {{ sku }} }} }} }}"


@pytest.fixture(scope="module")
def real_catalog(tmp_path_factory):
    """The real catalog (gunicorn, demo data) behind a real edge."""
    work = tmp_path_factory.mktemp("catalog")
    env = lab.service_database("catalog", "edge")
    lab.migrate("catalog", env)
    lab.run(
        sys.executable,
        str(ROOT / "manage.py"),
        "catalog",
        "seed_demo",
        "--products",
        "3",
        "--reviews-min",
        "0",
        "--reviews-max",
        "0",
        env={**os.environ, "DJANGO_ENV": "test", **env},
        cwd=ROOT,
    )
    port = free_port()
    app = lab.start_gunicorn("catalog", port, work, env={**env, "WEB_WORKERS": "1"})
    lab.wait_http(port, "/healthz")
    edge = lab.start_edge(work, quiet_settings(CATALOG_PORT=str(port)))
    yield edge, app, port
    edge.stop()
    app.stop()


def catalog_gets(port: int) -> float:
    text = lab.request(port, "GET", "/metrics").body.decode()
    return lab.prom_value(text, "django_http_requests_total_by_method_total", method="GET")


def test_the_real_catalogs_persisted_query_is_cached_and_outlives_the_catalog(real_catalog):
    edge, app, port = real_catalog
    query = apq_query()
    sha = hashlib.sha256(query.encode()).hexdigest()
    extensions = json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha}})
    url = "/graphql?" + urllib.parse.urlencode({"extensions": extensions})
    # Apollo's protocol: unknown hash (never cached), then register by POST (never cached).
    unknown = get(edge, url)
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"
    assert unknown.header("X-Cache-Status") == "MISS"
    register = lab.request(
        edge.port,
        "POST",
        "/graphql",
        body=json.dumps({"query": query, "extensions": json.loads(extensions)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert register.status == 200
    assert register.header("X-Cache-Status") is None

    before = catalog_gets(port)
    first = get(edge, url)
    assert first.status == 200
    assert first.header("X-Cache-Status") == "MISS"
    skus = [e["node"]["sku"] for e in first.json()["data"]["products"]["edges"]]
    assert len(skus) == 3
    assert [get(edge, url).header("X-Cache-Status") for _ in range(10)] == ["HIT"] * 10
    # Eleven answers, one request at the catalog (+1: this /metrics scrape itself).
    assert catalog_gets(port) - before == 1 + 1

    app.stop()  # the catalog is gone
    time.sleep(2.1)
    for _ in range(3):
        stale = get(edge, url)
        assert stale.status == 200
        assert stale.header("X-Cache-Status") == "STALE"
        assert stale.body == first.body
