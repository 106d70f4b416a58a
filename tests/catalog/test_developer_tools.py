"""GraphiQL with no internet (ADR 0068), and strings GraphQL cannot take (ADR 0069).

* GraphiQL's page names only this service's static files, each the exact build
  graphene-django's view expects (its SRI hashes), vendored under catalog/vendor/.
* A NUL, a lone surrogate or an over-long string anywhere in a GraphQL request (literal,
  variable, operation name, extensions, APQ) is a 400 with ``extensions.code``
  ``INVALID_STRING``, never PostgreSQL's 500: ``product(slug: "\\u0000uN")`` is the case a
  fuzzer found.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from django.test import override_settings
from graphene_django.views import GraphQLView

import catalog_service.catalog

pytestmark = pytest.mark.django_db

VENDOR = Path(catalog_service.catalog.__file__).parent / "static" / "catalog" / "vendor"
FILES_AND_HASHES = {
    "graphiql@2.4.7/graphiql.min.js": GraphQLView.graphiql_sri,
    "graphiql@2.4.7/graphiql.min.css": GraphQLView.graphiql_css_sri,
    "react@17.0.2/react.production.min.js": GraphQLView.react_sri,
    "react-dom@17.0.2/react-dom.production.min.js": GraphQLView.react_dom_sri,
    "whatwg-fetch@3.6.2/fetch.umd.js": GraphQLView.whatwg_fetch_sri,
    "graphql-ws@5.13.1/graphql-ws.min.js": GraphQLView.subscriptions_transport_ws_sri,
    "graphiql-plugin-explorer@0.1.15/graphiql-plugin-explorer.umd.js": (
        GraphQLView.graphiql_plugin_explorer_sri
    ),
    "graphiql-plugin-explorer@0.1.15/style.css": GraphQLView.graphiql_plugin_explorer_css_sri,
}


def sri(path: Path) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@pytest.mark.parametrize("name", sorted(FILES_AND_HASHES))
def test_vendored_files_are_the_builds_graphene_expects(name):
    assert sri(VENDOR / name) == FILES_AND_HASHES[name]
    assert (VENDOR / name).parent.joinpath("LICENSE.txt").exists()


@override_settings(GRAPHIQL=True)
def test_graphiql_page_loads_only_local_assets(client):
    page = client.get("/graphql", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    sources = [unquote(s) for s in re.findall(r'(?:src|href)="([^"]+)"', html)]
    assert len(sources) == 9  # 2 stylesheets, 7 scripts
    assert all(s.startswith("/static/catalog/") for s in sources), sources
    for name, digest in FILES_AND_HASHES.items():
        assert f"/static/catalog/catalog/vendor/{name}" in sources
        assert f'integrity="{digest}"' in html
    assert "/static/catalog/graphene_django/graphiql.js" in sources
    assert "cdn" not in html.lower()


# --- strings GraphQL cannot take --------------------------------------------------------


def post_raw(client, raw: str):
    return client.generic("POST", "/graphql", raw.encode(), "application/json")


def invalid(response, reason: str) -> None:
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert [e["extensions"] for e in errors] == [{"code": "INVALID_STRING", "reason": reason}]


def test_nul_in_a_slug_literal_is_a_400_not_a_500(gql):
    # The fuzzer's case: PostgreSQL refuses NUL in text, so this was INTERNAL_SERVER_ERROR.
    response = gql.post('{ product(slug: "\\u0000uN") { sku } }')
    invalid(response, "nul_byte")
    assert response.json()["errors"][0]["message"] == (
        "query: a NUL character (\\u0000) is not allowed"
    )


@pytest.mark.parametrize(
    "query, variables",
    [
        ("query($s: String) { product(slug: $s) { sku } }", {"s": "\x00uN"}),
        ("query($s: String) { products(search: $s) { edges { cursor } } }", {"s": "a\x00"}),
        ("query($s: String) { product(sku: $s) { sku } }", {"s": "x", "other\x00": 1}),
    ],
)
def test_nul_in_variables_is_a_400(gql, query, variables):
    invalid(gql.post(query, variables), "nul_byte")


def test_lone_surrogates_are_a_400(client):
    query = "query($s: String) { product(slug: $s) { sku } }"
    raw = json.dumps({"query": query, "variables": {"s": "x"}}).replace('"x"', '"\\ud800"')
    invalid(post_raw(client, raw), "lone_surrogate")
    # In the query text itself (outside what the lexer would reject): the operation name.
    raw = json.dumps({"query": "{ categories { slug } }", "operationName": "x"})
    invalid(post_raw(client, raw.replace('"x"', '"\\udc00"')), "lone_surrogate")
    # An APQ registration is hashed: a surrogate there must not reach hashlib either.
    raw = json.dumps(
        {
            "query": '{ product(slug: "x") { sku } }',
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}},
        }
    ).replace('\\"x\\"', '\\"\\ud800\\"')
    invalid(post_raw(client, raw), "lone_surrogate")


def test_over_long_strings_are_a_400(gql, settings):
    limit = settings.GRAPHQL_MAX_STRING_LENGTH
    invalid(gql.post('{ product(sku: "%s") { sku } }' % ("x" * (limit + 1))), "too_long")
    invalid(
        gql.post("query($s: String) { product(sku: $s) { sku } }", {"s": "x" * (limit + 1)}),
        "too_long",
    )
    ok = gql.post('{ product(sku: "%s") { sku } }' % ("x" * limit))
    assert ok.status_code == 200 and ok.json() == {"data": {"product": None}}


def test_nul_over_get_is_a_400(client):
    response = client.get("/graphql", {"query": '{ product(slug: "a\x00") { sku } }'})
    invalid(response, "nul_byte")
