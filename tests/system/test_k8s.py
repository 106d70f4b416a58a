"""deploy/k8s/ stays in step with docker-compose.yml and the image.

No cluster here either: the manifests are parsed with PyYAML and compared with the compose
file (same image, same command lines, every variable the compose service gets, each
service only its own database URL), with the Dockerfile (user id, files the probes run)
and with each other (Service selectors and ports, HPA and KEDA targets, KEDA queue names
against the workers' ``--queues``). Every check also runs on a broken copy.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml
from test_compose import (
    commands_of,
    environment,
    image_files,
    listen_port,
    load_compose,
    option_value,
)

ROOT = Path(__file__).resolve().parents[2]
K8S = Path("deploy") / "k8s"


def load_k8s(root: Path) -> tuple[dict, list[dict]]:
    """The kustomization and every document of the resources it lists."""
    kustomization = yaml.safe_load((root / K8S / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((root / K8S / resource).read_text()) if d]
    return kustomization, docs


def by_kind(docs: list[dict], *kinds: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] in kinds}


def secret_keys(root: Path) -> dict[str, set[str]]:
    docs = yaml.safe_load_all((root / K8S / "secret.example.yaml").read_text())
    return {d["metadata"]["name"]: set(d["stringData"]) for d in docs if d}


def pod_spec(workload: dict) -> dict:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def container_of(workload: dict) -> dict:
    [container] = pod_spec(workload)["containers"]
    return container


def env_names(container: dict, docs: list[dict], secrets: dict[str, set[str]]) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    config_maps = by_kind(docs, "ConfigMap")
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(config_maps.get(source["configMapRef"]["name"], {}).get("data", {}))
        if "secretRef" in source:
            names |= secrets.get(source["secretRef"]["name"], set())
    return names


def dockerfile_uid(root: Path) -> int:
    users = re.findall(r"^USER\s+(\d+)", (root / "Dockerfile").read_text(), re.M)
    return int(users[-1])


def check_k8s(root: Path) -> list[str]:
    problems: list[str] = []
    kustomization, docs = load_k8s(root)
    compose = load_compose(root)["services"]
    secrets = secret_keys(root)
    if "secret.example.yaml" in kustomization["resources"]:
        problems.append("kustomization applies secret.example.yaml (placeholder secrets)")
    compose_image = re.sub(
        r"^\$\{[A-Z_]+:-([^}:]+)(:[^}]*)?\}$", r"\1", compose["catalog"]["image"]
    )
    app_image = compose_image.split(":")[0]
    if {i["name"] for i in kustomization.get("images", [])} != {app_image}:
        problems.append(f"kustomization images do not name the app image {app_image}")
    files, _ = image_files(root)
    uid = dockerfile_uid(root)
    workloads = by_kind(docs, "Deployment", "Job", "CronJob")
    for name, workload in workloads.items():
        if name not in compose:
            problems.append(f"{name}: no docker-compose service of that name")
            continue
        container = container_of(workload)
        pod = pod_spec(workload)
        if container["image"].split(":")[0] != app_image:
            problems.append(f"{name}: image {container['image']} is not {app_image}")
        # The first command is compose's first; any further one (`sh -c "a && b"`) is one
        # compose runs too. (A CronJob runs once what compose's service runs in a loop.)
        compose_argvs = [
            argv for argv in commands_of({"command": compose[name]["command"]})
            if argv[0] not in ("true", "sleep")
        ]  # fmt: skip
        [first, *more] = commands_of({"command": container["command"]})
        if first != compose_argvs[0]:
            problems.append(f"{name}: command {first} != compose {compose_argvs[0]}")
        for argv in more:
            if argv not in compose_argvs:
                problems.append(f"{name}: runs {argv}, which compose's {name} does not")
        available = env_names(container, docs, secrets)
        for var in sorted(set(environment(compose[name])) - available):
            problems.append(f"{name}: compose sets {var}; the manifest does not")
        own_db = {v for v in environment(compose[name]) if v.endswith("_DATABASE_URL")}
        for var in sorted({v for v in available if v.endswith("_DATABASE_URL")} - own_db):
            problems.append(f"{name}: gets {var}, another service's database")
        if pod.get("securityContext", {}).get("runAsUser") != uid:
            problems.append(f"{name}: runAsUser is not the image's user {uid}")
        if not container.get("securityContext", {}).get("readOnlyRootFilesystem"):
            problems.append(f"{name}: root filesystem is writable")
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        needed = {"/tmp"} | {
            e["value"] for e in container.get("env", []) if e["name"] == "PROMETHEUS_MULTIPROC_DIR"
        }
        for path in sorted(needed - mounts):
            problems.append(f"{name}: {path} is not mounted (read-only root filesystem)")
        for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
            command = container.get(kind, {}).get("exec", {}).get("command", [])
            if command[:1] == ["python"] and command[1] not in files:
                problems.append(f"{name}: {kind} runs {command[1]}, which the image lacks")
    deployments = by_kind(docs, "Deployment")
    for name, service in by_kind(docs, "Service").items():
        selector = service["spec"]["selector"]
        targets = [
            d for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]  # fmt: skip
        if len(targets) != 1:
            problems.append(f"Service {name}: selector matches {len(targets)} Deployments")
            continue
        container = container_of(targets[0])
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        listening = listen_port(container["command"])
        for port in service["spec"]["ports"]:
            target = ports.get(port["targetPort"], port["targetPort"])
            if target != listening:
                problems.append(
                    f"Service {name}: targets port {target}; the app listens on {listening}"
                )
    for name, hpa in by_kind(docs, "HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            problems.append(f"HPA {name}: scales {target}, which is not a Deployment")
        metrics = {m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"}
        if metrics != {"cpu"}:
            problems.append(f"HPA {name}: scales on {sorted(metrics)}, not cpu")
    auths = by_kind(docs, "TriggerAuthentication")
    for name, auth in auths.items():
        for ref in auth["spec"]["secretTargetRef"]:
            if ref["key"] not in secrets.get(ref["name"], set()):
                problems.append(
                    f"TriggerAuthentication {name}: secret {ref['name']}/{ref['key']} "
                    "is not in secret.example.yaml"
                )
    for name, scaled in by_kind(docs, "ScaledObject").items():
        target = scaled["spec"]["scaleTargetRef"]["name"]
        if target not in deployments:
            problems.append(f"ScaledObject {name}: scales {target}, which is not a Deployment")
            continue
        queue = option_value(container_of(deployments[target])["command"], "--queues", "-Q")
        for trigger in scaled["spec"]["triggers"]:
            if trigger["type"] != "rabbitmq":
                problems.append(f"ScaledObject {name}: trigger {trigger['type']} is not rabbitmq")
            elif trigger["metadata"]["queueName"] != queue:
                problems.append(
                    f"ScaledObject {name}: watches queue {trigger['metadata']['queueName']!r}; "
                    f"{target} consumes {queue!r}"
                )
            if trigger.get("authenticationRef", {}).get("name") not in auths:
                problems.append(
                    f"ScaledObject {name}: authenticationRef names no TriggerAuthentication"
                )
    return problems


def test_k8s_manifests_have_no_problems():
    assert check_k8s(ROOT) == []


def test_k8s_covers_every_long_running_role_and_scales_them():
    _, docs = load_k8s(ROOT)
    assert set(by_kind(docs, "Deployment")) == {
        "catalog", "order", "fulfillment", "order-worker", "fulfillment-worker", "flower",
        "order-outbox-relay", "fulfillment-outbox-relay", "fulfillment-maintain",
    }  # fmt: skip
    assert set(by_kind(docs, "Job")) == {"catalog-migrate", "order-migrate", "fulfillment-migrate"}
    assert set(by_kind(docs, "CronJob")) == {"catalog-publish-offers"}
    # the stock repairer must never run twice at once (docs/deployment.md)
    maintain = by_kind(docs, "Deployment")["fulfillment-maintain"]["spec"]
    assert (maintain["replicas"], maintain["strategy"]) == (1, {"type": "Recreate"})
    assert by_kind(docs, "CronJob")["catalog-publish-offers"]["spec"]["concurrencyPolicy"] == (
        "Forbid"
    )
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {
        "catalog", "order", "fulfillment",
    }  # fmt: skip
    scaled = by_kind(docs, "ScaledObject")
    assert {
        s["spec"]["scaleTargetRef"]["name"]: s["spec"]["triggers"][0]["metadata"]["queueName"]
        for s in scaled.values()
    } == {"order-worker": "order", "fulfillment-worker": "fulfillment"}


@pytest.fixture
def broken(tmp_path):
    dest = tmp_path / "repo"
    skip = shutil.ignore_patterns(".git", ".venv", ".tox", "var", "__pycache__", "tests", "docs")
    shutil.copytree(ROOT, dest, ignore=skip)
    return dest


def edit_k8s(root: Path, resource: str, change) -> None:
    path = root / K8S / resource
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    change({d["metadata"]["name"] + "/" + d["kind"]: d for d in docs})
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def test_k8s_check_fails_on_a_broken_copy(broken):
    assert check_k8s(broken) == []

    def web(docs):
        order = container_of(docs["order/Deployment"])
        order["command"][1] = "order_service.wsgi"
        order["env"].append({"name": "CATALOG_DATABASE_URL", "value": "postgres://x@y/catalog"})
        catalog = container_of(docs["catalog/Deployment"])
        catalog["envFrom"] = catalog["envFrom"][:1]
        docs["fulfillment/Service"]["spec"]["selector"] = {"app.kubernetes.io/name": "fulfilment"}
        docs["catalog/Deployment"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0

    def workers(docs):
        container_of(docs["fulfillment-worker/Deployment"])["volumeMounts"] = []

    def autoscaling(docs):
        docs["fulfillment-worker/ScaledObject"]["spec"]["triggers"][0]["metadata"]["queueName"] = (
            "orders"
        )
        docs["order/HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] = "orders"

    def jobs(docs):
        container_of(docs["catalog-migrate/Job"])["command"][2] += (
            " && python manage.py catalog seed_demo"
        )

    edit_k8s(broken, "migrate-jobs.yaml", jobs)
    edit_k8s(broken, "web.yaml", web)
    edit_k8s(broken, "workers.yaml", workers)
    edit_k8s(broken, "autoscaling.yaml", autoscaling)
    assert check_k8s(broken) == [
        "catalog-migrate: runs ['python', 'manage.py', 'catalog', 'seed_demo'], which compose's "
        "catalog-migrate does not",
        "catalog: compose sets CELERY_BROKER_URL; the manifest does not",
        "catalog: compose sets DJANGO_SECRET_KEY; the manifest does not",
        "catalog: compose sets REDIS_URL; the manifest does not",
        "catalog: runAsUser is not the image's user 10001",
        "order: command ['gunicorn', 'order_service.wsgi', '-c', 'deploy/gunicorn.conf.py', "
        "'--bind', '0.0.0.0:8000'] != compose ['gunicorn', 'order_service.config.wsgi', '-c', "
        "'deploy/gunicorn.conf.py', '--bind', '0.0.0.0:8000']",
        "order: gets CATALOG_DATABASE_URL, another service's database",
        "fulfillment-worker: /tmp is not mounted (read-only root filesystem)",
        "Service fulfillment: selector matches 0 Deployments",
        "HPA order: scales orders, which is not a Deployment",
        "ScaledObject fulfillment-worker: watches queue 'orders'; fulfillment-worker consumes "
        "'fulfillment'",
    ]
