"""The mesh with the real Envoy sidecars, rendered from deploy/envoy as `bin/platform` does.

Order's sidecar (outbound, plain HTTP on loopback) -> mTLS -> fulfillment's sidecar (inbound,
RBAC) -> the app. Identity, RBAC and the real fulfillment app are tested with fulfillment's
real gunicorn; the retry cases use a scripted upstream (tests/support/edgemesh_lab.Stub) standing in
for fulfillment's app behind its sidecar, because a test must make it answer exactly one 503
and count how many times a request reached it.
"""

from __future__ import annotations

import copy
import http.client
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from flashops import edgemesh, pki
from flashops.processes import ManagedProcess, free_port, wait_for_port
from tests.support import edgemesh_lab as lab

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.system

CLUSTER = {"envoy_cluster_name": "fulfillment"}


class Flaky:
    """Fulfillment stand-in: paths under /once-503/ answer 503 the first time they are seen."""

    def __init__(self):
        self.seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, method, path, headers, body):
        if path.startswith("/once-503/"):
            with self.lock:
                first = path not in self.seen
                self.seen.add(path)
            if first:
                return lab.json_answer(503, {"code": "unavailable"})
        return lab.json_answer(200, {"ok": True, "method": method, "path": path})


@pytest.fixture(scope="module")
def stub():
    server = lab.Stub(Flaky())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory, stub):
    running = lab.start_mesh(tmp_path_factory.mktemp("mesh"), fulfillment_port=stub.port)
    yield running
    running.stop()


def retries(mesh) -> float:
    return lab.prom_value(mesh.order_stats(), "envoy_cluster_upstream_rq_retry", **CLUSTER)


def call(mesh, method, path, **kw) -> lab.Reply:
    return lab.request(mesh.outbound_port, method, path, **kw)


# --- retries ----------------------------------------------------------------------------------


def test_a_get_answered_503_once_succeeds_through_a_retry(mesh, stub):
    path = f"/once-503/{uuid.uuid4()}"
    before = retries(mesh)
    reply = call(mesh, "GET", path)
    assert reply.status == 200
    assert reply.json() == {"ok": True, "method": "GET", "path": path}
    assert stub.count("GET", path) == 2
    assert retries(mesh) == before + 1
    assert (
        lab.prom_value(mesh.order_stats(), "envoy_cluster_upstream_rq_retry_success", **CLUSTER)
        >= 1
    )


def test_a_post_with_an_idempotency_key_is_retried_on_503(mesh, stub):
    path = f"/once-503/{uuid.uuid4()}"
    before = retries(mesh)
    reply = call(mesh, "POST", path, body=b"{}", headers={"Idempotency-Key": str(uuid.uuid4())})
    assert reply.status == 200
    assert stub.count("POST", path) == 2
    assert retries(mesh) == before + 1


def test_a_post_without_an_idempotency_key_is_not_retried_on_5xx(mesh, stub):
    path = f"/once-503/{uuid.uuid4()}"
    before = retries(mesh)
    reply = call(mesh, "POST", path, body=b"{}")
    assert reply.status == 503
    assert reply.json() == {"code": "unavailable"}
    assert stub.count("POST", path) == 1
    assert retries(mesh) == before


def test_the_latency_histograms_count_the_calls(mesh):
    def counts():
        order, ful = mesh.order_stats(), mesh.fulfillment_stats()
        return (
            lab.prom_value(order, "envoy_cluster_upstream_rq_time_count", **CLUSTER),
            lab.prom_value(
                order,
                "envoy_http_downstream_rq_time_count",
                envoy_http_conn_manager_prefix="outbound_fulfillment",
            ),
            lab.prom_value(
                ful, "envoy_cluster_upstream_rq_time_count", envoy_cluster_name="local_fulfillment"
            ),
        )

    def settled():
        # Histograms are merged at each 1 s stats flush: wait until two flushes agree.
        last = counts()
        deadline = time.monotonic() + 10
        while True:
            time.sleep(1.2)
            now = counts()
            if now == last or time.monotonic() > deadline:
                return now
            last = now

    before = settled()
    for i in range(25):
        assert call(mesh, "GET", f"/latency/{i}").status == 200
    deadline = time.monotonic() + 10
    expected = tuple(b + 25 for b in before)
    while counts() != expected and time.monotonic() < deadline:
        time.sleep(0.3)
    assert counts() == expected
    text = mesh.order_stats()
    # Real histogram buckets, cumulative: everything is under the +Inf bucket.
    assert lab.prom_value(
        text, "envoy_cluster_upstream_rq_time_bucket", le="+Inf", **CLUSTER
    ) == lab.prom_value(text, "envoy_cluster_upstream_rq_time_count", **CLUSTER)


# --- who may talk to fulfillment ---------------------------------------------------------------


def test_plain_http_to_the_inbound_port_gets_no_answer(mesh, stub):
    before = sum(stub.hits.values())
    with socket.create_connection(("127.0.0.1", mesh.inbound_port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: fulfillment\r\n\r\n")
        try:
            answer = sock.recv(4096)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/")
    assert sum(stub.hits.values()) == before


def test_tls_without_a_client_certificate_fails(mesh, stub):
    before = sum(stub.hits.values())
    ctx = lab.mtls_context(mesh.mesh_dir, None)
    with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
        lab.mtls_request(mesh.inbound_port, ctx, "GET", "/healthz")
    assert sum(stub.hits.values()) == before


def test_a_certificate_from_another_ca_fails(mesh, stub, tmp_path):
    # The documented command, with another directory: a CA the mesh has never seen.
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bin" / "mesh-certs"),
            "--dir",
            str(tmp_path),
            "issue",
            "order",
        ],
        check=True,
        capture_output=True,
    )
    before = sum(stub.hits.values())
    # It claims order's identity, but nobody the mesh trusts signed it.
    ctx = lab.mtls_context(tmp_path, "order", ca=mesh.mesh_dir / "trust.pem")
    with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
        lab.mtls_request(mesh.inbound_port, ctx, "GET", "/healthz")
    assert sum(stub.hits.values()) == before


def test_a_mesh_certificate_with_another_identity_gets_403(mesh, stub):
    pki.issue(directory=mesh.mesh_dir, service="catalog")
    before = sum(stub.hits.values())
    reply = lab.mtls_request(
        mesh.inbound_port, lab.mtls_context(mesh.mesh_dir, "catalog"), "GET", "/healthz"
    )
    assert reply.status == 403
    assert reply.body == b"RBAC: access denied"
    assert sum(stub.hits.values()) == before
    denied = lab.prom_value(
        mesh.fulfillment_stats(),
        "envoy_http_rbac_denied",
        envoy_http_conn_manager_prefix="inbound_fulfillment",
    )
    assert denied >= 1
    # The same request with order's identity is let through.
    ok = lab.mtls_request(
        mesh.inbound_port, lab.mtls_context(mesh.mesh_dir, "order"), "GET", "/healthz"
    )
    assert ok.status == 200
    assert sum(stub.hits.values()) == before + 1


# --- certificates: SPIFFE identities, short-lived, rotated under load ---------------------------


def test_certificates_carry_spiffe_identities_and_are_short_lived(mesh):
    for service in ("order", "fulfillment"):
        cert = x509.load_pem_x509_certificate((mesh.mesh_dir / service / "cert.pem").read_bytes())
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [
            f"spiffe://flashsale.local/ns/default/sa/{service}"
        ]
        life = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert life.total_seconds() == 3600 + 60  # one hour, plus a minute of clock slack


def test_rotation_re_issues_only_what_is_past_half_its_life(tmp_path):
    pki.ca_ensure(directory=tmp_path)
    pki.issue(directory=tmp_path, service="order", ttl=3600)
    pki.issue(directory=tmp_path, service="fulfillment", ttl=2)
    time.sleep(1.2)
    assert pki.rotate_due(directory=tmp_path, ttl=3600) == ["fulfillment"]
    assert pki.rotate_due(directory=tmp_path, ttl=3600) == []


def served_serial(mesh) -> int:
    """The serial of the certificate fulfillment's sidecar presents right now."""
    ctx = lab.mtls_context(mesh.mesh_dir, "order")
    with (
        socket.create_connection(("127.0.0.1", mesh.inbound_port), timeout=5) as raw,
        ctx.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).serial_number


def presented_serial(mesh) -> str:
    """The serial of the client certificate order's sidecar holds right now (admin /certs)."""
    certs = lab.request(mesh.order_admin, "GET", "/certs").json()["certificates"]
    return next(c["cert_chain"][0]["serial_number"] for c in certs if c["cert_chain"])


def test_certificates_rotate_under_load_without_a_failed_request(tmp_path):
    stub = lab.Stub(lambda m, p, h, b: lab.json_answer(200, {"ok": True}))
    mesh = lab.start_mesh(tmp_path, fulfillment_port=stub.port)
    statuses: list[int] = []
    stop = threading.Event()

    def load():
        conn = http.client.HTTPConnection("127.0.0.1", mesh.outbound_port, timeout=10)
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            statuses.append(lab.request(0, "GET", "/status", conn=conn).status)
        conn.close()

    try:
        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        served, presented = [served_serial(mesh)], [presented_serial(mesh)]
        for _ in range(3):
            time.sleep(0.5)
            pki.issue(directory=mesh.mesh_dir, service="fulfillment")
            pki.issue(directory=mesh.mesh_dir, service="order")
            deadline = time.monotonic() + 10
            while served_serial(mesh) == served[-1] or presented_serial(mesh) == presented[-1]:
                assert time.monotonic() < deadline, "a sidecar never picked the new certificate"
                time.sleep(0.1)
            served.append(served_serial(mesh))
            presented.append(presented_serial(mesh))
        time.sleep(0.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert len(set(served)) == 4 and len(set(presented)) == 4
        assert len(statuses) > 100
        assert set(statuses) == {200}, f"{len([s for s in statuses if s != 200])} failed"
        # The files the sidecars read are the newest certificates.
        newest = x509.load_pem_x509_certificate(
            (mesh.mesh_dir / "fulfillment" / "cert.pem").read_bytes()
        )
        assert newest.serial_number == served[-1]
    finally:
        stop.set()
        mesh.stop()
        stub.stop()


# --- connection failures are retried for every call ---------------------------------------------


def test_a_post_is_retried_when_fulfillment_cannot_be_reached(tmp_path):
    stub = lab.Stub(lambda m, p, h, b: lab.json_answer(200, {"ok": True}))
    mesh = lab.start_mesh(tmp_path, fulfillment_port=stub.port)
    try:
        assert call(mesh, "POST", "/x", body=b"{}").status == 200
        mesh.fulfillment.stop()  # nothing listens on the inbound port now
        before = retries(mesh)
        reply = call(mesh, "POST", "/x", body=b"{}")
        assert reply.status == 503
        assert reply.header("x-envoy-overloaded") is None
        # Never reached, so safe to repeat even without a key: both retries were used.
        assert retries(mesh) == before + 2
        assert stub.count("POST", "/x") == 1
    finally:
        mesh.stop()
        stub.stop()


# --- the real fulfillment app behind its sidecar --------------------------------------------------


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses a TCP port is listening on, from /proc/net/tcp."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state = fields[1], fields[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


@pytest.fixture(scope="module")
def real_fulfillment(tmp_path_factory):
    work = tmp_path_factory.mktemp("fulfillment")
    env = lab.service_database("fulfillment", "mesh")
    lab.migrate("fulfillment", env)
    port = free_port()
    app = lab.start_gunicorn("fulfillment", port, work, env={**env, "WEB_WORKERS": "1"})
    lab.wait_http(port, "/healthz")
    mesh = lab.start_mesh(work, fulfillment_port=port)
    yield mesh, port
    mesh.stop()
    app.stop()


def test_order_reaches_the_real_fulfillment_app_only_through_the_mesh(real_fulfillment):
    mesh, port = real_fulfillment
    reply = call(mesh, "GET", "/healthz")
    assert reply.status == 200
    assert reply.json() == {"status": "ok", "service": "fulfillment"}
    assert reply.header("server") == "envoy"
    # The app itself listens on loopback only (read from the kernel, no traffic sent), and so
    # does the Procfile's fulfillment line.
    assert listening_addresses(port) == {"127.0.0.1"}
    procfile = (ROOT / "deploy" / "Procfile").read_text()
    assert "--bind 127.0.0.1:$FULFILLMENT_PORT" in procfile
    # Anyone else with a mesh certificate is refused before the app.
    pki.issue(directory=mesh.mesh_dir, service="catalog")
    denied = lab.mtls_request(
        mesh.inbound_port, lab.mtls_context(mesh.mesh_dir, "catalog"), "GET", "/healthz"
    )
    assert denied.status == 403


def test_the_mesh_ca_is_replaced_under_load_without_a_failed_request(tmp_path):
    stub = lab.Stub(lambda m, p, h, b: lab.json_answer(200, {"ok": True}))
    mesh = lab.start_mesh(tmp_path, fulfillment_port=stub.port)
    statuses: list[int] = []
    stop = threading.Event()

    def load():
        conn = http.client.HTTPConnection("127.0.0.1", mesh.outbound_port, timeout=10)
        deadline = time.monotonic() + 30
        while not stop.is_set() and time.monotonic() < deadline:
            statuses.append(lab.request(0, "GET", "/status", conn=conn).status)
        conn.close()

    def ca_subject(mesh_dir: Path) -> str:
        return x509.load_pem_x509_certificate(
            (mesh_dir / "ca" / "ca.pem").read_bytes()
        ).subject.rfc4514_string()

    def mesh_certs(*args: str) -> str:
        return lab.run(
            sys.executable, str(ROOT / "bin" / "mesh-certs"), "--dir", str(mesh.mesh_dir), *args
        ).stdout

    try:
        old_ca = ca_subject(mesh.mesh_dir)
        threads = [threading.Thread(target=load) for _ in range(3)]
        for thread in threads:
            thread.start()
        assert "old + new CA" in mesh_certs("ca-rotate", "begin")
        time.sleep(1.5)  # both sidecars load the two-CA bundle
        served = served_serial(mesh)
        old_identity = tmp_path / "old-identity"
        shutil.copytree(mesh.mesh_dir / "order", old_identity / "order")
        assert "re-issued fulfillment, order" in mesh_certs("ca-rotate", "switch")
        deadline = time.monotonic() + 10
        while served_serial(mesh) == served:
            assert time.monotonic() < deadline, "fulfillment's sidecar kept the old certificate"
            time.sleep(0.1)
        time.sleep(1.5)
        assert "new CA only" in mesh_certs("ca-rotate", "finish")
        time.sleep(1.5)
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        assert ca_subject(mesh.mesh_dir) != old_ca
        assert not (mesh.mesh_dir / "ca-old").exists()
        assert len(statuses) > 100
        assert set(statuses) == {200}, f"{len([s for s in statuses if s != 200])} failed"
        # New handshakes use the new chain end to end.
        assert call(mesh, "GET", "/after").status == 200
        # After finish only the new CA is trusted: order's identity from the old CA is refused.
        old_ctx = lab.mtls_context(old_identity, "order", ca=mesh.mesh_dir / "trust.pem")
        old_ctx.verify_mode = ssl.CERT_NONE  # only the server's check of us matters here
        with pytest.raises((ssl.SSLError, ConnectionResetError, http.client.RemoteDisconnected)):
            lab.mtls_request(mesh.inbound_port, old_ctx, "GET", "/healthz")
    finally:
        stop.set()
        mesh.stop()
        stub.stop()


def test_circuit_breakers_shed_what_is_over_the_limit(tmp_path):
    def slow(method, path, headers, body):
        time.sleep(0.5)
        return lab.json_answer(200, {"ok": True})

    stub = lab.Stub(slow)
    mesh = lab.start_mesh(
        tmp_path,
        fulfillment_port=stub.port,
        MESH_MAX_REQUESTS="1",
        MESH_MAX_PENDING_REQUESTS="1",
        MESH_MAX_CONNECTIONS="1",
    )
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            replies = list(pool.map(lambda i: call(mesh, "POST", f"/cb/{i}", body=b"{}"), range(6)))
        shed = [r for r in replies if r.status == 503]
        assert shed and all(r.header("x-envoy-overloaded") == "true" for r in shed)
        assert [r.status for r in replies].count(200) == sum(stub.hits.values())
        stats = mesh.order_stats()
        overflow = lab.prom_value(
            stats, "envoy_cluster_upstream_rq_pending_overflow", **CLUSTER
        ) + lab.prom_value(stats, "envoy_cluster_upstream_rq_active_overflow", **CLUSTER)
        assert overflow == len(shed)
    finally:
        mesh.stop()
        stub.stop()


def test_outlier_detection_ejects_a_failing_fulfillment(tmp_path):
    stub = lab.Stub(lambda m, p, h, b: lab.json_answer(503, {"code": "unavailable"}))
    mesh = lab.start_mesh(tmp_path, fulfillment_port=stub.port)
    try:
        # Two GETs, three attempts each: six consecutive 5xx, over the limit of five.
        assert [call(mesh, "GET", f"/down/{i}").status for i in range(2)] == [503, 503]
        assert stub.count("GET", "/down/0") == 3
        stats = mesh.order_stats()

        def stat(name: str) -> float:
            return lab.prom_value(stats, f"envoy_cluster_outlier_detection_{name}", **CLUSTER)

        assert stat("ejections_detected_consecutive_5xx") == 1
        # The only host is never taken out (max_ejection_percent 50: a lone fulfillment is
        # still better than none); with two, the failing one is (the next test).
        assert stat("ejections_active") == 0
        assert stat("ejections_overflow") >= 1
    finally:
        mesh.stop()
        stub.stop()


class TwoFulfillments:
    """Order's sidecar with two fulfillment hosts (two fulfillment sidecars, each in front of
    its own app), as DNS gives it every replica in a container run. The configuration is the
    one `bin/platform render` writes; only a second endpoint is added to order's cluster."""

    def __init__(self, workdir: Path, *, first_app: int, second_app: int):
        mesh_dir = workdir / "mesh"
        pki.ca_ensure(directory=mesh_dir)
        for service in pki.MESH_SERVICES:
            pki.issue(directory=mesh_dir, service=service)
        first = lab.mesh_settings(fulfillment_port=first_app)
        second = lab.mesh_settings(
            fulfillment_port=second_app,
            FULFILLMENT_OUTBOUND_PORT=first["FULFILLMENT_OUTBOUND_PORT"],
            ORDER_SIDECAR_ADMIN_PORT=first["ORDER_SIDECAR_ADMIN_PORT"],
        )
        sds = mesh_dir / "sds"
        configs = [
            edgemesh.render_envoy(env, out_dir=workdir / f"envoy-{i}", sds_dir=sds)
            for i, env in enumerate((first, second))
        ]
        order_config = yaml.safe_load(configs[0]["order"].read_text())
        (cluster,) = order_config["static_resources"]["clusters"]
        endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        endpoints.append(copy.deepcopy(endpoints[0]))
        endpoints[1]["endpoint"]["address"]["socket_address"]["port_value"] = int(
            second["FULFILLMENT_INBOUND_PORT"]
        )
        configs[0]["order"].write_text(yaml.safe_dump(order_config))
        self.hosts = [int(env["FULFILLMENT_INBOUND_PORT"]) for env in (first, second)]
        self.outbound_port = int(first["FULFILLMENT_OUTBOUND_PORT"])
        self.order_admin = int(first["ORDER_SIDECAR_ADMIN_PORT"])
        self.processes = []
        for name, config, ports in (
            ("order", configs[0]["order"], (self.order_admin, self.outbound_port)),
            ("fulfillment-0", configs[0]["fulfillment"], (self.hosts[0],)),
            ("fulfillment-1", configs[1]["fulfillment"], (self.hosts[1],)),
        ):
            process = ManagedProcess(
                edgemesh.envoy_command(lab.envoy_binary(), config),
                log_path=workdir / f"{name}.log",
            ).start()
            self.processes.append(process)
            for port in ports:
                wait_for_port(port, proc=process.proc, timeout=30)

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def stat(self, name: str) -> float:
        return lab.prom_value(
            lab.scrape(self.order_admin), f"envoy_cluster_outlier_detection_{name}", **CLUSTER
        )

    def failed_outlier_check(self) -> list[int]:
        """The hosts order's sidecar has ejected, from its admin /clusters."""
        text = lab.request(self.order_admin, "GET", "/clusters").body.decode()
        return [
            port
            for port in self.hosts
            if f"fulfillment::127.0.0.1:{port}::health_flags::/failed_outlier_check" in text
        ]


def test_outlier_detection_ejects_the_failing_one_of_two_fulfillments(tmp_path):
    failing = lab.Stub(lambda m, p, h, b: lab.json_answer(503, {"code": "unavailable"}))
    healthy = lab.Stub(lambda m, p, h, b: lab.json_answer(200, {"ok": True}))
    mesh = TwoFulfillments(tmp_path, first_app=failing.port, second_app=healthy.port)
    try:
        # POSTs without a key: never retried on a 5xx, so each answer shows which host took
        # it. Round robin sends every other one to the failing host until its fifth 503.
        replies = []
        while sum(failing.hits.values()) < 5 and len(replies) < 30:
            replies.append(
                lab.request(mesh.outbound_port, "POST", f"/o/{len(replies)}", body=b"{}")
            )
        statuses = [r.status for r in replies]
        assert statuses.count(503) == 5, statuses
        assert statuses.count(200) == sum(healthy.hits.values())
        deadline = time.monotonic() + 10
        while mesh.stat("ejections_active") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mesh.stat("ejections_active") == 1
        assert mesh.stat("ejections_enforced_consecutive_5xx") == 1
        assert mesh.stat("ejections_enforced_total") == 1
        assert mesh.failed_outlier_check() == [mesh.hosts[0]]

        # Ejected: once the workers have the new host set (Envoy merges host health changes
        # for the cluster's update_merge_window, 1 s by default) every call goes to the
        # healthy host and succeeds.
        time.sleep(2)
        failed_before, healthy_before = sum(failing.hits.values()), sum(healthy.hits.values())
        after = [
            lab.request(mesh.outbound_port, "POST", f"/p/{i}", body=b"{}").status for i in range(20)
        ]
        assert after == [200] * 20
        assert sum(failing.hits.values()) == failed_before
        assert sum(healthy.hits.values()) == healthy_before + 20
    finally:
        mesh.stop()
        failing.stop()
        healthy.stop()


def test_order_reads_fulfillments_internal_api_through_the_mesh(real_fulfillment):
    mesh, port = real_fulfillment

    def app_requests() -> float:
        return lab.prom_value(
            mesh.fulfillment_stats(),
            "envoy_cluster_upstream_rq_total",
            envoy_cluster_name="local_fulfillment",
        )

    before = app_requests()
    missing = call(mesh, "GET", f"/internal/orders/{uuid.uuid4()}")
    assert missing.status == 404
    assert missing.json() == {
        "code": "order_not_found",
        "detail": "fulfillment has not processed this order",
    }
    invalid = call(mesh, "GET", "/internal/orders/not-a-uuid")
    assert invalid.status == 400
    assert invalid.json()["code"] == "invalid_order_id"
    # A 4xx is an answer, not a failure: each reached the app exactly once.
    assert app_requests() == before + 2
