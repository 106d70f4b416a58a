"""Strings the order API cannot take (NUL, lone surrogates, over-long) are a 400 with the
code INVALID_STRING wherever they are (path, query, JSON body), never a 500 (ADR 0069).
And /api/ is an index of the API, its schema and its docs (served locally: ADR 0068)."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "raw, where, reason",
    [
        ('{"sku": "A\\u0000", "quantity": 1}', "body.sku", "nul_byte"),
        ('{"sku": "A\\ud800", "quantity": 1}', "body.sku", "lone_surrogate"),
        ('{"sku": "A", "quantity": 1, "note\\u0000": 1}', "body.note? (name)", "nul_byte"),
        ('{"sku": "%s", "quantity": 1}' % ("x" * 1025), "body.sku", "too_long"),
        ('{"items": [{"sku": "B\\udfff", "quantity": 1}]}', "body.items[0].sku", "lone_surrogate"),
    ],
)
def test_bad_strings_in_the_body_are_invalid_string(client, raw, where, reason):
    url = "/api/orders" if "items" in raw else "/api/cart/items"
    response = client.generic(
        "POST", url, raw.encode(), "application/json", HTTP_IDEMPOTENCY_KEY="k-strings"
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "INVALID_STRING"
    assert body["detail"] == {"where": where, "reason": reason}


def test_bad_strings_in_the_path_and_query_are_invalid_string(client):
    nul = client.delete("/api/cart/items/SKU-%00")
    assert nul.status_code == 400
    assert nul.json()["detail"] == {"where": "path.sku", "reason": "nul_byte"}
    long_id = client.get("/api/orders/" + "x" * 1025)
    assert long_id.json()["detail"] == {"where": "path.order_id", "reason": "too_long"}
    query = client.get("/api/orders/00000000-0000-0000-0000-000000000000", {"include": "a\x00"})
    assert query.status_code == 400
    assert query.json()["detail"] == {"where": "query.include[0]", "reason": "nul_byte"}


def test_the_error_message_never_echoes_the_bad_text(client):
    response = client.generic(
        "POST", "/api/cart/items", b'{"\\ud800\\u0000": 1}', "application/json"
    )
    assert response.status_code == 400
    response.content.decode("utf-8")  # valid UTF-8: no lone surrogate came back
    assert response.json()["detail"] == {"where": "body.?? (name)", "reason": "nul_byte"}


def test_api_index_json_and_html(client):
    answer = client.get("/api/")
    assert answer.status_code == 200
    assert answer.json() == {
        "name": "Flash-sale order API",
        "version": "1.0.0",
        "links": {
            "schema": "/api/schema/",
            "docs": "/api/docs/",
            "redoc": "/api/redoc/",
            "cart": "/api/cart",
            "orders": "/api/orders",
        },
    }
    page = client.get("/api/", HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert page["Content-Type"].startswith("text/html")
    html = page.content.decode()
    for link in ("/api/schema/", "/api/docs/", "/api/redoc/"):
        assert f'<a href="{link}">' in html
    assert client.post("/api/").status_code == 405


def test_docs_use_only_local_assets(client):
    for path in ("/api/docs/", "/api/redoc/"):
        html = client.get(path).content.decode()
        assert "/static/order/drf_spectacular_sidecar/" in html, path
        assert "https://" not in html.replace("https://127.0.0.1", ""), path
    schema = client.get("/api/schema/", {"format": "json"})
    assert json.loads(schema.content)["info"]["title"] == "Flash-sale order API"
