#!/usr/bin/env python
"""How long the catalog's `seed_demo` takes: a first run into an empty database, then the
idempotent re-run (issue 15 moved this figure out of tests/catalog).

    source <your env>; .venv/bin/python -m bench.seed_demo [--products 60] [--reviews 10:30]

It creates a scratch database beside CATALOG_DATABASE_URL's (its name + ``_seedbench``,
dropped and created again each run, dropped at the end), migrates it, and runs
``manage.py catalog seed_demo`` twice in a subprocess, publishing offers to BENCH_REDIS_URL
(default TEST_REDIS_URL). It prints the wall time of each run (start-up
included; a bare `manage.py check` shows what start-up costs) and the command's own
"ready in" figure. Benchmarks measure; they
assert nothing about timings.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def log(msg: str) -> None:
    print(msg, flush=True)


def scratch_database(url: str) -> str:
    """Drop and create ``<name>_seedbench`` owned by the URL's role; returns its URL."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    scratch = urlunsplit(parts._replace(path=f"{parts.path}_seedbench"))
    admin_url = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        name = urlsplit(scratch).path.lstrip("/")
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(parts.username)
            )
        )
    return scratch


def drop_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin_url = os.environ.get("POSTGRES_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as admin:
        name = urlsplit(url).path.lstrip("/")
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def manage(env: dict[str, str], *args: str) -> tuple[str, float]:
    """Run ``manage.py catalog ARGS``; its output and wall seconds."""
    started = time.monotonic()
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), "catalog", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"manage.py catalog {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--products", default="60,2000", help="comma-separated catalog sizes, one scratch run each"
    )
    parser.add_argument("--reviews", default="10:30", help="min:max reviews per product")
    args = parser.parse_args()
    reviews_min, reviews_max = (int(n) for n in args.reviews.split(":"))
    database_url = os.environ.get("CATALOG_DATABASE_URL")
    if not database_url:
        sys.exit("set CATALOG_DATABASE_URL (the bench seeds a scratch database beside it)")
    redis_url = os.environ.get(
        "BENCH_REDIS_URL", os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    for products in (int(n) for n in args.products.split(",")):
        run(database_url, redis_url, products, reviews_min, reviews_max)
    return 0


def run(database_url: str, redis_url: str, products: int, reviews_min: int, reviews_max: int):
    scratch = scratch_database(database_url)
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "CATALOG_DATABASE_URL": scratch,
        "REDIS_URL": redis_url,
        "OFFERS_REDIS_URL": redis_url,
        "INVENTORY_REDIS_URL": redis_url,
        "LOG_LEVEL": "WARNING",
    }
    try:
        log(f"seed_demo --products {products} into {scratch.rsplit('/', 1)[-1]} (migrated, empty)")
        manage(env, "migrate", "--noinput", "-v0")
        _, startup = manage(env, "check")
        seed = [
            "seed_demo",
            "--products",
            str(products),
            "--reviews-min",
            str(reviews_min),
            "--reviews-max",
            str(reviews_max),
        ]
        log(f"  manage.py start-up (`check`): {startup:.2f} s")
        for label in ("first run (all new)", "second run (idempotent)"):
            out, wall = manage(env, *seed)
            own = re.search(r"Catalog demo ready in ([\d.]+)s", out)
            log(
                f"  {label}: {wall:.2f} s wall (start-up included), "
                f"the command's own figure {own.group(1) if own else '?'} s"
            )
            log("    " + out.strip().splitlines()[-1])
    finally:
        drop_database(scratch)


if __name__ == "__main__":
    raise SystemExit(main())
