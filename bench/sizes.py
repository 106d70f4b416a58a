"""``--size demo|100x|both`` for the benchmarks (bench/catalog_graph.py, checkout.py,
fulfillment_drain.py).

``demo`` is each benchmark as it always ran; ``100x`` points it at the databases that
``bench/bigdata.py`` filled (``<SERVICE>_DATABASE_URL`` + ``_bench100x``); ``both`` runs the
benchmark once per size, one after the other in one invocation, and prints the figures side
by side with the 100x / demo ratio (the issue's bar: within 20 %).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SIZES = ("demo", "100x", "both")
SUFFIX = "_bench100x"


def add_size_option(parser) -> None:
    parser.add_argument(
        "--size",
        choices=SIZES,
        default="demo",
        help="demo data, the 100x databases of bench/bigdata.py, or both side by side",
    )


def bench100x_url(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path}{SUFFIX}"))


def use_100x(service: str, default: str) -> str:
    """Point ``<SERVICE>_DATABASE_URL`` at the 100x database; exit if it was never filled."""
    import psycopg

    var = f"{service.upper()}_DATABASE_URL"
    url = bench100x_url(os.environ.get(var, default))
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        sys.exit(f"{url.rsplit('/', 1)[-1]} is not there ({exc}); fill it: bench/bigdata.py")
    os.environ[var] = url
    return url


def run_both(argv: list[str], extract: Callable[[str], Mapping[str, float]], *, script: str) -> int:
    """Run ``script`` with ``--size demo`` then ``--size 100x`` (the other arguments kept),
    echo their output, then print ``extract``'s figures of each side by side."""
    rest = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--size":
            skip = True
            continue
        if arg.startswith("--size="):
            continue
        rest.append(arg)
    figures: dict[str, Mapping[str, float]] = {}
    for size in ("demo", "100x"):
        print(f"\n######## --size {size}", flush=True)
        proc = subprocess.run(
            # As a module from the repository root (bench/ imports its siblings as bench.*).
            [sys.executable, "-m", f"bench.{Path(script).stem}", *rest, "--size", size],
            cwd=Path(__file__).resolve().parents[1],
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            print(f"--size {size} failed (exit {proc.returncode})")
            return proc.returncode
        figures[size] = extract(proc.stdout)
    print(f"\n{'figure':<46}{'demo':>12}{'100x':>12}{'100x/demo':>11}")
    for name, demo in figures["demo"].items():
        big = figures["100x"].get(name)
        ratio = f"{big / demo:.2f}" if big is not None and demo else "-"
        big_text = f"{big:.2f}" if big is not None else "-"
        print(f"{name:<46}{demo:>12.2f}{big_text:>12}{ratio:>11}")
    print(
        f"load average {os.getloadavg()[0]:.2f} at the end (shared 2-core machine); "
        "the bar: rates at 100x within 20 % of demo (ratio >= 0.80)"
    )
    return 0


def numbers(text: str, patterns: Mapping[str, str]) -> dict[str, float]:
    """The first group of each pattern (a float) found in ``text``."""
    found = {}
    for name, pattern in patterns.items():
        match = re.search(pattern, text, re.M)
        if match:
            found[name] = float(match.group(1))
    return found
