"""deploy/consul (production, Consul Connect) and deploy/envoy (local sidecars) state the same
mesh policy: the same retries, timeouts, limits and allowed callers.

The Envoy side is read from the configuration `bin/platform render` writes (defaults), the
Consul side from the config entries and service registrations `deploy/consul/apply.sh`
writes. What Consul's config entries cannot express is listed in ENVOY_ONLY, on purpose: a
new knob on either side fails this test until it is mapped or listed (docs/edge-and-mesh.md).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from flashops import edgemesh, pki

ROOT = Path(__file__).resolve().parents[2]


CONSUL = ROOT / "deploy" / "consul"

# Consul's service-router accepts exactly these RetryOn values (agent/structs, 1.21).
CONSUL_RETRY_ON = {
    "5xx",
    "gateway-error",
    "reset",
    "connect-failure",
    "envoy-ratelimited",
    "retriable-4xx",
    "refused-stream",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
}
# Local-only refinements Consul's config entries have no field for.
ENVOY_ONLY_RETRY_ON = {"reset-before-request"}
ENVOY_ONLY = {
    "per_try_timeout",
    "retry_budget",
    "retry_back_off",
    "retry_host_predicate",
    "host_selection_retry_max_attempts",
}


def consul_entry(name: str) -> dict:
    return json.loads((CONSUL / "config" / f"{name}.json").read_text())


def consul_service(name: str) -> dict:
    return json.loads((CONSUL / "services" / f"{name}.json").read_text())["service"]


@pytest.fixture(scope="module")
def envoy(tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("envoy")
    paths = edgemesh.render_envoy({}, out_dir=out, sds_dir=out / "sds")
    return {name: yaml.safe_load(path.read_text()) for name, path in paths.items()}


def seconds(value) -> float:
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)", value)
    assert match, value
    return float(match.group(1)) / (1000 if match.group(2) == "ms" else 1)


def hcm(listener: dict) -> dict:
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def order_routes(envoy) -> dict[str, dict]:
    listener = envoy["order"]["static_resources"]["listeners"][0]
    routes = hcm(listener)["route_config"]["virtual_hosts"][0]["routes"]
    return {r["name"]: r for r in routes}


def order_cluster(envoy) -> dict:
    return envoy["order"]["static_resources"]["clusters"][0]


def envoy_route_kind(route: dict) -> str:
    headers = {h["name"]: h for h in route["match"].get("headers", [])}
    if ":method" in headers:
        methods = headers[":method"]["string_match"]["safe_regex"]["regex"].split("|")
        return "methods:" + ",".join(sorted(methods))
    if "idempotency-key" in headers and headers["idempotency-key"].get("present_match"):
        return "header-present:idempotency-key"
    assert route["match"] == {"prefix": "/"}, route["match"]
    return "any"


def consul_route_kind(route: dict) -> str:
    http = route["Match"]["HTTP"]
    assert http.get("PathPrefix") == "/"
    if "Methods" in http:
        return "methods:" + ",".join(sorted(http["Methods"]))
    if "Header" in http:
        (header,) = http["Header"]
        assert header["Present"] is True
        return f"header-present:{header['Name'].lower()}"
    return "any"


def envoy_policy(route: dict) -> dict:
    policy = route["route"]["retry_policy"]
    return {
        "retry_on": set(policy["retry_on"].split(",")) - ENVOY_ONLY_RETRY_ON,
        "num_retries": int(policy["num_retries"]),
        "timeout": seconds(route["route"]["timeout"]),
    }


def consul_policy(route: dict) -> dict:
    dest = route["Destination"]
    retry_on = set(dest.get("RetryOn", []))
    if dest.get("RetryOnConnectFailure"):
        retry_on.add("connect-failure")
    return {
        "retry_on": retry_on,
        "num_retries": dest["NumRetries"],
        "timeout": seconds(dest["RequestTimeout"]),
    }


def test_the_same_routes_in_the_same_order_with_the_same_retries_and_timeouts(envoy):
    router = consul_entry("service-router-fulfillment")
    assert router["Name"] == "fulfillment"
    local = [(envoy_route_kind(r), envoy_policy(r)) for r in order_routes(envoy).values()]
    prod = [(consul_route_kind(r), consul_policy(r)) for r in router["Routes"]]
    assert local == prod
    assert [kind for kind, _ in local] == [
        "methods:GET,HEAD",
        "header-present:idempotency-key",
        "any",
    ]
    # 5xx is retried only where repeating is safe.
    assert [("5xx" in policy["retry_on"]) for _, policy in local] == [True, True, False]
    for route in router["Routes"]:
        assert route["Destination"]["Service"] == "fulfillment"
        assert set(route["Destination"]["RetryOn"]) <= CONSUL_RETRY_ON


def test_every_envoy_retry_knob_is_mapped_or_listed_as_envoy_only(envoy):
    for route in order_routes(envoy).values():
        policy = route["route"]["retry_policy"]
        mapped = {"retry_on", "num_retries"}
        assert set(policy) - mapped <= ENVOY_ONLY, set(policy) - mapped
        assert set(policy["retry_on"].split(",")) - CONSUL_RETRY_ON <= ENVOY_ONLY_RETRY_ON
    # Every route retries what can never have reached fulfillment, keyed or not.
    for route in order_routes(envoy).values():
        retry_on = set(route["route"]["retry_policy"]["retry_on"].split(","))
        assert {"connect-failure", "refused-stream", "reset-before-request"} <= retry_on


def test_the_same_circuit_breakers_outlier_detection_and_connect_timeout(envoy):
    (override,) = consul_entry("service-defaults-order")["UpstreamConfig"]["Overrides"]
    assert override["Name"] == "fulfillment"
    cluster = order_cluster(envoy)
    (thresholds,) = cluster["circuit_breakers"]["thresholds"]
    assert {
        "MaxConnections": thresholds["max_connections"],
        "MaxPendingRequests": thresholds["max_pending_requests"],
        "MaxConcurrentRequests": thresholds["max_requests"],
    } == override["Limits"]
    outlier = cluster["outlier_detection"]
    check = override["PassiveHealthCheck"]
    assert seconds(check["Interval"]) == seconds(outlier["interval"])
    assert check["MaxFailures"] == outlier["consecutive_5xx"]
    assert check["MaxEjectionPercent"] == outlier["max_ejection_percent"]
    assert seconds(check["BaseEjectionTime"]) == seconds(outlier["base_ejection_time"])
    assert check["EnforcingConsecutive5xx"] == 100  # Envoy's default enforcement
    assert override["ConnectTimeoutMs"] / 1000 == seconds(cluster["connect_timeout"])
    # The retry budget has no Consul field: listed, not forgotten.
    assert "retry_budget" in thresholds and "retry_budget" in ENVOY_ONLY


def test_the_same_callers_are_allowed_and_everyone_else_is_denied(envoy):
    listener = envoy["fulfillment"]["static_resources"]["listeners"][0]
    (rbac,) = [f for f in hcm(listener)["http_filters"] if f["name"] == "envoy.filters.http.rbac"]
    rules = rbac["typed_config"]["rules"]
    assert rules["action"] == "ALLOW"  # whatever no policy allows is denied
    allowed_local = {
        principal["authenticated"]["principal_name"]["exact"]
        for policy in rules["policies"].values()
        for principal in policy["principals"]
    }
    intentions = consul_entry("service-intentions-fulfillment")
    assert intentions["Name"] == "fulfillment"
    allowed_prod = {s["Name"] for s in intentions["Sources"] if s["Action"] == "allow"}
    assert (
        allowed_local == {pki.spiffe_id(name) for name in allowed_prod} == {pki.spiffe_id("order")}
    )
    default = consul_entry("service-intentions-default-deny")
    assert default["Name"] == "*"
    assert default["Sources"] == [
        {
            "Name": "*",
            "Action": "deny",
            "Description": "default deny: only listed callers get through",
        }
    ]
    # The whole listener demands a mesh certificate (Consul Connect always does).
    tls = listener["filter_chains"][0]["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True


def test_the_same_wiring_upstream_port_local_app_and_metrics(envoy):
    order = consul_service("order")
    (upstream,) = order["connect"]["sidecar_service"]["proxy"]["upstreams"]
    assert upstream["destination_name"] == "fulfillment"
    outbound = envoy["order"]["static_resources"]["listeners"][0]["address"]["socket_address"]
    assert (upstream["local_bind_address"], upstream["local_bind_port"]) == (
        outbound["address"],
        outbound["port_value"],
    )
    settings = (ROOT / "order_service" / "config" / "settings" / "base.py").read_text()
    assert f'default="http://127.0.0.1:{outbound["port_value"]}"' in settings
    # Fulfillment's app is reached by its own sidecar on loopback only, in both worlds.
    fulfillment = consul_service("fulfillment")
    assert fulfillment["connect"]["sidecar_service"]["proxy"]["local_service_address"] == (
        "127.0.0.1"
    )
    (local,) = envoy["fulfillment"]["static_resources"]["clusters"]
    endpoint = local["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"]["address"] == "127.0.0.1"
    # Prometheus from every sidecar, flushed every second.
    proxy = consul_entry("proxy-defaults")
    assert proxy["Config"]["protocol"] == "http"
    assert proxy["Config"]["envoy_prometheus_bind_addr"] == "0.0.0.0:9102"
    assert seconds(proxy["Config"]["envoy_stats_flush_interval"]) == seconds(
        envoy["order"]["stats_flush_interval"]
    )
    for name in ("order", "fulfillment"):
        assert consul_entry(f"service-defaults-{name}")["Protocol"] == "http"


# Consul applies an L7 entry (router, intentions with HTTP permissions) only to a service
# whose protocol is already http: the defaults must be written first.
KIND_ORDER = ("proxy-defaults", "service-defaults", "service-router", "service-intentions")


def apply_script_loops(script: str) -> dict[str, str]:
    """``{command: WORDS}`` for each ``for x in WORDS; do <command> "$x" ...; done`` loop."""
    script = script.replace("\\\n", " ")
    loops = {}
    for words, body in re.findall(r"^for \w+ in ([^;]+); do\n(.*?)^done", script, re.S | re.M):
        command = re.search(r"^\s*(consul \w+ \w+) ", body, re.M).group(1)
        loops[command] = " ".join(words.split())
    return loops


def shell_expand(words: str) -> list[str]:
    """What /bin/sh makes of a loop's words in deploy/consul, as apply.sh runs them."""
    out = subprocess.run(
        ["sh", "-c", f'for f in {words}; do printf "%s\\n" "$f"; done'],
        cwd=CONSUL,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.splitlines()


def test_every_consul_file_is_a_known_kind_and_applied_by_the_script():
    kinds = {}
    for path in sorted((CONSUL / "config").glob("*.json")):
        entry = json.loads(path.read_text())
        kinds[path.name] = entry["Kind"]
        assert path.name.startswith(entry["Kind"]), path.name
    assert set(kinds.values()) == set(KIND_ORDER)
    for path in sorted((CONSUL / "services").glob("*.json")):
        service = json.loads(path.read_text())["service"]
        assert "sidecar_service" in service["connect"], path.name

    # The script's own globs, expanded by the shell: every file in config/ is written and
    # every file in services/ registered, each once, and every glob matches something (an
    # unmatched glob stays literal and `consul` fails on a missing file).
    loops = apply_script_loops((CONSUL / "apply.sh").read_text())
    assert set(loops) == {"consul config write", "consul services register"}
    for command, directory in (
        ("consul config write", "config"),
        ("consul services register", "services"),
    ):
        applied = shell_expand(loops[command])
        assert all((CONSUL / name).is_file() for name in applied), (command, applied)
        assert len(applied) == len(set(applied)), applied
        on_disk = sorted(f"{directory}/{p.name}" for p in (CONSUL / directory).iterdir())
        assert sorted(applied) == on_disk, command
    written = [
        kinds[name.removeprefix("config/")] for name in shell_expand(loops["consul config write"])
    ]
    assert written == sorted(written, key=KIND_ORDER.index), written


def test_docker_compose_runs_a_sidecar_beside_each_registered_mesh_service():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    config = services["consul-config"]
    assert "./deploy/consul:/deploy/consul:ro" in config["volumes"]
    assert config["command"] == ["sh", "/deploy/consul/apply.sh"]
    assert (
        "./deploy/consul/server.hcl:/consul/config/server.hcl:ro" in (services["consul"]["volumes"])
    )
    for name in ("order", "fulfillment"):
        assert consul_service(name)["name"] == name
        bootstrap = services[f"{name}-sidecar-bootstrap"]["command"][2]
        assert f"-sidecar-for {name} " in bootstrap
        assert f"> /bootstrap/{name}.json" in bootstrap
        sidecar = services[f"{name}-sidecar"]
        # Same network namespace: order's app reaches its sidecar on 127.0.0.1:9101, and
        # fulfillment's sidecar reaches its app on 127.0.0.1:8000.
        assert sidecar["network_mode"] == f"service:{name}"
        assert sidecar["command"][:3] == ["envoy", "-c", f"/bootstrap/{name}.json"]
        assert sidecar["depends_on"][f"{name}-sidecar-bootstrap"] == {
            "condition": "service_completed_successfully"
        }
    proxy = consul_service("fulfillment")["connect"]["sidecar_service"]["proxy"]
    assert proxy["local_service_port"] == 8000
    assert "0.0.0.0:8000" in services["fulfillment"]["command"]
