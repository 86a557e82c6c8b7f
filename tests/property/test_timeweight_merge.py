"""Rollups merge exactly: however a series is cut into consecutive pieces, folding the aggregates of
the pieces gives the aggregate of the whole series, to the last integer."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from coldpledge.iot.timeweight import TimeWeighted, fold, merge, of_points, split_by_bucket

# Times around the epoch on both sides, values across any sensor's range in millionths.
times_ms = st.integers(min_value=-(10**12), max_value=10**13)
values_u = st.integers(min_value=-(10**12), max_value=10**12)


@st.composite
def series(draw: st.DrawFn, min_size: int = 1) -> list[tuple[int, int]]:
    moments = sorted(draw(st.lists(times_ms, min_size=min_size, max_size=60, unique=True)))
    return [(ms, draw(values_u)) for ms in moments]


@st.composite
def series_and_pieces(draw: st.DrawFn) -> tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]:
    points = draw(series())
    cuts = sorted(
        draw(st.sets(st.integers(min_value=1, max_value=len(points) - 1))) if len(points) > 1 else []
    )
    bounds = [0, *cuts, len(points)]
    return points, [points[lo:hi] for lo, hi in pairwise(bounds)]


@st.composite
def disjoint_pair(draw: st.DrawFn) -> tuple[TimeWeighted, TimeWeighted]:
    points = draw(series(min_size=2))
    cut = draw(st.integers(min_value=1, max_value=len(points) - 1))
    return of_points(points[:cut]), of_points(points[cut:])


@given(series_and_pieces())
def test_folding_the_pieces_of_a_series_gives_the_series(
    case: tuple[list[tuple[int, int]], list[list[tuple[int, int]]]],
) -> None:
    points, pieces = case
    assert fold(of_points(piece) for piece in pieces) == of_points(points)


@given(series(), st.integers(min_value=1, max_value=10**10))
def test_folding_the_buckets_of_a_series_gives_the_series(
    points: list[tuple[int, int]], width_ms: int
) -> None:
    buckets = split_by_bucket(points, width_ms)
    assert [point for piece in buckets.values() for point in piece] == points
    assert fold(of_points(piece) for piece in buckets.values()) == of_points(points)


@given(disjoint_pair())
def test_merging_disjoint_aggregates_does_not_depend_on_their_order(
    pair: tuple[TimeWeighted, TimeWeighted],
) -> None:
    early, late = pair
    merged = merge(early, late)
    assert merged is not None
    assert merge(late, early) == merged


@given(series(), series())
def test_merging_aggregates_whose_spans_meet_gives_nothing(
    first: list[tuple[int, int]], second: list[tuple[int, int]]
) -> None:
    a, b = of_points(first), of_points(second)
    spans_meet = a.first_ms <= b.last_ms and b.first_ms <= a.last_ms
    assert (merge(a, b) is None) == spans_meet
    assert (merge(b, a) is None) == spans_meet


@given(series(min_size=3))
def test_merging_interleaved_halves_of_a_series_gives_nothing(points: list[tuple[int, int]]) -> None:
    evens, odds = of_points(points[::2]), of_points(points[1::2])
    assert merge(evens, odds) is None
    assert merge(odds, evens) is None
