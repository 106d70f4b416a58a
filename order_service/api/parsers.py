"""The order API's JSON parser: shared.jsonbounds instead of ``json`` (no parser bombs)."""

from __future__ import annotations

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from shared import jsonbounds


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser with a nesting and element bound checked before any recursion.

    Over a bound it raises :class:`shared.jsonbounds.JsonTooComplex`, which the exception
    handler answers 400 ``JSON_TOO_DEEP`` / 413 ``JSON_TOO_MANY_ITEMS``.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        body = stream.read() if stream is not None else b""
        try:
            return jsonbounds.loads(body, **jsonbounds.settings_bounds())
        except jsonbounds.JsonMalformed as exc:
            raise ParseError(str(exc)) from None
