"""Named queries that ship with the catalog (the storefront's, the benchmark's)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def query_text(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.graphql").read_text()
