"""docker-compose.yml and the Dockerfile name only files, modules and commands that exist.

There is no Docker engine on these machines, so the container path is checked statically:
the compose file is parsed with PyYAML and every reference in it is followed to the
repository (build contexts, bind mounts, Python entry points, Celery queues, manage.py
commands, the NGINX templates' variables, database URLs against the Postgres init script,
the Dockerfile's COPY sources against .dockerignore). Each check returns a list of problems;
the real files must give none, and every check is also run on a deliberately broken copy of
the repository to prove it can fail. The Postgres init script itself runs for real against
the machine's PostgreSQL (with names of its own).
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
COMPOSE_FILE = "docker-compose.yml"

# --- reading the files -----------------------------------------------------------------------


def django_projects(root: Path) -> dict[str, str]:
    """manage.py's ``SERVICES``: service name -> Django project package."""
    tree = ast.parse((root / "manage.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "SERVICES":
            return ast.literal_eval(node.value)
    raise AssertionError("manage.py defines no SERVICES")


def platform_queues(root: Path) -> set[str]:
    """The queue names of shared/messages.py (``*_QUEUE = "..."``)."""
    tree = ast.parse((root / "shared" / "messages.py").read_text())
    queues = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            name = getattr(node.targets[0], "id", "")
            if name.endswith("_QUEUE"):
                queues.add(node.value.value)
    return queues


def load_compose(root: Path) -> dict:
    return yaml.safe_load((root / COMPOSE_FILE).read_text())


_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


class MissingVariable(Exception):
    pass


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${X}``, ``${X:-d}``, ``${X-d}``, ``${X:?e}``, ``$X``."""

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        if op in (":-", "-"):
            empty = current is None or (op == ":-" and current == "")
            return arg if empty else current
        if op in (":?", "?"):
            if current is None or (op == ":?" and current == ""):
                raise MissingVariable(f"{name}: {arg}")
            return current
        if op in (":+", "+"):
            return arg if current else ""
        return current or ""

    return _VARIABLE.sub(sub, value)


def variables(value: str) -> list[tuple[str, str | None]]:
    """(name, operator) of every variable a value refers to."""
    return [
        (m.group("name") or m.group("bare"), m.group("op"))
        for m in _VARIABLE.finditer(value)
        if m.group(0) != "$$"
    ]


def strings(data) -> list[str]:
    """Every string value in parsed YAML (comments are not values, so they are not here)."""
    if isinstance(data, dict):
        return [s for v in data.values() for s in strings(v)]
    if isinstance(data, list):
        return [s for v in data for s in strings(v)]
    return [data] if isinstance(data, str) else []


def required_variables(compose: dict) -> set[str]:
    return {name for s in strings(compose) for name, op in variables(s) if op in (":?", "?")}


def sample_env(compose: dict) -> dict[str, str]:
    """Values for every required variable, as a user's .env would give them."""
    return {
        name: f"sample-{name.lower().replace('_', '-')}" for name in required_variables(compose)
    }


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def resolved_environment(service: dict, values: Mapping[str, str]) -> dict[str, str]:
    return {k: interpolate(v, values) for k, v in environment(service).items()}


def is_app_image(service: dict) -> bool:
    """Built from this repository's Dockerfile (the platform's own image)."""
    return "build" in service


def commands_of(service: dict) -> list[list[str]]:
    """Every simple command a service runs (its command and its healthcheck), as argv lists;
    ``sh -c "a && b"`` gives ``a`` and ``b``."""
    found: list[list[str]] = []
    candidates = []
    if "command" in service:
        candidates.append(service["command"])
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
        candidates.append(test[1:] if test[0] == "CMD" else ["sh", "-c", test[1]])
    elif isinstance(test, str):
        candidates.append(["sh", "-c", test])
    for command in candidates:
        argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if argv[:2] == ["sh", "-c"]:
            for part in re.split(r"&&|\|\||;|\|", argv[2]):
                words = shlex.split(part)
                while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
                    words = words[1:]  # VAR=value prefix
                if words and words[0] == "exec":
                    words = words[1:]
                # A loop (`while true; do CMD; sleep N; done`): the condition and the body
                # are commands of their own, the keywords are not.
                if words and words[0] in ("while", "until", "do"):
                    words = words[1:]
                if words and words != ["done"]:
                    found.append(words)
        else:
            found.append(argv)
    return found


def option_value(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def module_file(root: Path, dotted: str) -> Path | None:
    base = root.joinpath(*dotted.split(":")[0].split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


# --- the Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    result = []
    for line in lines:
        word, _, rest = line.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def dockerignore_patterns(root: Path) -> list[str]:
    path = root / ".dockerignore"
    if not path.exists():
        return []
    return [
        line.strip()
        for line in path.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def _pattern_regex(pattern: str) -> re.Pattern:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out += ".*"
            i += 2
            if pattern.startswith("/", i):
                out += "/?"
                i += 1
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"(/.*)?$")


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether the build context leaves ``path`` out.

    The last matching pattern wins; ``!`` re-includes.
    """
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if _pattern_regex(pattern).match(path.strip("/")):
            excluded = not negate
    return excluded


def image_files(root: Path) -> tuple[set[str], list[str]]:
    """What the final stage of the Dockerfile copies, relative to its WORKDIR, and problems."""
    problems: list[str] = []
    files: set[str] = set()
    workdir = "/"
    for instruction, args in dockerfile_instructions((root / "Dockerfile").read_text()):
        if instruction == "FROM":
            files, workdir = set(), "/"
        elif instruction == "WORKDIR":
            workdir = args if args.startswith("/") else f"{workdir.rstrip('/')}/{args}"
        elif instruction in ("COPY", "ADD") and "--from=" not in args:
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            *sources, dest = words
            for src in sources:
                if dest.endswith("/") or len(sources) > 1 or dest in (".", "./"):
                    target = f"{dest.rstrip('/')}/{Path(src).name}"
                else:
                    target = dest
                if not target.startswith("/"):
                    target = f"{workdir.rstrip('/')}/{target}"
                rel = os.path.normpath(target)
                if rel.startswith(workdir.rstrip("/") + "/"):
                    files.add(rel[len(workdir.rstrip("/")) + 1 :])
    return files, problems


def check_dockerfile(root: Path, compose: dict) -> list[str]:
    problems = []
    text = (root / "Dockerfile").read_text()
    instructions = dockerfile_instructions(text)
    ignore = dockerignore_patterns(root)
    args: dict[str, str] = {}
    stages = 0
    user = None
    healthcheck = None
    for instruction, rest in instructions:
        if instruction == "ARG" and "=" in rest:
            name, default = rest.split("=", 1)
            args.setdefault(name, default)
        elif instruction == "FROM":
            stages += 1
            user, healthcheck = None, None
            image = interpolate(rest.split()[0], args)
            if stages == 1 and not image.startswith("python:3.11-slim"):
                problems.append(f"Dockerfile: base image {image} is not python:3.11-slim")
        elif instruction in ("COPY", "ADD") and "--from=" not in rest:
            words = [w for w in shlex.split(rest) if not w.startswith("--")]
            for src in words[:-1]:
                if not (root / src).exists():
                    problems.append(f"Dockerfile: COPY source {src} does not exist")
                elif dockerignored(src, ignore):
                    problems.append(f"Dockerfile: COPY source {src} is excluded by .dockerignore")
        elif instruction in ("ENV", "ARG"):
            for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", rest) or [rest.split()[0]]:
                if re.search(r"SECRET|PASSWORD|TOKEN|_KEY$", name, re.IGNORECASE):
                    problems.append(
                        f"Dockerfile: {instruction} {name} bakes a secret into the image"
                    )
        elif instruction == "USER":
            user = rest.split(":")[0]
        elif instruction == "HEALTHCHECK":
            healthcheck = rest
    if "pip install -c requirements.lock ." not in text:
        problems.append(
            "Dockerfile: the project is not installed with `pip install -c requirements.lock .`"
        )
    if user in (None, "root", "0"):
        problems.append(f"Dockerfile: the final stage runs as {user or 'root (no USER)'}")
    files, _ = image_files(root)
    if healthcheck is None:
        problems.append("Dockerfile: the final stage has no HEALTHCHECK")
    else:
        script = re.search(r'"([\w/.-]+\.py)"', healthcheck)
        if script is None or script.group(1) not in files:
            problems.append(f"Dockerfile: HEALTHCHECK runs a script the image lacks: {healthcheck}")
    if dockerignored(".env", ignore) is False:
        problems.append(".dockerignore: .env (secrets) would be sent to the build")
    return problems


def dockerfile_has_healthcheck(root: Path) -> bool:
    return any(
        i == "HEALTHCHECK" for i, _ in dockerfile_instructions((root / "Dockerfile").read_text())
    )


# --- the checks on docker-compose.yml ------------------------------------------------------------


def check_sources(root: Path, compose: dict) -> list[str]:
    """Every service has an image or a build; every build context and Dockerfile exists."""
    problems = []
    for name, service in compose["services"].items():
        if "image" not in service and "build" not in service:
            problems.append(f"{name}: neither image nor build")
        build = service.get("build")
        if build is None:
            continue
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = (
            "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        )
        if not (root / context).is_dir():
            problems.append(f"{name}: build context {context} does not exist")
        elif not (root / context / dockerfile).is_file():
            problems.append(f"{name}: Dockerfile {context}/{dockerfile} does not exist")
    return problems


def check_mounts_and_networks(root: Path, compose: dict) -> list[str]:
    """Bind-mounted host paths exist; named volumes and networks are declared."""
    problems = []
    declared_volumes = set(compose.get("volumes") or {})
    declared_networks = set(compose.get("networks") or {}) | {"default"}
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                source, _, _rest = volume.partition(":")
                kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            else:
                source, kind = volume.get("source", ""), volume.get("type", "volume")
            if kind == "bind" and not (root / source).exists():
                problems.append(f"{name}: bind mount source {source} does not exist")
            elif kind == "volume" and source and source not in declared_volumes:
                problems.append(f"{name}: volume {source} is not declared")
        networks = service.get("networks") or []
        for network in networks if isinstance(networks, list) else list(networks):
            if network not in declared_networks:
                problems.append(f"{name}: network {network} is not declared")
    return problems


CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def check_depends_on(root: Path, compose: dict) -> list[str]:
    """depends_on names defined services, with a condition each target can meet."""
    problems = []
    services = compose["services"]
    image_healthcheck = dockerfile_has_healthcheck(root)
    graph: dict[str, list[str]] = {}
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        if isinstance(deps, list):
            deps = {d: {"condition": "service_started"} for d in deps}
        graph[name] = list(deps)
        for target, spec in deps.items():
            if target not in services:
                problems.append(f"{name}: depends_on {target}, which is not a service")
                continue
            condition = (spec or {}).get("condition", "service_started")
            if condition not in CONDITIONS:
                problems.append(f"{name}: depends_on {target} with unknown condition {condition}")
            hc = services[target].get("healthcheck")
            if condition == "service_healthy":
                has = (hc and not hc.get("disable")) or (
                    hc is None and is_app_image(services[target]) and image_healthcheck
                )
                if not has:
                    problems.append(
                        f"{name}: waits for {target} to be healthy; it has no healthcheck"
                    )
            if condition == "service_completed_successfully" and services[target].get(
                "restart", "no"
            ) not in ("no", "on-failure"):
                problems.append(f"{name}: waits for {target} to complete; it restarts forever")
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if seen.get(node) == 1:
            problems.append(f"depends_on cycle: {' -> '.join([*path, node])}")
            return
        if seen.get(node) == 2 or node not in graph:
            return
        seen[node] = 1
        for nxt in graph[node]:
            visit(nxt, [*path, node])
        seen[node] = 2

    for node in graph:
        visit(node, [])
    return problems


def listen_port(argv: list[str]) -> int | None:
    bind = option_value(argv, "--bind", "-b")
    if bind and ":" in bind:
        return int(bind.rsplit(":", 1)[1])
    port = option_value(argv, "--port")
    return int(port) if port else None


def service_project(root: Path, service: dict) -> tuple[set[str], list[str]]:
    """The Django projects a service's commands load, and problems with those commands."""
    problems: list[str] = []
    projects: set[str] = set()
    services = django_projects(root)
    package_of = {pkg: name for name, pkg in services.items()}
    files, _ = image_files(root)
    queues = platform_queues(root)
    for argv in commands_of(service):
        program = argv[0]
        if program == "gunicorn":
            skip = {"-c", "--config", "-b", "--bind", "-w", "--workers", "-k", "--worker-class"}
            positional = [
                a
                for i, a in enumerate(argv[1:], 1)
                if not a.startswith("-") and argv[i - 1] not in skip
            ]
            if len(positional) != 1:
                problems.append(f"gunicorn: expected one WSGI module, got {positional}")
                continue
            module = positional[0]
            path = module_file(root, module)
            if path is None:
                problems.append(f"gunicorn: module {module} has no file")
            elif not re.search(r"^application\s*=", path.read_text(), re.M):
                problems.append(f"gunicorn: {module} defines no `application`")
            projects.add(module.split(".")[0])
            config = option_value(argv, "-c", "--config")
            if config is not None and not (root / config).is_file():
                problems.append(f"gunicorn: config {config} does not exist")
            elif config is not None and config not in files:
                problems.append(f"gunicorn: config {config} is not copied into the image")
            if listen_port(argv) is None:
                problems.append(f"gunicorn: {module} has no --bind host:port")
        elif program == "celery":
            app = option_value(argv, "-A", "--app")
            if app is None or module_file(root, app) is None:
                problems.append(f"celery: app module {app} has no file")
                continue
            project = app.split(".")[0]
            projects.add(project)
            sub = [
                a
                for i, a in enumerate(argv[1:], 1)
                if not a.startswith("-") and argv[i - 1] not in ("-A", "--app")
            ]
            if sub and sub[0] == "worker":
                wanted = (option_value(argv, "-Q", "--queues") or "").split(",")
                for queue in wanted:
                    if queue not in queues:
                        known = sorted(queues)
                        problems.append(f"celery worker: queue {queue!r} is not one of {known}")
                    elif package_of.get(project) != queue:
                        problems.append(
                            f"celery worker: {project} consumes {queue!r}, another service's queue"
                        )
        elif program in ("python", "python3"):
            script = argv[1] if len(argv) > 1 else ""
            if script == "manage.py":
                name = argv[2] if len(argv) > 2 else ""
                if name not in services:
                    problems.append(f"manage.py: {name!r} is not one of {sorted(services)}")
                    continue
                projects.add(services[name])
            elif not (root / script).is_file():
                problems.append(f"python: script {script} does not exist")
            if script and script not in files:
                problems.append(f"python: {script} is not copied into the image")
        elif program in ("true", "sleep"):
            pass  # a shell loop's condition and pause
        else:
            problems.append(f"unknown program {program!r} in the platform image")
    return projects, problems


def manage_commands(compose: dict) -> set[tuple[str, str]]:
    """(service, django command) pairs run through manage.py anywhere in the compose file."""
    pairs = set()
    for service in compose["services"].values():
        for argv in commands_of(service):
            if argv[:2] in (["python", "manage.py"], ["python3", "manage.py"]) and len(argv) > 3:
                pairs.add((argv[2], argv[3]))
    return pairs


def check_commands(root: Path, compose: dict) -> list[str]:
    """Every command of the platform's image runs an entry point that exists."""
    problems = []
    for name, service in compose["services"].items():
        if not is_app_image(service):
            continue
        if "command" not in service:
            problems.append(f"{name}: the platform image has no default role; give a command")
            continue
        projects, found = service_project(root, service)
        problems += [f"{name}: {p}" for p in found]
        if len(projects) != 1:
            problems.append(
                f"{name}: runs {sorted(projects) or 'no'} Django project(s); expected one"
            )
    return problems


def production_required_env(root: Path, project: str) -> set[str]:
    """Variables production.py reads with no default, or refuses to start without."""
    tree = ast.parse((root / project / "config" / "settings" / "production.py").read_text())
    required = set()

    def env_name(call: ast.AST) -> tuple[str | None, bool]:
        if not isinstance(call, ast.Call):
            return None, False
        func = call.func
        is_env = (isinstance(func, ast.Name) and func.id == "env") or (
            isinstance(func, ast.Attribute) and getattr(func.value, "id", "") == "env"
        )
        if not is_env or not call.args or not isinstance(call.args[0], ast.Constant):
            return None, False
        return call.args[0].value, any(k.arg == "default" for k in call.keywords)

    for node in ast.walk(tree):
        name, has_default = env_name(node)
        if name and not has_default:
            required.add(name)
        if isinstance(node, ast.If) and any(isinstance(n, ast.Raise) for n in node.body):
            test = node.test.operand if isinstance(node.test, ast.UnaryOp) else node.test
            name, _ = env_name(test)
            if name:
                required.add(name)
    return required


def check_required_env(root: Path, compose: dict) -> list[str]:
    """Each Django process gets DJANGO_ENV=production and every variable its production
    settings require, non-empty once a user's .env fills in the secrets."""
    problems = []
    values = sample_env(compose)
    for name, service in compose["services"].items():
        if not is_app_image(service):
            continue
        projects, _ = service_project(root, service)
        env = resolved_environment(service, values)
        if env.get("DJANGO_ENV") != "production":
            problems.append(f"{name}: DJANGO_ENV is {env.get('DJANGO_ENV')!r}, not 'production'")
        for project in sorted(projects):
            for var in sorted(production_required_env(root, project)):
                if not env.get(var):
                    problems.append(f"{name}: {project} production settings require {var}")
    return problems


def url_password(value: str) -> str | None:
    """The raw password part of ``scheme://user:password@host...`` (variables left as they
    are: a ``:`` or ``@`` inside ``${...}`` does not split)."""
    masked = re.sub(r"\$\{[^}]*\}", lambda m: "\0" * len(m.group(0)), value)
    match = re.match(r"^[a-z]+://([^/@]*)@", masked)
    if not match or ":" not in match.group(1):
        return None
    start = masked.index("://") + 3
    colon = masked.index(":", start)
    return value[colon + 1 : match.end(1)]


_SECRET_KEY_NAME = re.compile(r"SECRET|PASSWORD|_PASS$|BASIC_AUTH|TOKEN")


def check_secrets(root: Path, compose: dict) -> list[str]:
    """Secrets come only from required variables (``${X:?...}``): no literal, no default."""
    problems = []
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            parts = []
            if _SECRET_KEY_NAME.search(key):
                parts.append(value)
            password = url_password(value)
            if password is not None:
                parts.append(password)
            for part in parts:
                refs = variables(part)
                literal = _VARIABLE.sub("", part)
                if not refs or literal or any(op not in (":?", "?") for _, op in refs):
                    problems.append(
                        f"{name}: {key} has a secret that is not a required variable: {part!r}"
                    )
    return problems


def check_env_example(root: Path, compose: dict) -> list[str]:
    """.env.example documents every variable the compose file requires."""
    path = root / ".env.example"
    if not path.exists():
        return [".env.example does not exist"]
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", path.read_text(), re.M))
    missing = required_variables(compose) - documented
    return [f".env.example does not document {var}" for var in sorted(missing)]


def service_networks(service: dict) -> set[str]:
    networks = service.get("networks")
    return set(networks) if networks else {"default"}


ENV_FIELD = {"user": "USER", "password": "PASSWORD", "database": "NAME"}


def check_urls(root: Path, compose: dict) -> list[str]:
    """Connection URLs name defined services and agree with what those services create:
    database role, password and name as the Postgres init script receives them, RabbitMQ
    user and vhost, and the containers share a network."""
    problems = []
    services = compose["services"]
    values = sample_env(compose)
    for name, service in services.items():
        for key, value in resolved_environment(service, values).items():
            if not re.match(r"^(postgres|postgresql|redis|amqp)://", value):
                continue
            url = urlsplit(value)
            target = services.get(url.hostname)
            if target is None:
                problems.append(f"{name}: {key} points at {url.hostname}, which is not a service")
                continue
            if not service_networks(service) & service_networks(target):
                problems.append(f"{name}: {key} points at {url.hostname} on a network it is not on")
            target_env = resolved_environment(target, values)
            if key.endswith("_DATABASE_URL"):
                prefix = key.removesuffix("_DATABASE_URL")
                expected = {
                    "user": target_env.get(f"{prefix}_DB_USER"),
                    "password": target_env.get(f"{prefix}_DB_PASSWORD"),
                    "database": target_env.get(f"{prefix}_DB_NAME"),
                }
                actual = {
                    "user": url.username,
                    "password": url.password,
                    "database": url.path.lstrip("/"),
                }
                for field in expected:
                    if expected[field] != actual[field]:
                        problems.append(
                            f"{name}: {key} {field} {actual[field]!r} is not what {url.hostname} "
                            f"creates ({prefix}_DB_{ENV_FIELD[field]}={expected[field]!r})"
                        )
            if url.scheme == "amqp":
                vhost = url.path.lstrip("/") or "/"
                if url.username != target_env.get("RABBITMQ_DEFAULT_USER"):
                    problems.append(f"{name}: {key} user {url.username!r} is not RabbitMQ's")
                if vhost != target_env.get("RABBITMQ_DEFAULT_VHOST", "/"):
                    problems.append(f"{name}: {key} vhost {vhost!r} is not RabbitMQ's")
                if url.password != target_env.get("RABBITMQ_DEFAULT_PASS"):
                    problems.append(f"{name}: {key} password is not RabbitMQ's")
            if url.scheme == "redis" and url.password != target_env.get("REDIS_PASSWORD"):
                problems.append(f"{name}: {key} password is not Redis's")
    return problems


def nginx_template_dir(root: Path, service: dict) -> Path | None:
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            parts = volume.split(":")
            source, target = parts[0], parts[1] if len(parts) > 1 else ""
        else:
            source, target = volume.get("source", ""), volume.get("target", "")
        if target.rstrip("/") == "/etc/nginx/templates":
            return root / source
    return None


def check_nginx(root: Path, compose: dict) -> list[str]:
    """The edge gets every ``${NAME}`` its templates use (derived from the templates now, so
    a template that gains a variable fails here until compose sets it); upstreams name
    services that listen on that port on a shared network; its healthcheck path exists."""
    problems = []
    services = compose["services"]
    edges = {n: s for n, s in services.items() if nginx_template_dir(root, s) is not None}
    if not edges:
        return ["no service mounts NGINX templates at /etc/nginx/templates"]
    for name, service in edges.items():
        template_dir = nginx_template_dir(root, service)
        templates = sorted(template_dir.rglob("*.template")) if template_dir.is_dir() else []
        if not templates:
            problems.append(f"{name}: no *.template under {template_dir.relative_to(root)}")
            continue
        text = "\n".join(t.read_text() for t in templates)
        needed = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)\}", text))
        env = environment(service)
        for var in sorted(needed - set(env)):
            problems.append(f"{name}: templates use ${{{var}}}; the service does not set it")
        for var, value in sorted(env.items()):
            match = re.fullmatch(r"([a-z][\w-]*):(\d+)", value)
            if not match:
                continue
            host, port = match.group(1), int(match.group(2))
            target = services.get(host)
            if target is None:
                problems.append(f"{name}: {var}={value} names no service")
                continue
            ports = {listen_port(argv) for argv in commands_of(target)} - {None}
            if port not in ports:
                problems.append(f"{name}: {var}={value} but {host} listens on {sorted(ports)}")
            if not service_networks(service) & service_networks(target):
                problems.append(f"{name}: {var}={value} but {host} is on no network with it")
            for argv in commands_of(target):
                prefix = option_value(argv, "--url_prefix")
                if prefix and not re.search(rf"location\s+/{re.escape(prefix)}/", text):
                    problems.append(
                        f"{name}: {host} serves under /{prefix}/, no location routes it"
                    )
        for argv in commands_of(service):
            for url in (a for a in argv if a.startswith("http://")):
                path = urlsplit(url).path
                if not re.search(rf"location\s+(=\s*)?{re.escape(path)}(\s|\{{)", text):
                    problems.append(
                        f"{name}: healthcheck path {path} has no location in the templates"
                    )
    return problems


CHECKS: dict[str, Callable[[Path, dict], list[str]]] = {
    "sources": check_sources,
    "mounts_and_networks": check_mounts_and_networks,
    "depends_on": check_depends_on,
    "commands": check_commands,
    "required_env": check_required_env,
    "secrets": check_secrets,
    "env_example": check_env_example,
    "urls": check_urls,
    "nginx": check_nginx,
    "dockerfile": check_dockerfile,
}


def run_check(name: str, root: Path) -> list[str]:
    return CHECKS[name](root, load_compose(root))


# --- the real files --------------------------------------------------------------------------


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_compose_and_dockerfile_have_no_problems(check):
    assert run_check(check, ROOT) == []


def test_compose_defines_the_platform():
    services = load_compose(ROOT)["services"]
    assert set(services) == {
        "postgres", "redis", "rabbitmq",
        "catalog-migrate", "order-migrate", "fulfillment-migrate",
        "catalog", "order", "fulfillment",
        "order-worker", "fulfillment-worker", "flower", "edge",
        # background processes (tests/system/test_process_parity.py)
        "order-outbox-relay", "fulfillment-outbox-relay", "fulfillment-maintain",
        "catalog-publish-offers",
        # the mesh (issue 6): Consul Connect and the two Envoy sidecars
        "consul", "consul-config",
        "order-sidecar-bootstrap", "order-sidecar",
        "fulfillment-sidecar-bootstrap", "fulfillment-sidecar",
        # observability (issue 10): Prometheus and the exporters
        "prometheus", "nginx-exporter", "redis-exporter", "postgres-exporter",
    }  # fmt: skip
    assert services["edge"]["image"].startswith("nginx:")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")


def test_every_manage_py_command_exists():
    pairs = manage_commands(load_compose(ROOT))
    assert pairs == {
        (svc, cmd)
        for svc in ("catalog", "order", "fulfillment")
        for cmd in ("migrate", "ensure_roles", "collectstatic")
    } | {
        ("catalog", "publish_offers"),
        ("order", "outbox_relay"),
        ("fulfillment", "outbox_relay"),
        ("fulfillment", "maintain"),
    }
    for service, command in sorted(pairs):
        result = subprocess.run(
            [PYTHON, "manage.py", service, "help", command],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
            env={**os.environ, "DJANGO_ENV": "local"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert f"usage: manage.py {service} {command}" in result.stdout


def test_workers_consume_their_own_queues_as_in_the_procfile():
    services = load_compose(ROOT)["services"]
    queues = {
        name: option_value(commands_of(s)[0], "--queues", "-Q")
        for name, s in services.items()
        if commands_of(s) and commands_of(s)[0][:1] == ["celery"] and "worker" in commands_of(s)[0]
    }
    assert queues == {"order-worker": "order", "fulfillment-worker": "fulfillment"}
    procfile = (ROOT / "deploy" / "Procfile").read_text()
    assert "--queues order " in procfile and "--queues fulfillment " in procfile


def test_secrets_have_no_defaults_so_compose_refuses_to_start_without_them():
    compose = load_compose(ROOT)
    required = required_variables(compose)
    assert {
        "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "POSTGRES_PASSWORD", "CATALOG_DB_PASSWORD",
        "ORDER_DB_PASSWORD", "FULFILLMENT_DB_PASSWORD", "REDIS_PASSWORD", "RABBITMQ_PASSWORD",
        "FLOWER_BASIC_AUTH",
    } == required  # fmt: skip
    catalog = compose["services"]["catalog"]
    values = sample_env(compose)
    assert resolved_environment(catalog, values)["DJANGO_SECRET_KEY"] == values["DJANGO_SECRET_KEY"]
    for missing in sorted(required & set(environment(catalog)) | {"DJANGO_SECRET_KEY"}):
        with pytest.raises(MissingVariable, match=f"^{missing}: set {missing}"):
            resolved_environment(catalog, {k: v for k, v in values.items() if k != missing})
    with pytest.raises(MissingVariable):  # an empty value counts as unset (`:?`)
        resolved_environment(catalog, {**values, "DJANGO_SECRET_KEY": ""})


def test_interpolation_follows_compose_rules():
    env = {"SET": "v", "EMPTY": ""}
    assert interpolate("a$${SET}b", env) == "a${SET}b"
    assert interpolate("${SET:-d}|${EMPTY:-d}|${EMPTY-d}|${NONE-d}", env) == "v|d||d"
    assert interpolate("$SET-${SET}", env) == "v-v"
    with pytest.raises(MissingVariable, match=r"^EMPTY: e$"):
        interpolate("${EMPTY:?e}", env)
    assert interpolate("${EMPTY?e}", env) == ""


def test_dockerignore_matching():
    patterns = [".env", ".env.*", "**/__pycache__", "deploy/nginx", "docs", "!docs/keep.md"]
    assert dockerignored(".env", patterns)
    assert dockerignored(".env.local", patterns)
    assert not dockerignored(".env_example_dir/x", patterns)
    assert dockerignored("shared/__pycache__/x.pyc", patterns)
    assert dockerignored("deploy/nginx/templates/a.conf.template", patterns)
    assert not dockerignored("deploy/gunicorn.conf.py", patterns)
    assert not dockerignored("docs/keep.md", patterns)
    assert dockerignored("docs/other.md", patterns)


def test_image_contains_what_the_commands_run():
    files, _ = image_files(ROOT)
    assert files == {"manage.py", "deploy/gunicorn.conf.py", "deploy/docker/healthcheck.py"}


def test_production_required_env_is_derived_from_the_settings():
    for project, db in (
        ("catalog_service", "CATALOG"),
        ("order_service", "ORDER"),
        ("fulfillment_service", "FULFILLMENT"),
    ):
        assert production_required_env(ROOT, project) == {
            "DJANGO_SECRET_KEY",
            "DJANGO_ALLOWED_HOSTS",
            f"{db}_DATABASE_URL",
        }


# --- every check fails on a broken copy ---------------------------------------------------------


@pytest.fixture
def broken(tmp_path):
    """A copy of the repository's files that the checks read, to break one thing at a time."""
    dest = tmp_path / "repo"
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".tox",
            "var",
            "__pycache__",
            "*.pyc",
            ".ruff_cache",
            "node_modules",
            "tests",
            "bench",
            "docs",
        ),
    )
    return dest


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count))


def edit_compose(root: Path, change: Callable[[dict], None]) -> None:
    data = load_compose(root)
    change(data)
    (root / COMPOSE_FILE).write_text(yaml.safe_dump(data, sort_keys=False))


def test_copy_of_the_repository_is_clean(broken):
    for check in CHECKS:
        assert run_check(check, broken) == [], check


def test_sources_check_fails(broken):
    def change(d):
        del d["services"]["redis"]["image"]
        d["services"]["catalog"]["build"] = {"context": "nowhere"}
        d["services"]["order"]["build"] = {"context": ".", "dockerfile": "Dockerfile.prod"}

    edit_compose(broken, change)
    assert run_check("sources", broken) == [
        "redis: neither image nor build",
        "catalog: build context nowhere does not exist",
        "order: Dockerfile ./Dockerfile.prod does not exist",
    ]


def test_mounts_check_fails(broken):
    shutil.rmtree(broken / "deploy" / "compose")

    def change(d):
        d["services"]["redis"]["volumes"] = ["redis-data:/data"]
        d["services"]["catalog"]["networks"] = ["backend", "public"]

    edit_compose(broken, change)
    assert run_check("mounts_and_networks", broken) == [
        "postgres: bind mount source ./deploy/compose/postgres does not exist",
        "redis: volume redis-data is not declared",
        "catalog: network public is not declared",
    ]


def test_depends_on_check_fails(broken):
    def change(d):
        s = d["services"]
        s["catalog"]["depends_on"]["memcached"] = {"condition": "service_started"}
        del s["redis"]["healthcheck"]
        s["order-migrate"]["restart"] = "unless-stopped"
        s["postgres"]["depends_on"] = {"catalog": {"condition": "service_started"}}

    edit_compose(broken, change)
    problems = run_check("depends_on", broken)
    assert "catalog: depends_on memcached, which is not a service" in problems
    assert "catalog: waits for redis to be healthy; it has no healthcheck" in problems
    assert "order: waits for order-migrate to complete; it restarts forever" in problems
    assert "depends_on cycle: postgres -> catalog -> postgres" in problems


def test_depends_on_healthy_app_needs_the_image_healthcheck(broken):
    edit(broken / "Dockerfile", "HEALTHCHECK", "# HEALTHCHECK")
    edit(
        broken / "Dockerfile",
        '    CMD ["python", "deploy/docker',
        '#    CMD ["python", "deploy/docker',
    )
    problems = run_check("depends_on", broken)
    assert "edge: waits for catalog to be healthy; it has no healthcheck" in problems
    assert "edge: waits for flower to be healthy; it has no healthcheck" not in problems


def test_commands_check_fails(broken):
    def change(d):
        s = d["services"]
        s["catalog"]["command"][1] = "catalog_service.config.wsgy"
        s["order-worker"]["command"][2] = "order_service.celery"
        s["fulfillment-worker"]["command"][7] = "order"
        s["order-migrate"]["command"][2] = "python manage.py orders migrate --noinput"
        s["flower"]["healthcheck"]["test"] = ["CMD", "python", "deploy/docker/health.py"]
        s["fulfillment"]["command"] = ["uwsgi", "--module", "fulfillment_service.config.wsgi"]

    edit_compose(broken, change)
    problems = run_check("commands", broken)
    assert problems == [
        "order-migrate: manage.py: 'orders' is not one of ['catalog', 'fulfillment', 'order']",
        "order-migrate: runs no Django project(s); expected one",
        "catalog: gunicorn: module catalog_service.config.wsgy has no file",
        "fulfillment: unknown program 'uwsgi' in the platform image",
        "fulfillment: runs no Django project(s); expected one",
        "order-worker: celery: app module order_service.celery has no file",
        "fulfillment-worker: celery worker: fulfillment_service consumes 'order', "
        "another service's queue",
        "flower: python: script deploy/docker/health.py does not exist",
        "flower: python: deploy/docker/health.py is not copied into the image",
    ]


def test_commands_check_fails_when_a_file_is_not_in_the_image(broken):
    edit(broken / "Dockerfile", "COPY deploy/gunicorn.conf.py ./deploy/gunicorn.conf.py\n", "")
    problems = run_check("commands", broken)
    assert problems == [
        f"{svc}: gunicorn: config deploy/gunicorn.conf.py is not copied into the image"
        for svc in ("catalog", "order", "fulfillment")
    ]


def test_required_env_check_fails(broken):
    def change(d):
        del d["services"]["order"]["environment"]["ORDER_DATABASE_URL"]
        d["services"]["flower"]["environment"]["DJANGO_ENV"] = "local"

    edit_compose(broken, change)
    assert run_check("required_env", broken) == [
        "order: order_service production settings require ORDER_DATABASE_URL",
        "flower: DJANGO_ENV is 'local', not 'production'",
    ]


def test_required_env_check_follows_the_settings(broken):
    edit(
        broken / "catalog_service" / "config" / "settings" / "production.py",
        'CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])',
        'CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS")\nSENTRY_DSN = env("SENTRY_DSN")',
    )
    assert run_check("required_env", broken) == [
        "catalog-migrate: catalog_service production settings require CSRF_TRUSTED_ORIGINS",
        "catalog-migrate: catalog_service production settings require SENTRY_DSN",
        "catalog: catalog_service production settings require CSRF_TRUSTED_ORIGINS",
        "catalog: catalog_service production settings require SENTRY_DSN",
        "catalog-publish-offers: catalog_service production settings require CSRF_TRUSTED_ORIGINS",
        "catalog-publish-offers: catalog_service production settings require SENTRY_DSN",
    ]


def test_secrets_check_fails(broken):
    def change(d):
        env = d["services"]["catalog"]["environment"]
        env["DJANGO_SECRET_KEY"] = "${DJANGO_SECRET_KEY:-insecure-default}"
        env["REDIS_URL"] = "redis://:hunter2@redis:6379/0"
        d["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_PASS"] = "guest"

    edit_compose(broken, change)
    assert run_check("secrets", broken) == [
        "rabbitmq: RABBITMQ_DEFAULT_PASS has a secret that is not a required variable: 'guest'",
        "catalog: DJANGO_SECRET_KEY has a secret that is not a required variable: "
        "'${DJANGO_SECRET_KEY:-insecure-default}'",
        "catalog: REDIS_URL has a secret that is not a required variable: 'hunter2'",
    ]


def test_env_example_check_fails(broken):
    edit(broken / ".env.example", "REDIS_PASSWORD=\n", "")
    assert run_check("env_example", broken) == [".env.example does not document REDIS_PASSWORD"]
    (broken / ".env.example").unlink()
    assert run_check("env_example", broken) == [".env.example does not exist"]


def test_urls_check_fails(broken):
    def change(d):
        s = d["services"]
        s["catalog"]["environment"]["CATALOG_DATABASE_URL"] = (
            "postgres://catalog:${CATALOG_DB_PASSWORD:?x}@postgres:5432/catalogue"
        )
        s["order"]["environment"]["REDIS_URL"] = "redis://:${REDIS_PASSWORD:?x}@cache:6379/0"
        s["fulfillment"]["environment"]["CELERY_BROKER_URL"] = (
            "amqp://guest:${RABBITMQ_PASSWORD:?x}@rabbitmq:5672/"
        )
        s["redis"]["networks"] = ["edge"]

    edit_compose(broken, change)
    problems = run_check("urls", broken)
    assert "catalog: CATALOG_DATABASE_URL database 'catalogue' is not what postgres creates " \
        "(CATALOG_DB_NAME='catalog')" in problems  # fmt: skip
    assert "order: REDIS_URL points at cache, which is not a service" in problems
    assert "fulfillment: CELERY_BROKER_URL user 'guest' is not RabbitMQ's" in problems
    assert "fulfillment: CELERY_BROKER_URL vhost '/' is not RabbitMQ's" in problems
    assert "order-worker: REDIS_URL points at redis on a network it is not on" in problems


def test_nginx_check_fails_when_a_template_gains_a_variable(broken):
    template = broken / "deploy" / "nginx" / "templates" / "extra.conf.template"
    template.write_text("limit_req_zone $binary_remote_addr zone=z:1m rate=${ORDER_RATE};\n")
    assert run_check("nginx", broken) == [
        "edge: templates use ${ORDER_RATE}; the service does not set it"
    ]


def test_nginx_check_fails_on_wrong_upstreams(broken):
    def change(d):
        env = d["services"]["edge"]["environment"]
        env["CATALOG_UPSTREAM"] = "catalog:8001"
        env["ORDER_UPSTREAM"] = "orders:8000"
        del env["STATIC_ROOT"]
        d["services"]["fulfillment"]["networks"] = ["backend"]
        d["services"]["flower"]["command"][-1] = "--url_prefix=celery"
        d["services"]["edge"]["healthcheck"]["test"][-1] = "http://127.0.0.1:8080/ping"

    edit_compose(broken, change)
    assert run_check("nginx", broken) == [
        "edge: templates use ${STATIC_ROOT}; the service does not set it",
        "edge: CATALOG_UPSTREAM=catalog:8001 but catalog listens on [8000]",
        "edge: flower serves under /celery/, no location routes it",
        "edge: FULFILLMENT_UPSTREAM=fulfillment:8000 but fulfillment is on no network with it",
        "edge: ORDER_UPSTREAM=orders:8000 names no service",
        "edge: healthcheck path /ping has no location in the templates",
    ]


def test_dockerfile_check_fails(broken):
    dockerfile = broken / "Dockerfile"
    edit(dockerfile, "ARG PYTHON_IMAGE=python:3.11-slim-bookworm", "ARG PYTHON_IMAGE=python:3.12")
    edit(dockerfile, "COPY manage.py ./\n", "COPY manage.py ./\nCOPY settings.ini ./\n")
    edit(dockerfile, "USER 10001:10001", "USER root")
    edit(dockerfile, "    PORT=8000", "    PORT=8000 \\\n    DJANGO_SECRET_KEY=baked-in")
    edit(dockerfile, "RUN pip install -c requirements.lock . \\", "RUN pip install . \\")
    edit(broken / ".dockerignore", "deploy/nginx\n", "deploy/nginx\ndeploy/docker\n")
    (broken / ".dockerignore").write_text(
        (broken / ".dockerignore").read_text().replace(".env\n", "")
    )
    assert run_check("dockerfile", broken) == [
        "Dockerfile: base image python:3.12 is not python:3.11-slim",
        "Dockerfile: COPY source settings.ini does not exist",
        "Dockerfile: ENV DJANGO_SECRET_KEY bakes a secret into the image",
        "Dockerfile: COPY source deploy/docker/healthcheck.py is excluded by .dockerignore",
        "Dockerfile: the project is not installed with `pip install -c requirements.lock .`",
        "Dockerfile: the final stage runs as root",
        ".dockerignore: .env (secrets) would be sent to the build",
    ]


# --- the Postgres init script, run for real ----------------------------------------------------


def test_postgres_init_script_is_mounted_and_executable():
    postgres = load_compose(ROOT)["services"]["postgres"]
    assert "./deploy/compose/postgres:/docker-entrypoint-initdb.d:ro" in postgres["volumes"]
    script = ROOT / "deploy" / "compose" / "postgres" / "10-flashsale-databases.sh"
    assert script.stat().st_mode & stat.S_IXUSR


ADMIN_URL = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def run_init_script(env: dict[str, str]) -> subprocess.CompletedProcess:
    admin = urlsplit(ADMIN_URL)
    base = {
        "PATH": os.environ["PATH"],
        "PGHOST": admin.hostname or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
        "POSTGRES_DB": admin.path.lstrip("/") or "postgres",
    }
    if admin.password:
        base["PGPASSWORD"] = admin.password
    return subprocess.run(
        [str(ROOT / "deploy" / "compose" / "postgres" / "10-flashsale-databases.sh")],
        env={**base, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_postgres_init_script_creates_a_database_per_service_with_its_own_role():
    tag = f"h2init_{secrets.token_hex(3)}"
    names = {p: f"{tag}_{p.lower()}" for p in ("CATALOG", "ORDER", "FULFILLMENT")}
    env = {}
    for prefix, name in names.items():
        env |= {f"{prefix}_DB_NAME": name, f"{prefix}_DB_USER": name}
        env[f"{prefix}_DB_PASSWORD"] = f"pw-{prefix.lower()}-'quote"
    try:
        first = run_init_script(env)
        assert first.returncode == 0, first.stderr
        assert first.stdout.splitlines() == [
            f"flashsale-databases: database {n} owned by role {n}" for n in names.values()
        ]
        again = run_init_script(env)  # idempotent: the image runs it once, people run it twice
        assert again.returncode == 0, again.stderr
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            rows = admin.execute(
                "SELECT d.datname, r.rolname, r.rolcanlogin, r.rolcreatedb, r.rolsuper "
                "FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                "WHERE d.datname LIKE %s ORDER BY d.datname",
                [f"{tag}%"],
            ).fetchall()
            assert rows == sorted((n, n, True, False, False) for n in names.values())
            # Database per service, enforced: a role can open its own database only.
            for prefix, name in names.items():
                for other in names.values():
                    allowed = admin.execute(
                        "SELECT has_database_privilege(%s, %s, 'CONNECT')", [name, other]
                    ).fetchone()[0]
                    assert allowed is (other == name), (prefix, other)
        admin_url = urlsplit(ADMIN_URL)
        own = admin_url._replace(
            netloc=f"{names['ORDER']}@{admin_url.hostname}:{admin_url.port or 5432}"
        )
        with psycopg.connect(own._replace(path=f"/{names['ORDER']}").geturl()) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == names["ORDER"]
        with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
            psycopg.connect(own._replace(path=f"/{names['CATALOG']}").geturl())
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            for name in names.values():
                admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                admin.execute(f'DROP ROLE IF EXISTS "{name}"')


def test_postgres_init_script_refuses_a_role_without_password():
    tag = f"h2init_{secrets.token_hex(3)}"
    result = run_init_script({"CATALOG_DB_NAME": tag, "CATALOG_DB_USER": tag})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"flashsale-databases: CATALOG_DB_PASSWORD is not set; refusing to create role {tag} "
        "without a password"
    )
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [tag]).fetchone() is None
