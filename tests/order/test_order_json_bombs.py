"""Parser bombs against every JSON-accepting order API method, over real HTTP (gunicorn).

A 10 KB body of nested arrays used to be a 500 (RecursionError in ``json``): each body
here must get a clean 4xx with a stable code, change nothing, and leave the server up.
"""

from __future__ import annotations

import pytest
import requests
from django.urls import get_resolver

from tests.support.shopper import ShopperSession

NESTED = "[" * 5000 + "]" * 5000  # 10 KB, under every size limit
DEEP_OBJECT = '{"sku": "X", "quantity": 1, "x": ' + '{"a": ' * 40 + "1" + "}" * 40 + "}"
WIDE = "[" + ",".join(["0"] * 12_000) + "]"  # 24 KB, 12,000 elements

# Every method of the order API that parses a JSON body, found from the URLconf so a new
# endpoint cannot be forgotten here (tested below).
BODY_METHODS = ("post", "put", "patch")


def json_endpoints() -> list[tuple[str, str]]:
    found = []
    for pattern in get_resolver("order_service.config.urls").url_patterns:
        for sub in getattr(pattern, "url_patterns", [pattern]):
            view = getattr(sub.callback, "view_class", None)
            if view is None or not getattr(view, "parser_classes", None):
                continue
            route = "/" + str(pattern.pattern) + str(sub.pattern)
            path = route.replace("<str:sku>", "ANY-SKU").replace("<str:order_id>", "x")
            for method in BODY_METHODS:
                if hasattr(view, method):
                    found.append((method.upper(), path.replace("//", "/")))
    return sorted(found)


def test_the_endpoint_list_is_what_the_api_serves():
    assert json_endpoints() == [
        ("PATCH", "/api/cart/items/ANY-SKU"),
        ("POST", "/api/account/signin"),
        ("POST", "/api/account/signout"),
        ("POST", "/api/account/signup"),
        ("POST", "/api/cart/items"),
        ("POST", "/api/orders"),
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (NESTED, 400, "JSON_TOO_DEEP"),
        (DEEP_OBJECT, 400, "JSON_TOO_DEEP"),
        (WIDE, 413, "JSON_TOO_MANY_ITEMS"),
        ('{"sku": "\\ud800", "quantity": 1}', 400, "INVALID_STRING"),
        ("[NaN]", 400, "MALFORMED_JSON"),
    ],
    ids=["nested-arrays-5000", "object-41-deep", "12000-elements", "lone-surrogate", "nan"],
)
def test_every_json_endpoint_answers_a_bomb_with_a_clean_4xx(order_server, body, status, code):
    server = order_server(workers=1)
    session = ShopperSession()
    # A shopper with a session (a cart), as a browser would have.
    assert session.get(f"{server.url}/api/cart", timeout=5).status_code == 200
    for method, path in json_endpoints():
        r = session.request(
            method,
            f"{server.url}{path}",
            data=body.encode(),
            headers={"Content-Type": "application/json", "Idempotency-Key": "bomb-1"},
            timeout=10,
        )
        assert (r.status_code, r.json()["code"]) == (status, code), (method, path, r.text)
    # Nothing changed, and the same worker still serves.
    assert session.get(f"{server.url}/api/cart", timeout=5).json()["lines"] == []
    assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
    assert "Traceback" not in server.process.log()
