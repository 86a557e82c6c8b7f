"""The fast ways to canonical JSON and to JSON-ready values answer exactly as the slow ways do.

``evidence.canonical.dumps`` must give the bytes ``rfc8785.dumps`` gives, or fail as it fails, for
any document; ``audit.snapshot.jsonable`` must give what its walk gives, types included (``1`` and
``True`` are equal in Python but not in JSON). The documents mix what both handle with everything
the fast paths must notice and hand over: floats, integers past 2^53, text beyond U+FFFF and lone
surrogates, enums, datetimes, decimals, bytes, tuples, sets and non-text keys.
"""

from __future__ import annotations

import enum
import math
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from coldpledge.audit import snapshot
from coldpledge.evidence import canonical


class Colour(enum.Enum):
    RED = "red"
    ONE = 1


class Level(enum.IntEnum):
    LOW = 1


class Kind(enum.StrEnum):
    FROZEN = "frozen"


texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=6) | st.sampled_from(
    ["a", "b", "ab", "é", "\U0001f600", "\ufb01", "\ud800", "\x7f", "\u2028", "seq", ":1234567890123456"]
)
integers = (
    st.integers(-(2**53) + 1, 2**53 - 1)
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([0, 2**53 - 1, 2**53, -(2**53), 10**16, 2**64])
)
plain = st.none() | st.booleans() | integers | texts
odd = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([Colour.RED, Colour.ONE, Level.LOW, Kind.FROZEN, 1.0, -0.0, 1e21, 5e-324])
    | st.datetimes(timezones=st.just(UTC))
    | st.dates().map(lambda d: date(d.year, d.month, d.day))
    | st.decimals(allow_nan=False, places=2)
    | st.binary(max_size=4)
)
keys = texts | st.sampled_from([1, 2, Level.LOW, Colour.RED])


def documents(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(texts, inner, max_size=4)
            | st.dictionaries(keys, inner, max_size=3)
            | st.tuples(inner, inner)
            | st.frozensets(st.integers(0, 9), max_size=3)
        ),
        max_leaves=12,
    )


def outcome(function: Any, document: Any) -> tuple[str, Any]:
    try:
        return "value", function(document)
    except Exception as error:  # the kind of failure is what is compared
        return "error", type(error)


def typed(value: Any) -> Any:
    """``value`` with every leaf tagged by its type, so that equal means the same JSON."""
    if isinstance(value, dict):
        return ("dict", sorted((typed(k), typed(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


@settings(max_examples=600, deadline=None)
@given(documents(plain | odd))
def test_canonical_json_is_the_rfc8785_form_or_the_same_failure(document: Any) -> None:
    assert outcome(canonical.dumps, document) == outcome(lambda d: bytes(rfc8785.dumps(d)), document)


@settings(max_examples=300, deadline=None)
@given(documents(plain))
def test_documents_of_plain_json_come_out_the_same_however_they_are_made(document: Any) -> None:
    # Mostly the fast path: the same bytes as the reference.
    assert outcome(canonical.dumps, document) == outcome(lambda d: bytes(rfc8785.dumps(d)), document)


@settings(max_examples=600, deadline=None)
@given(documents(plain | odd))
def test_jsonable_gives_what_the_walk_gives_types_and_all(document: Any) -> None:
    fast, slow = snapshot.jsonable(document), snapshot._walk(document)
    assert typed(fast) == typed(slow)


def test_an_ingest_chunks_evidence_data_takes_the_fast_path() -> None:
    data: dict[str, Any] = {
        "messages": [
            {"device": f"T-{i:06d}", "seq": i, "sha256": "ab" * 32, "signed": False, "readings": 1}
            for i in range(3)
        ],
        "dead_letters": [],
        "at": "2026-11-29T01:02:03+00:00",
    }
    assert snapshot._json_copy(data) == data
    assert canonical.dumps(data) == bytes(rfc8785.dumps(data))
    assert canonical._fast(data) is not None


def test_a_datetime_in_a_document_is_still_refused_as_rfc8785_refuses_it() -> None:
    document = {"at": datetime(2026, 11, 29, tzinfo=UTC), "amount": Decimal("1.00")}
    assert outcome(canonical.dumps, document)[0] == "error"
    assert snapshot.jsonable(document) == {"at": "2026-11-29T00:00:00+00:00", "amount": "1.00"}
