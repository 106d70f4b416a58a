"""Schemathesis against the running platform, through the edge (ADR 0069).

The order service's OpenAPI schema (/api/schema/) and the catalog's GraphQL schema
(/graphql, introspection on as under `make up`) are fuzzed with bounded examples, once with
a fixed seed (the same cases every run) and once with a fresh one (printed, so a failure
can be replayed with `--seed`), sending what a browser sends: the shopper's session cookie
and the CSRF cookie and header. The only check is the one that matters here: no answer is
a 5xx. The NUL-byte case a fuzzer found (`product(slug: "\\u0000uN")`) is a regression test
below, through the edge as well.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from platform_tools import HIGH_LIMITS, seeded_platform

from tests.support.shopper import ShopperSession

pytestmark = pytest.mark.system

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
FIXED_SEED = 20261201
RANDOM_SEED = secrets.randbelow(2**31)
MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def platform(tmp_path_factory, backing):
    with seeded_platform(tmp_path_factory, backing, env=HIGH_LIMITS) as running:
        yield running


@pytest.fixture(scope="module")
def browser_headers(platform) -> list[str]:
    """The cookies and CSRF header of a shopper's browser with something in the cart."""
    session = ShopperSession()  # sends the order API's CSRF token, as the storefront does
    added = session.post(
        f"{platform.edge}/api/cart/items", json={"sku": "SKU-000001", "quantity": 1}, timeout=10
    )
    assert added.status_code == 201, added.text
    cookies = session.cookies.get_dict()
    assert set(cookies) == {"csrftoken", "flashsale_session"}, cookies
    cookie = "; ".join(f"{k}={v}" for k, v in sorted(cookies.items()))
    return ["-H", f"Cookie: {cookie}", "-H", f"X-CSRFToken: {cookies['csrftoken']}"]


def fuzz(location: str, *, base_url: str, seed: int, headers: list[str], workdir: Path) -> None:
    args = [
        SCHEMATHESIS, "run", location, "--url", base_url,
        "--checks", "not_a_server_error",
        "--max-examples", str(MAX_EXAMPLES), "--seed", str(seed),
        "--workers", "1", "--generation-database", "none",
        "--suppress-health-check", "all", "--request-timeout", "10",
        "--no-color", "--report", "junit", "--report-dir", str(workdir),
        *headers,
    ]  # fmt: skip
    print(f"schemathesis seed {seed}: {location}")
    result = subprocess.run(args, capture_output=True, text=True, timeout=600, cwd=workdir)
    output = result.stdout + result.stderr
    print(output[-4000:])
    assert result.returncode == 0, f"schemathesis (seed {seed}) found failures:\n{output[-8000:]}"
    counts = re.search(r"Test cases:\s+(\d+) generated, (\d+) passed", output)
    assert counts is not None, output[-3000:]
    generated, passed = int(counts[1]), int(counts[2])
    assert generated == passed and generated >= 50, (generated, passed)


@pytest.mark.parametrize("seed", [FIXED_SEED, RANDOM_SEED], ids=["fixed-seed", "random-seed"])
def test_order_api_never_answers_5xx(platform, browser_headers, seed, tmp_path):
    fuzz(
        f"{platform.edge}/api/schema/?format=json",
        base_url=platform.edge,
        seed=seed,
        headers=browser_headers,
        workdir=tmp_path,
    )


@pytest.mark.parametrize("seed", [FIXED_SEED, RANDOM_SEED], ids=["fixed-seed", "random-seed"])
def test_catalog_graphql_never_answers_5xx(platform, browser_headers, seed, tmp_path):
    fuzz(
        f"{platform.edge}/graphql",
        base_url=f"{platform.edge}/graphql",
        seed=seed,
        headers=browser_headers,
        workdir=tmp_path,
    )


@pytest.mark.parametrize(
    "query, reason",
    [
        ('{ product(slug: "\\u0000uN") { sku } }', "nul_byte"),
        ('{ products(search: "a\\u0000b") { edges { node { sku } } } }', "nul_byte"),
        ('{ product(sku: "%s") { sku } }' % ("x" * 5000), "too_long"),
    ],
    ids=["nul-slug", "nul-search", "over-long-sku"],
)
def test_invalid_strings_in_graphql_are_a_400_through_the_edge(platform, query, reason):
    answer = requests.post(f"{platform.edge}/graphql", json={"query": query}, timeout=10)
    assert answer.status_code == 400, answer.text
    [error] = answer.json()["errors"]
    assert error["extensions"] == {"code": "INVALID_STRING", "reason": reason}


def test_invalid_strings_in_rest_are_a_400_through_the_edge(platform):
    session = ShopperSession()
    for body, reason in [
        ('{"sku": "SKU-\\u0000", "quantity": 1}', "nul_byte"),
        ('{"sku": "SKU-\\ud800", "quantity": 1}', "lone_surrogate"),
    ]:
        answer = session.post(
            f"{platform.edge}/api/cart/items",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "INVALID_STRING"
        assert answer.json()["detail"] == {"where": "body.sku", "reason": reason}
    # A NUL in the path never reaches the service: NGINX refuses "%00" in a URI itself (the
    # service's own answer, INVALID_STRING, is tested in tests/order/test_api_strings.py).
    path = session.delete(f"{platform.edge}/api/cart/items/SKU-%00", timeout=10)
    assert path.status_code == 400, path.text
    over_long = session.get(f"{platform.edge}/api/orders/{'x' * 2000}", timeout=10)
    assert over_long.status_code == 400, over_long.text
    assert over_long.json()["detail"] == {"where": "path.order_id", "reason": "too_long"}
