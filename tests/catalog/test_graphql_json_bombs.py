"""Parser bombs against /graphql: the POST body, and the GET ``variables`` / ``extensions``
parameters, through real gunicorn behind the NGINX edge, and the element bound in process.

Each answers a GraphQL error with ``extensions.code`` (400 ``JSON_TOO_DEEP``, 413
``JSON_TOO_MANY_ITEMS``, 400 ``BAD_REQUEST`` for JSON RFC 8259 forbids), never a 500.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
from django.test import override_settings
from test_http_edge import _request, served  # noqa: F401  (the real gunicorn + edge fixture)

pytestmark = [pytest.mark.system, pytest.mark.django_db(transaction=True)]

NESTED = "[" * 5000 + "]" * 5000
DEEP_VARIABLES = '{"n": ' + "[" * 40 + "1" + "]" * 40 + "}"


def _code(status_headers_body) -> tuple[int, str]:
    status, _headers, body = status_headers_body
    return status, json.loads(body)["errors"][0]["extensions"]["code"]


def test_nested_json_bombs_get_a_clean_4xx_through_the_edge(served):  # noqa: F811
    _origin, edge = served
    post = {"Content-Type": "application/json"}
    assert _code(_request(f"{edge}/graphql", NESTED.encode(), post)) == (400, "JSON_TOO_DEEP")
    body = '{"query": "{ products { edges { node { sku } } } }", "variables": '
    body += DEEP_VARIABLES + "}"
    assert _code(_request(f"{edge}/graphql", body.encode(), post)) == (400, "JSON_TOO_DEEP")
    for param in ("variables", "extensions"):
        qs = urllib.parse.urlencode({"query": "{ products { edges { node { sku } } } }"})
        url = f"{edge}/graphql?{qs}&{param}={urllib.parse.quote(DEEP_VARIABLES)}"
        assert _code(_request(url)) == (400, "JSON_TOO_DEEP"), param
    # A lone surrogate is no text: a clean 400, not a 500 further in.
    lone = b'{"query": "{ product(slug: \\"\\ud800\\") { sku } }"}'
    assert _code(_request(f"{edge}/graphql", lone, post)) == (400, "INVALID_STRING")
    # ...and the server still answers a real query.
    status, _h, _b = _request(
        f"{edge}/graphql", b'{"query": "{ products(first: 1) { edges { node { sku } } } }"}', post
    )
    assert status == 200


def test_too_many_elements_is_413(client):
    variables = {"n": 1, "pad": [0] * 200}
    body = json.dumps(
        {
            "query": "query($n: Int) { products(first: $n) { edges { node { sku } } } }",
            "variables": variables,
        }
    )
    with override_settings(JSON_MAX_ITEMS=100):
        r = client.post("/graphql", body, content_type="application/json")
    error = r.json()["errors"][0]
    assert r.status_code == 413
    assert error["extensions"] == {"code": "JSON_TOO_MANY_ITEMS", "limit": 100}
    assert client.post("/graphql", body, content_type="application/json").status_code == 200
