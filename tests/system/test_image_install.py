"""The image's install, replayed without Docker: what the Dockerfile copies is enough.

The Dockerfile installs the project non-editable (``pip install -c requirements.lock .``)
from only the files its build stage COPYs, and the runtime stage has only the virtualenv
plus the files its final stage COPYs. An editable development install hides two kinds of
breakage that only show in the image: a file the code needs that the package does not ship
(a Lua script, a template, a schema: ``[tool.setuptools.package-data]``), and a command
that needs a repository file the image lacks. This test replays both stages' COPY lines
into a temporary directory, installs the project there with pip (``--no-deps``: the
dependencies are this virtualenv's, same pins), and runs ``check --deploy`` from a
directory holding only the runtime stage's files.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_compose import dockerfile_instructions, dockerignore_patterns, dockerignored
from test_deploy_check import container_env

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "catalog_service", "order_service", "fulfillment_service")


def stage_copies(stage: str) -> list[tuple[list[str], str]]:
    """(sources, destination) of the plain COPY lines in the named stage of the Dockerfile."""
    copies, current = [], None
    for instruction, args in dockerfile_instructions((ROOT / "Dockerfile").read_text()):
        if instruction == "FROM":
            words = args.split()
            current = words[-1] if len(words) >= 3 and words[-2].upper() == "AS" else None
        elif instruction == "COPY" and current == stage and "--from=" not in args:
            *sources, dest = [w for w in shlex.split(args) if not w.startswith("--")]
            copies.append((sources, dest))
    return copies


def replay(copies: list[tuple[list[str], str]], into: Path) -> None:
    ignore = dockerignore_patterns(ROOT)

    def skip(directory: str, names: list[str]) -> set[str]:
        rel = os.path.relpath(directory, ROOT)
        return {n for n in names if dockerignored(os.path.normpath(f"{rel}/{n}"), ignore)}

    for sources, dest in copies:
        into_dir = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
        for src in sources:
            target = into / dest / Path(src).name if into_dir else into / dest
            if (ROOT / src).is_dir():
                # COPY of a directory copies its contents to the destination
                target = into / dest if not into_dir or len(sources) == 1 else target
                shutil.copytree(ROOT / src, target, ignore=skip, dirs_exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / src, target)


def package_files(base: Path) -> set[str]:
    return {
        str(p.relative_to(base))
        for package in PACKAGES
        for p in (base / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """(site-packages of the installed project, runtime working directory)."""
    base = tmp_path_factory.mktemp("image")
    src, site, app = base / "src", base / "site", base / "app"
    src.mkdir()
    replay(stage_copies("build"), src)
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
         "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    app.mkdir()
    replay(stage_copies("runtime"), app)
    return site, app


def test_the_build_stage_copies_what_pip_install_needs():
    copied = {src for sources, _ in stage_copies("build") for src in sources}
    assert copied == {"pyproject.toml", "requirements.lock", "manage.py", *PACKAGES}


def test_the_installed_package_ships_every_file_of_the_packages(image):
    site, _ = image
    assert package_files(site) == package_files(ROOT)


def test_the_runtime_stage_passes_check_deploy_from_the_installed_package(image, tmp_path):
    site, app = image
    assert sorted(str(p.relative_to(app)) for p in app.rglob("*") if p.is_file()) == [
        "deploy/docker/healthcheck.py",
        "deploy/gunicorn.conf.py",
        "manage.py",
    ]
    env = container_env("order", tmp_path) | {"PYTHONPATH": str(site)}
    where = subprocess.run(
        [sys.executable, "-c", "import shared, order_service; print(shared.__file__)"],
        cwd=app, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip() == str(site / "shared" / "__init__.py")
    for service in ("catalog", "order", "fulfillment"):
        env = container_env(service, tmp_path) | {"PYTHONPATH": str(site)}
        result = subprocess.run(
            [sys.executable, "manage.py", service, "check", "--deploy", "--fail-level", "WARNING"],
            cwd=app, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == "System check identified no issues (0 silenced)."
