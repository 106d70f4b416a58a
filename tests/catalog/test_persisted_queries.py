"""Apollo automatic persisted queries over GET, with Cache-Control and ETag; POST and
mutations never cached (issue 3, "Done when": APQ GET works, unknown hash answers the
standard PersistedQueryNotFound)."""

from __future__ import annotations

import hashlib
import json

import pytest
from catalog_factories import ProductFactory
from django.test import Client, override_settings

from catalog_service.graphql.queries import query_text

pytestmark = pytest.mark.django_db

QUERY = "query Skus($n: Int) { products(first: $n) { edges { node { sku } } } }"
HASH = hashlib.sha256(QUERY.encode()).hexdigest()


def apq(sha: str = HASH) -> str:
    return json.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha}})


def get_hash(client, variables=None, sha: str = HASH, **headers):
    params = {"extensions": apq(sha)}
    if variables is not None:
        params["variables"] = json.dumps(variables)
    return client.get("/graphql", params, **headers)


def register(client, query: str = QUERY, sha: str = HASH, variables=None):
    body = {"query": query, "variables": variables or {}, "extensions": json.loads(apq(sha))}
    return client.post("/graphql", json.dumps(body), content_type="application/json")


def test_unknown_hash_answers_persisted_query_not_found(client):
    response = get_hash(client)
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response


def test_register_by_post_then_get_by_hash_is_cacheable(client, redis_db):
    ProductFactory(sku="APQ-1")
    ProductFactory(sku="APQ-2")
    registered = register(client, variables={"n": 1})
    assert registered.status_code == 200
    assert registered.json() == {"data": {"products": {"edges": [{"node": {"sku": "APQ-1"}}]}}}
    assert registered["Cache-Control"] == "no-store"
    # kept in Redis (the default cache), so every instance knows it
    assert [k for k in redis_db.keys("*") if "apq" in k] == [f"catalog:cache:1:apq:v1:{HASH}"]

    response = get_hash(client, {"n": 2})
    assert response.status_code == 200
    assert response.json() == {
        "data": {"products": {"edges": [{"node": {"sku": "APQ-1"}}, {"node": {"sku": "APQ-2"}}]}}
    }
    assert response["Cache-Control"] == "public, max-age=1, stale-while-revalidate=10"
    etag = response["ETag"]
    assert etag == '"' + hashlib.sha256(response.content).hexdigest()[:40] + '"'

    not_modified = get_hash(client, {"n": 2}, HTTP_IF_NONE_MATCH=etag)
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert not_modified["ETag"] == etag
    assert not_modified["Cache-Control"] == "public, max-age=1, stale-while-revalidate=10"

    changed = get_hash(client, {"n": 1}, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert changed["ETag"] != etag


@override_settings(GRAPHQL_GET_MAX_AGE=5, GRAPHQL_GET_STALE_WHILE_REVALIDATE=30)
def test_cache_control_is_configurable(client):
    register(client)
    response = get_hash(client, {"n": 1})
    assert response["Cache-Control"] == "public, max-age=5, stale-while-revalidate=30"


def test_hash_mismatch_is_refused_and_not_registered(client):
    wrong = hashlib.sha256(b"something else").hexdigest()
    response = register(client, sha=wrong)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_HASH_MISMATCH"}
    assert response.json()["errors"][0]["message"] == "provided sha does not match query"
    assert get_hash(client, sha=wrong).json()["errors"][0]["message"] == "PersistedQueryNotFound"


def test_unsupported_version_and_malformed_hash(client):
    ext = json.dumps({"persistedQuery": {"version": 2, "sha256Hash": HASH}})
    response = client.get("/graphql", {"extensions": ext})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "PERSISTED_QUERY_NOT_SUPPORTED"}
    response = get_hash(client, sha="not-a-hash")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}


def test_post_hash_only_works_once_registered_and_is_never_cached(client):
    register(client)
    body = {"variables": {"n": 1}, "extensions": json.loads(apq())}
    response = client.post("/graphql", json.dumps(body), content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"data": {"products": {"edges": []}}}
    assert response["Cache-Control"] == "no-store"
    assert "ETag" not in response


def test_mutations_are_never_run_over_get(client):
    mutation = "mutation { anything }"
    response = client.get("/graphql", {"query": mutation})
    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert response["Cache-Control"] == "no-store"
    assert response.json()["errors"][0]["extensions"] == {"code": "METHOD_NOT_ALLOWED"}
    sha = hashlib.sha256(mutation.encode()).hexdigest()
    response = client.get("/graphql", {"query": mutation, "extensions": apq(sha)})
    assert response.status_code == 405


def test_errors_over_get_are_not_cacheable(client):
    response = client.get("/graphql", {"query": '{ product(sku: "A", slug: "b") { sku } }'})
    assert response.status_code == 200
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT"}
    assert response["Cache-Control"] == "no-store"


def test_post_is_csrf_exempt():
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/graphql", json.dumps({"query": "{ __typename }"}), content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


def test_the_storefront_query_round_trip_like_apollo_client(client):
    """Hash first; on PersistedQueryNotFound send query + hash; then hash-only GETs work."""
    query = query_text("product_graph")
    sha = hashlib.sha256(query.encode()).hexdigest()
    variables = {"first": 2, "reviews": 1}
    first = get_hash(client, variables, sha=sha)
    assert first.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert register(client, query=query, sha=sha, variables=variables).status_code == 200
    again = get_hash(client, variables, sha=sha)
    assert again.status_code == 200
    assert again.json() == {
        "data": {"products": {"edges": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}}
    }


def test_graphiql_is_served_only_when_the_setting_allows(client):
    # test settings, like production, have GRAPHIQL off: a browser gets JSON, not the IDE
    response = client.get("/graphql", HTTP_ACCEPT="text/html")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"] == {"code": "BAD_REQUEST"}
    with override_settings(GRAPHIQL=True):
        page = client.get("/graphql", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    assert b"graphiql" in page.content.lower()
