"""The checkout body's lean reader answers as the serializer does (ADR 0112).

``checkout_data`` reads a plain body without building ``CheckoutSerializer``; for any body
it does not call plain it answers None and the serializer decides. Held to the same
answers on generated bodies, plain and hostile: where the reader answers, the serializer
must accept the body with the same validated data.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from order_service.api.serializers import CheckoutSerializer, checkout_data

skus = st.one_of(
    st.text(
        alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64
    ),
    st.text(max_size=70),  # spaces, controls, non-ASCII, too long, empty
    st.integers(),
    st.none(),
    st.booleans(),
)
quantities = st.one_of(
    st.integers(min_value=-(10**6), max_value=10**6),
    st.integers(),
    st.floats(allow_nan=False),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)
items = st.one_of(
    st.fixed_dictionaries({"sku": skus, "quantity": quantities}),
    st.dictionaries(st.sampled_from(["sku", "quantity", "extra"]), st.one_of(skus, quantities)),
    st.integers(),
    st.text(max_size=3),
)
bodies = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"items": st.lists(items, max_size=55)}),
    st.fixed_dictionaries({"items": st.lists(items, max_size=3)}, optional={"x": st.integers()}),
    st.lists(st.integers(), max_size=2),
    st.none(),
    st.text(max_size=3),
)


def serializer_answer(body):
    serializer = CheckoutSerializer(data=body)
    return serializer.validated_data if serializer.is_valid() else None


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies)
def test_the_lean_reader_never_disagrees_with_the_serializer(body):
    lean = checkout_data(body)
    if lean is not None:
        assert serializer_answer(body) == lean


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": [{"sku": "SKU-000001", "quantity": 1}]},
        {"items": [{"sku": f"SKU-{n:06d}", "quantity": 2} for n in range(50)]},
        {"items": [{"quantity": 3, "sku": "A"}, {"sku": "B", "quantity": -1}]},
    ],
)
def test_plain_bodies_are_read_without_the_serializer(body):
    assert checkout_data(body) == serializer_answer(body)
    assert checkout_data(body) is not None


@pytest.mark.parametrize(
    "body",
    [
        {"items": [{"sku": " A", "quantity": 1}]},  # the serializer trims
        {"items": [{"sku": "A", "quantity": "1"}]},  # the serializer converts
        {"items": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 1}]},  # refused
        {"items": [{"sku": "A", "quantity": True}]},  # refused
        {"items": [{"sku": "A", "quantity": 10**6 + 1}]},  # refused
        {"items": []},
        {"items": [{"sku": "A", "quantity": 1}], "note": "x"},
        [],
    ],
)
def test_other_bodies_go_to_the_serializer(body):
    assert checkout_data(body) is None
