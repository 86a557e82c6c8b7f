"""The fast canonical form of a telemetry payload is byte for byte RFC 8785."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from coldpledge.iot.payload import canonical_bytes

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_the_canonical_bytes_of_any_document_are_what_rfc_8785_prints(document: dict[str, Any]) -> None:
    document.pop("sig", None)
    assert canonical_bytes(document) == bytes(rfc8785.dumps(document))


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_a_reading_value_prints_as_ecmascript_would(value: float) -> None:
    document: dict[str, Any] = {"readings": [{"value": value, "metric": "temperature"}], "seq": 1}
    assert canonical_bytes(document) == bytes(rfc8785.dumps(document))


def test_the_signature_is_left_out_of_the_canonical_form() -> None:
    assert canonical_bytes({"seq": 1, "sig": "abc"}) == b'{"seq":1}'
