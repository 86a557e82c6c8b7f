"""The mergeable time-weighted aggregate behind telemetry rollups."""

from __future__ import annotations

import pytest

from coldpledge.iot.timeweight import (
    TimeWeighted,
    bucket_start,
    fold,
    merge,
    of_points,
    split_by_bucket,
)

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


def test_the_area_is_twice_the_trapezoid_between_consecutive_points() -> None:
    agg = of_points([(0, 10), (1_000, 20), (3_000, 20)])
    assert agg == TimeWeighted(
        count=3,
        min_u=10,
        max_u=20,
        sum_u=50,
        area2=(10 + 20) * 1_000 + (20 + 20) * 2_000,
        first_ms=0,
        first_u=10,
        last_ms=3_000,
        last_u=20,
    )
    assert agg.duration_ms == 3_000


def test_the_mean_weighs_readings_by_the_time_they_stand_for() -> None:
    # A second from -10 °C down to -20 °C, then an hour at -20 °C: by count the mean is -16.7, by
    # time it is almost -20.
    agg = of_points([(0, -10_000_000), (1_000, -20_000_000), (HOUR_MS, -20_000_000)])
    assert agg.mean_u == pytest.approx(-19_998_611.1, abs=1)
    assert agg.plain_mean_u == pytest.approx(-16_666_666.7, abs=1)


def test_a_single_point_has_no_duration_and_its_value_as_mean() -> None:
    agg = of_points([(5_000, -19_200_000)])
    assert agg.duration_ms == 0
    assert agg.area2 == 0
    assert agg.mean_u == -19_200_000


@pytest.mark.parametrize(
    "points",
    [[], [(1_000, 1), (1_000, 2)], [(2_000, 1), (1_000, 2)]],
    ids=["empty", "repeated time", "out of order"],
)
def test_an_aggregate_refuses_points_not_strictly_increasing_in_time(points: list[tuple[int, int]]) -> None:
    with pytest.raises(ValueError, match="point"):
        of_points(points)


def test_merge_bridges_the_gap_between_two_aggregates_with_a_trapezoid() -> None:
    merged = merge(of_points([(0, 10), (1_000, 20)]), of_points([(3_000, 40), (4_000, 40)]))
    assert merged == of_points([(0, 10), (1_000, 20), (3_000, 40), (4_000, 40)])
    assert merged is not None
    assert merged.area2 == 30 * 1_000 + 60 * 2_000 + 80 * 1_000


def test_merge_takes_the_aggregates_in_either_order() -> None:
    early, late = of_points([(0, 5), (10, 7)]), of_points([(20, 1)])
    assert merge(late, early) == merge(early, late) == of_points([(0, 5), (10, 7), (20, 1)])


def test_merge_refuses_aggregates_that_touch_or_overlap() -> None:
    first = of_points([(0, 1), (1_000, 2)])
    assert merge(first, of_points([(1_000, 2), (2_000, 3)])) is None
    assert merge(first, of_points([(500, 2)])) is None
    assert merge(of_points([(-1_000, 2), (3_000, 3)]), first) is None


def test_folding_nothing_gives_nothing() -> None:
    assert fold([]) is None


def test_folding_the_minute_rollups_of_an_hour_gives_the_hour_exactly() -> None:
    points = [(ms, -18_000_000 + (ms // 7_000) % 13 * 100_000) for ms in range(0, HOUR_MS, 7_000)]
    minutes = split_by_bucket(points, MINUTE_MS)
    assert len(minutes) == 60
    assert fold(of_points(piece) for piece in minutes.values()) == of_points(points)


def test_folding_puts_the_aggregates_in_time_order_first() -> None:
    pieces = [of_points([(20, 3)]), of_points([(0, 1)]), of_points([(10, 2)])]
    assert fold(pieces) == of_points([(0, 1), (10, 2), (20, 3)])


def test_folding_refuses_overlapping_aggregates() -> None:
    with pytest.raises(ValueError, match="overlap"):
        fold([of_points([(0, 1), (20, 1)]), of_points([(40, 1)]), of_points([(10, 1)])])


@pytest.mark.parametrize(
    ("ms", "start"),
    [(0, 0), (59_999, 0), (60_000, 60_000), (-1, -60_000), (-60_000, -60_000), (-60_001, -120_000)],
)
def test_a_bucket_starts_at_the_time_floored_to_its_width_before_1970_too(ms: int, start: int) -> None:
    assert bucket_start(ms, MINUTE_MS) == start


def test_a_bucket_must_have_a_width() -> None:
    with pytest.raises(ValueError, match="wider"):
        bucket_start(1_000, 0)


def test_points_are_grouped_by_bucket_in_order() -> None:
    points = [(-1, 1), (0, 2), (59_999, 3), (120_000, 4)]
    assert split_by_bucket(points, MINUTE_MS) == {
        -60_000: [(-1, 1)],
        0: [(0, 2), (59_999, 3)],
        120_000: [(120_000, 4)],
    }
    assert list(split_by_bucket(points, MINUTE_MS)) == [-60_000, 0, 120_000]


def test_grouping_refuses_points_out_of_order() -> None:
    with pytest.raises(ValueError, match="increasing"):
        split_by_bucket([(10, 1), (5, 1)], MINUTE_MS)
