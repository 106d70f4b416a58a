"""The messages' hand-written ``to_dict`` stays what ``dataclasses.asdict`` gives (ADR 0112)."""

from __future__ import annotations

from dataclasses import asdict

from hypothesis import given
from hypothesis import strategies as st

from shared.messages import OrderAccepted, OrderLine

lines = st.builds(
    OrderLine, sku=st.text(), quantity=st.integers(), unit_price=st.text(), currency=st.text()
)


@given(
    st.builds(
        OrderAccepted,
        order_id=st.text(),
        shopper_id=st.text(),
        lines=st.lists(lines, max_size=4).map(tuple),
        total=st.text(),
        currency=st.text(),
        accepted_at=st.text(),
    )
)
def test_order_accepted_to_dict_is_asdict(message):
    assert message.to_dict() == asdict(message)
    assert list(message.to_dict()) == list(asdict(message))  # the same order of fields
    assert OrderAccepted.from_dict(message.to_dict()) == message
