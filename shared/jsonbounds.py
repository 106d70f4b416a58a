"""JSON that cannot crash a parser: one bounded ``loads`` for every body the platform parses.

Python's ``json`` recurses once per nesting level, so a 10 KB body of ``[[[[...]]]]`` raises
``RecursionError`` (a 500) well under every size limit. Every JSON body the platform accepts
(order REST API, catalog GraphQL, broker messages) goes through :func:`loads` instead:

* orjson (a well-kept, Rust-backed parser) does the parsing. Its nesting limit is enforced
  inside the parser (it never recurses on the Python stack), so no body can exhaust the
  interpreter; it refuses NaN and Infinity, which RFC 8259 does not allow. A lone
  surrogate escape (``"\\ud800"``) is JSON by the grammar but not text orjson can return, so
  such a body is parsed by ``json`` instead (its ``RecursionError`` caught as too deep) and the
  string checks of shared/text.py answer it ``INVALID_STRING``.
* the parsed value is then measured iteratively (no recursion) against the platform's own,
  much lower bounds: nesting depth and total element count. Bodies past either get a
  :class:`JsonTooComplex` with a stable code the transport turns into 400 / 413.

See docs/security.md ("Parser and query bombs") and ADR 0080.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# A cart line or a GraphQL request is 2-4 levels deep; 32 leaves room for any honest client.
DEFAULT_MAX_DEPTH = 32
# Elements (array items + object members) in one body; the edge's size limits bound it too.
DEFAULT_MAX_ITEMS = 10_000

TOO_DEEP = "JSON_TOO_DEEP"
TOO_MANY_ITEMS = "JSON_TOO_MANY_ITEMS"
MALFORMED = "MALFORMED_JSON"


class JsonTooComplex(ValueError):
    """A body over the depth or element bound (a ``ValueError``, like any bad JSON)."""

    def __init__(self, *, code: str, message: str, http_status: int, limit: int):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.limit = limit


class JsonMalformed(ValueError):
    """Not JSON at all (or JSON that RFC 8259 forbids): answered 400 ``MALFORMED_JSON``."""

    code = MALFORMED
    http_status = 400


def too_deep(max_depth: int) -> JsonTooComplex:
    return JsonTooComplex(
        code=TOO_DEEP,
        message=f"the JSON body nests deeper than {max_depth} levels",
        http_status=400,
        limit=max_depth,
    )


def measure(value: Any, *, max_depth: int, max_items: int) -> None:
    """Raise :class:`JsonTooComplex` if ``value`` nests deeper or holds more than allowed."""
    items = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > max_depth:
            raise too_deep(max_depth)
        items += len(children)
        if items > max_items:
            raise JsonTooComplex(
                code=TOO_MANY_ITEMS,
                message=f"the JSON body holds more than {max_items} elements",
                http_status=413,
                limit=max_items,
            )
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def loads(
    data: bytes | bytearray | memoryview | str,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_items: int = DEFAULT_MAX_ITEMS,
) -> Any:
    """Parse ``data`` as JSON within the bounds; :class:`JsonMalformed` if it is not JSON."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit exceeded" in str(exc):
            raise too_deep(max_depth) from None
        if "surrogate" not in str(exc):
            raise JsonMalformed(f"the body is not valid JSON: {exc}") from None
        value = _loads_with_surrogates(data, max_depth=max_depth)
    if isinstance(value, dict | list):
        measure(value, max_depth=max_depth, max_items=max_items)
    return value


def _loads_with_surrogates(data: str | bytes, *, max_depth: int) -> Any:
    try:
        return json.loads(data)
    except RecursionError:
        raise too_deep(max_depth) from None
    except ValueError as exc:
        raise JsonMalformed(f"the body is not valid JSON: {exc}") from None


def settings_bounds() -> dict[str, int]:
    """The bounds from Django settings (``JSON_MAX_DEPTH``, ``JSON_MAX_ITEMS``)."""
    from django.conf import settings

    return {
        "max_depth": getattr(settings, "JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH),
        "max_items": getattr(settings, "JSON_MAX_ITEMS", DEFAULT_MAX_ITEMS),
    }
