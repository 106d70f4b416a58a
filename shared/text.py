"""Strings an API can take: no NUL, no lone surrogate, not over-long (ADR 0069).

PostgreSQL refuses NUL (0x00) in text and a lone UTF-16 surrogate cannot be encoded as
UTF-8 (for the database, Redis or a hash), so either would reach a driver and come back as
a 500. The APIs check every string they take at their edge with these helpers and answer
a 4xx with a code instead. Pure functions, no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

NUL_BYTE = "nul_byte"
LONE_SURROGATE = "lone_surrogate"
TOO_LONG = "too_long"

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class TextProblem:
    where: str  # e.g. "variables.slug", "path.sku"
    reason: str  # NUL_BYTE, LONE_SURROGATE or TOO_LONG
    max_length: int

    @property
    def message(self) -> str:
        if self.reason == NUL_BYTE:
            return f"{self.where}: a NUL character (\\u0000) is not allowed"
        if self.reason == LONE_SURROGATE:
            return f"{self.where}: a lone UTF-16 surrogate is not valid text"
        return f"{self.where}: longer than {self.max_length} characters"


def text_problem(value: str, *, where: str, max_length: int | None) -> TextProblem | None:
    """What is wrong with one string, or None."""
    limit = max_length or 0
    if "\x00" in value:
        return TextProblem(where, NUL_BYTE, limit)
    if _SURROGATE.search(value):
        return TextProblem(where, LONE_SURROGATE, limit)
    if max_length is not None and len(value) > max_length:
        return TextProblem(where, TOO_LONG, limit)
    return None


def printable_name(name: str, limit: int = 40) -> str:
    """A name fit to echo in an error message: bad characters replaced, cut short."""
    clean = _SURROGATE.sub("?", name.replace("\x00", "?"))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _strings(value: object, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a JSON-like value (dict keys included), with where it is."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            key_name = printable_name(str(key))
            name = f"{where}.{key_name}" if where else key_name
            if isinstance(key, str):
                yield f"{name} (name)", key
            yield from _strings(item, name)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def first_text_problem(
    value: object, *, where: str = "", max_length: int | None = None
) -> TextProblem | None:
    """The first bad string anywhere in a JSON-like value, or None."""
    for place, text in _strings(value, where):
        problem = text_problem(text, where=place, max_length=max_length)
        if problem is not None:
            return problem
    return None
