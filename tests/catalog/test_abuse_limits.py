"""Every abuse limit answers a clear GraphQL error with extensions.code, never a 500
(issue 3, "Done when": every abuse limit answers a clear error)."""

from __future__ import annotations

import json

import pytest
from catalog_factories import ProductFactory
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.django_db


def _error(response, status: int) -> dict:
    payload = response.json()
    assert response.status_code == status, payload
    assert "data" not in payload
    assert len(payload["errors"]) == 1, payload
    assert response["Cache-Control"] == "no-store"
    return payload["errors"][0]


def _nested_flash_sales(levels: int) -> str:
    # flashSales -> product -> flashSale -> ... : the schema allows cycles, the limit does not
    inner = "sku"
    for _ in range(levels):
        inner = f"flashSale {{ product {{ {inner} }} }}"
    return f"{{ flashSales {{ product {{ {inner} }} }} }}"


def test_depth_limit(gql):
    ok = gql.post(_nested_flash_sales(3))  # 2 + 2 * 3 + 1 = 9 levels
    assert ok.status_code == 200, ok.json()
    error = _error(gql.post(_nested_flash_sales(4)), 400)  # 11 levels
    assert error["extensions"] == {"code": "QUERY_TOO_DEEP", "limit": 10}
    assert error["message"] == "the query is more than 10 levels deep; at most 10 allowed"


def test_a_hostile_nesting_is_refused_without_a_500(gql):
    query = "{" + "products { edges { node { " * 700 + "sku" + " } } }" * 700 + "}"
    response = gql.client.post(
        "/graphql", json.dumps({"query": query}), content_type="application/json"
    )
    # body limit first (16 KiB); with a bigger body limit the parser's token limit or the
    # depth limit answers
    assert _error(response, 413)["extensions"]["code"] == "BODY_TOO_LARGE"
    with override_settings(GRAPHQL_MAX_BODY_BYTES=1_000_000):
        response = gql.post(query)
    assert _error(response, 400)["extensions"]["code"] in {
        "GRAPHQL_PARSE_FAILED",
        "QUERY_TOO_DEEP",
    }


COSTLY = """query($p: Int, $r: Int) { products(first: $p) { edges { node { sku
    reviews(first: $r) { edges { node { title } } } } } } }"""


def test_cost_limit_multiplies_by_first(gql):
    # 1 + 40 + 40 + 40 * (1 + 40 + 40) = 3321: allowed
    assert gql.post(COSTLY, {"p": 40, "r": 40}).status_code == 200
    # 1 + 100 + 100 + 100 * (1 + 100 + 100) = 20301
    error = _error(gql.post(COSTLY, {"p": 100, "r": 100}), 400)
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "limit": 5000, "actual": 20301}


@pytest.mark.parametrize(
    "query, variables",
    [
        ("{ products(first: 101) { edges { cursor } } }", None),
        ("query($n: Int) { products(first: $n) { edges { cursor } } }", {"n": 500}),
        ("query($n: Int = 101) { products(first: $n) { edges { cursor } } }", None),
        ('{ product(sku: "X") { reviews(first: 1000) { edges { cursor } } } }', None),
    ],
)
def test_page_size_is_capped_at_100(gql, query, variables):
    error = _error(gql.post(query, variables), 400)
    assert error["extensions"] == {"code": "PAGE_SIZE_EXCEEDED", "limit": 100}


def test_cost_counts_the_default_page_size_when_first_is_absent_or_null(gql):
    # products defaults to 20 and reviews to 5, so each aliased block costs
    # 1 + 20 + 20 + 20 * (1 + 5 + 5) = 261, and 20 of them 5220
    blocks = " ".join(
        f"a{i}: products(first: $p) {{ edges {{ node {{ reviews(first: $r) "
        f"{{ edges {{ node {{ title }} }} }} }} }} }}"
        for i in range(20)
    )
    error = _error(gql.post(f"query($p: Int, $r: Int) {{ {blocks} }}", {"p": None}), 400)
    assert error["extensions"] == {"code": "QUERY_TOO_COSTLY", "limit": 5000, "actual": 5220}
    ProductFactory(sku="NULL-1")
    data = gql.data(
        "{ products(first: null) { edges { node { sku reviews(first: null) "
        "{ edges { cursor } } } } } }"
    )
    assert data == {"products": {"edges": [{"node": {"sku": "NULL-1", "reviews": {"edges": []}}}]}}


def test_page_size_of_100_is_allowed(gql):
    ProductFactory.create_batch(3)
    data = gql.data("{ products(first: 100) { edges { cursor } } }")
    assert len(data["products"]["edges"]) == 3


def test_negative_first_is_bad_user_input(gql):
    error = _error(gql.post("{ products(first: -1) { edges { cursor } } }"), 400)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}


def test_alias_limit(gql):
    fields = " ".join(f"a{i}: categories {{ slug }}" for i in range(21))
    error = _error(gql.post(f"{{ {fields} }}"), 400)
    assert error["extensions"] == {"code": "TOO_MANY_ALIASES", "limit": 20, "actual": 21}
    fields = " ".join(f"a{i}: __typename" for i in range(3))
    assert gql.post(f"{{ {fields} }}").status_code == 200


def test_body_size_limit_post(gql):
    padding = " " * (16 * 1024)
    error = _error(gql.post("{ categories { slug } }" + padding), 413)
    assert error["extensions"]["code"] == "BODY_TOO_LARGE"
    assert error["extensions"]["limit"] == 16384


def test_body_size_limit_get(client):
    response = client.get("/graphql", {"query": "{ categories { slug } }" + " " * 17000})
    assert _error(response, 413)["extensions"]["code"] == "BODY_TOO_LARGE"


@override_settings(GRAPHQL_INTROSPECTION=False)
def test_introspection_off_by_setting(gql):
    error = _error(gql.post("{ __schema { types { name } } }"), 400)
    assert error["message"] == "GraphQL introspection is disabled on this server"
    assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}
    error = _error(gql.post('{ __type(name: "Product") { name } }'), 400)
    assert error["extensions"] == {"code": "INTROSPECTION_DISABLED"}
    assert gql.data("{ __typename }") == {"__typename": "Query"}


@override_settings(GRAPHQL_INTROSPECTION=True)
def test_introspection_on_by_setting(gql):
    data = gql.data('{ __type(name: "StockStatus") { enumValues { name } } }')
    assert [v["name"] for v in data["__type"]["enumValues"]] == [
        "IN_STOCK",
        "LOW_STOCK",
        "SOLD_OUT",
    ]


def test_syntax_and_validation_errors(gql):
    error = _error(gql.post("{ products( }"), 400)
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    error = _error(gql.post("{ products { edges { node { stock } } } }"), 400)
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert error["message"] == "Cannot query field 'stock' on type 'Product'."


def test_bad_transport_input(client):
    error = _error(client.post("/graphql", "{nope", content_type="application/json"), 400)
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    error = _error(client.post("/graphql", "[]", content_type="application/json"), 400)
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    error = _error(client.post("/graphql", {"query": "{ categories { slug } }"}), 415)
    assert error["extensions"] == {"code": "UNSUPPORTED_MEDIA_TYPE"}
    error = _error(client.put("/graphql", "{}", content_type="application/json"), 405)
    assert error["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    error = _error(
        client.get("/graphql", {"query": "{ categories { slug } }", "variables": "[1]"}), 400
    )
    assert error["extensions"] == {"code": "BAD_REQUEST"}


def test_wrong_variable_types_are_bad_user_input(gql):
    response = gql.post(COSTLY, {"p": "many"})
    error = _error(response, 400)
    assert error["extensions"] == {"code": "BAD_USER_INPUT"}
    assert error["message"].startswith("Variable '$p' got invalid value 'many'")


# --- whatever a client sends, the answer is a 4xx or a 200, never a 500 -----------------

_FRAGMENTS = st.sampled_from(
    [
        "{",
        "}",
        "products",
        "(first:",
        "100000",
        "-1",
        ")",
        "edges",
        "node",
        "sku",
        "...",
        "fragment F on Product",
        "query",
        "mutation",
        "$n",
        "a:",
        "__schema",
        '"x"',
        "flashSales",
        "product",
        "reviews",
        "@skip(if: true)",
        "[",
        "]",
        ",",
        "null",
    ]
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.one_of(st.text(max_size=200), st.lists(_FRAGMENTS, max_size=40).map(" ".join)),
    variables=st.one_of(
        st.none(),
        st.dictionaries(
            st.sampled_from(["n", "first", "p"]),
            st.one_of(st.integers(), st.text(max_size=5), st.none()),
            max_size=3,
        ),
    ),
)
def test_no_input_makes_a_500(gql, query, variables):
    response = gql.post(query, variables)
    assert response.status_code in {200, 400, 405, 413}, response.content
    payload = response.json()
    assert "errors" in payload or "data" in payload
    for error in payload.get("errors", []):
        assert error["extensions"]["code"] != "INTERNAL_SERVER_ERROR", error
