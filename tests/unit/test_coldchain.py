"""Cold-chain metrics of one temperature series over a window: coverage, excursions, MKT."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from coldpledge.iot.coldchain import (
    DELTA_H_J_PER_MOL,
    GAS_CONSTANT,
    ColdChainSummary,
    mean_kinetic_temperature,
    summarise,
)

T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def closed_form_mkt(weighted: list[tuple[float, float]]) -> float:
    """USP <1079> straight from the formula: (weight, °C) pairs, weights summing to 1."""
    ratio = DELTA_H_J_PER_MOL / GAS_CONSTANT
    mean = sum(weight * math.exp(-ratio / (celsius + 273.15)) for weight, celsius in weighted)
    return ratio / -math.log(mean) - 273.15


def hour_of(
    points: list[tuple[datetime, float]],
    *,
    interval: timedelta = MINUTE,
    limit_c: float | None = None,
    max_gap: timedelta | None = None,
) -> ColdChainSummary:
    """The first hour of a frozen-goods room: a -25..-18 °C band, sampled every minute unless told."""
    return summarise(
        points,
        start=T0,
        end=T0 + HOUR,
        interval=interval,
        low_c=-25.0,
        high_c=-18.0,
        limit_c=limit_c,
        max_gap=max_gap,
    )


def test_a_constant_temperature_has_that_temperature_as_its_mkt() -> None:
    points = [(at(m), -18.5) for m in range(61)]
    assert mean_kinetic_temperature(points) == pytest.approx(-18.5, abs=1e-9)


def test_two_equal_halves_at_20_and_30_degrees_have_the_closed_form_mkt_above_their_mean() -> None:
    # An hour at 20 °C, a silence too long to bridge, then an hour at 30 °C.
    points = [(at(0), 20.0), (at(60), 20.0), (at(180), 30.0), (at(240), 30.0)]
    mkt = mean_kinetic_temperature(points, max_gap=HOUR)
    assert mkt == pytest.approx(closed_form_mkt([(0.5, 20.0), (0.5, 30.0)]), abs=1e-9)
    assert mkt == pytest.approx(26.26, abs=0.01)
    # The Arrhenius weighting makes warm hours count for more than cold ones.
    assert mkt is not None
    assert mkt > (20.0 + 30.0) / 2


def test_unequally_spaced_readings_weigh_by_the_time_they_stand_for() -> None:
    seconds = timedelta(seconds=1)
    points = [(T0, 30.0), (T0 + seconds, 20.0), (T0 + 3600 * seconds, 20.0)]
    mkt = mean_kinetic_temperature(points)
    # The first second is a ramp, its trapezoid half 30 °C and half 20 °C; the hour after is 20 °C.
    assert mkt == pytest.approx(closed_form_mkt([(0.5 / 3600, 30.0), (3599.5 / 3600, 20.0)]), abs=1e-9)
    assert mkt == pytest.approx(20.0, abs=0.01)
    # Counted reading by reading, the one warm reading would have pulled the MKT up by degrees.
    assert closed_form_mkt([(1 / 3, 30.0), (2 / 3, 20.0)]) > 23.0


def test_the_mkt_of_a_ramp_matches_a_fine_numerical_integration() -> None:
    def celsius(second: float) -> float:
        return 2.0 + 6.0 * second / 3600

    points = [(at(m), celsius(m * 60)) for m in range(61)]
    ratio = DELTA_H_J_PER_MOL / GAS_CONSTANT
    factors = [math.exp(-ratio / (celsius(s) + 273.15)) for s in range(3601)]
    integral = sum((f0 + f1) / 2 for f0, f1 in pairwise(factors))
    reference = ratio / -math.log(integral / 3600) - 273.15

    summary = summarise(points, start=T0, end=T0 + HOUR, interval=MINUTE, low_c=2.0, high_c=8.0)
    # What is left is the trapezoidal rule's own error over one-minute steps, about 1e-4 °C.
    assert summary.mkt_c == pytest.approx(reference, abs=2e-4)
    assert summary.mean_c == pytest.approx(5.0)
    assert summary.mkt_c is not None
    assert summary.mean_c is not None
    assert summary.mkt_c > summary.mean_c


def test_a_single_reading_is_its_own_mkt() -> None:
    assert mean_kinetic_temperature([(T0, -19.2)]) == pytest.approx(-19.2, abs=1e-9)


def test_no_readings_have_no_mkt() -> None:
    assert mean_kinetic_temperature([]) is None


def test_a_ramp_through_the_band_top_is_out_of_band_from_the_crossing_on() -> None:
    # -20 °C to -10 °C in an hour crosses -18 °C at minute 12: 48 minutes above, a triangle of
    # 8 °C by 48 minutes above the limit.
    summary = hour_of([(at(0), -20.0), (at(60), -10.0)], max_gap=HOUR)
    assert summary.out_of_band_seconds == 48 * 60
    assert summary.degree_minutes_above == 0.5 * 8 * 48
    assert summary.min_c == -20.0
    assert summary.max_c == -10.0
    assert summary.mean_c == -15.0


def test_a_sampled_ramp_through_the_band_top_gives_the_same_excursion() -> None:
    summary = hour_of([(at(m), -20.0 + m / 6) for m in range(61)])
    assert summary.out_of_band_seconds == pytest.approx(48 * 60)
    assert summary.degree_minutes_above == pytest.approx(192.0)


def test_degree_minutes_accrue_above_a_limit_other_than_the_band_top() -> None:
    summary = hour_of([(at(0), -20.0), (at(60), -10.0)], max_gap=HOUR, limit_c=-15.0)
    assert summary.degree_minutes_above == 0.5 * 5 * 30
    assert summary.out_of_band_seconds == 48 * 60


def test_time_below_the_band_is_out_of_band_too() -> None:
    summary = hour_of([(at(0), -30.0), (at(30), -20.0), (at(60), -20.0)], max_gap=HOUR)
    assert summary.out_of_band_seconds == pytest.approx(15 * 60)
    assert summary.degree_minutes_above == 0.0


def test_a_temperature_resting_on_the_band_edge_is_in_band() -> None:
    summary = hour_of([(at(m), -18.0) for m in range(61)])
    assert summary.out_of_band_seconds == 0.0
    assert summary.degree_minutes_above == 0.0


def test_a_gap_longer_than_max_gap_is_not_integrated_and_counts_as_gap() -> None:
    # Twenty minutes of silence between 2 °C and 6 °C: bridged, the ramp would add 2.5 °C·min
    # above 5 °C; as a gap it adds nothing.
    points = [(at(m), 2.0) for m in range(21)] + [(at(m), 6.0) for m in range(40, 61)]
    summary = summarise(points, start=T0, end=T0 + HOUR, interval=MINUTE, low_c=2.0, high_c=8.0, limit_c=5.0)
    assert summary.covered_seconds == 40 * 60
    assert summary.gap_seconds == 20 * 60
    assert summary.longest_gap_seconds == 20 * 60
    assert summary.degree_minutes_above == pytest.approx(20.0)
    assert summary.mean_c == pytest.approx(4.0)


def test_a_gap_within_max_gap_is_bridged() -> None:
    points = [(at(m), 4.0) for m in (*range(21), *range(23, 61))]
    summary = summarise(points, start=T0, end=T0 + HOUR, interval=MINUTE, low_c=2.0, high_c=8.0)
    assert summary.covered_seconds == 3600
    assert summary.gap_seconds == 0
    assert summary.longest_gap_seconds == 0


def test_silence_at_the_start_and_end_of_the_window_counts_as_gap() -> None:
    summary = hour_of([(at(m), -20.0) for m in range(10, 46)])
    assert summary.covered_seconds == 35 * 60
    assert summary.gap_seconds == 25 * 60
    assert summary.longest_gap_seconds == 15 * 60


def test_thirty_readings_in_an_hour_of_one_minute_sampling_are_half_complete() -> None:
    summary = hour_of([(at(2 * m), -20.0) for m in range(30)])
    assert summary.readings == 30
    assert summary.expected_readings == 60
    assert summary.completeness == 0.5


def test_completeness_never_exceeds_one() -> None:
    summary = hour_of([(T0 + timedelta(seconds=30 * n), -20.0) for n in range(120)])
    assert summary.readings == 120
    assert summary.completeness == 1.0


def test_a_window_shorter_than_the_interval_expects_nothing_and_misses_nothing() -> None:
    points = [(at(0), -20.0), (at(15), -19.0)]
    summary = summarise(points, start=at(5), end=at(8), interval=15 * MINUTE, low_c=-25.0, high_c=-18.0)
    assert summary.expected_readings == 0
    assert summary.completeness == 1.0
    # No reading falls in it, but the segment across it is covered and interpolated.
    assert summary.readings == 0
    assert summary.covered_seconds == 180
    assert summary.mean_c == pytest.approx(-20.0 + 6.5 / 15)


def test_segments_crossing_the_window_edges_are_clipped_there() -> None:
    # A ramp of one degree per ten minutes from an hour before to an hour after the window.
    points = [(at(m), m / 10) for m in range(-60, 121, 10)]
    summary = summarise(points, start=at(5), end=at(65), interval=10 * MINUTE, low_c=0.0, high_c=6.0)
    assert summary.readings == 6
    assert summary.covered_seconds == 3600
    assert summary.min_c == pytest.approx(0.5)
    assert summary.max_c == pytest.approx(6.5)
    assert summary.mean_c == pytest.approx(3.5)
    assert summary.out_of_band_seconds == pytest.approx(5 * 60)


def test_a_reading_at_the_window_end_is_counted_in_the_next_window() -> None:
    points = [(at(m), -20.0) for m in range(0, 121, 10)]
    first = hour_of(points, interval=10 * MINUTE)
    second = summarise(points, start=at(60), end=at(120), interval=10 * MINUTE, low_c=-25.0, high_c=-18.0)
    assert first.readings == second.readings == 6
    assert first.covered_seconds == second.covered_seconds == 3600


def test_a_window_without_readings_has_no_temperature() -> None:
    summary = hour_of([(at(-120), -20.0), (at(120), -20.0)])
    assert summary == ColdChainSummary(
        readings=0,
        expected_readings=60,
        completeness=0.0,
        covered_seconds=0.0,
        gap_seconds=3600.0,
        longest_gap_seconds=3600.0,
        out_of_band_seconds=None,
        degree_minutes_above=None,
        mkt_c=None,
        min_c=None,
        max_c=None,
        mean_c=None,
    )


def test_isolated_readings_weigh_the_same_when_nothing_is_covered() -> None:
    summary = hour_of([(at(0), -20.0), (at(30), -10.0)], interval=5 * MINUTE)
    assert summary.covered_seconds == 0.0
    assert summary.out_of_band_seconds == 0.0
    assert summary.mean_c == -15.0
    assert summary.mkt_c == pytest.approx(closed_form_mkt([(0.5, -20.0), (0.5, -10.0)]), abs=1e-9)


def test_readings_out_of_order_are_put_in_order() -> None:
    points = [(at(m), -20.0 + m / 6) for m in range(61)]
    assert hour_of(list(reversed(points))) == hour_of(points)


def test_a_reading_delivered_twice_counts_once() -> None:
    points = [(at(m), -20.0) for m in range(60)]
    assert hour_of([*points, points[7]]) == hour_of(points)


def test_two_temperatures_at_the_same_instant_are_refused() -> None:
    with pytest.raises(ValueError, match="two readings"):
        hour_of([(at(1), -20.0), (at(1), -19.0)])


@pytest.mark.parametrize("celsius", [math.nan, math.inf, -273.15])
def test_a_value_that_is_no_temperature_is_refused(celsius: float) -> None:
    with pytest.raises(ValueError, match="not a temperature"):
        mean_kinetic_temperature([(T0, celsius)])


def test_a_naive_reading_time_is_refused() -> None:
    naive = datetime(2026, 11, 29, 0, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="aware"):
        mean_kinetic_temperature([(T0, -20.0), (naive, -20.0)])


@pytest.mark.parametrize(
    ("start", "end", "interval", "low_c", "high_c", "message"),
    [
        (at(60), at(0), MINUTE, -25.0, -18.0, "end after"),
        (datetime(2026, 11, 29), at(60), MINUTE, -25.0, -18.0, "aware"),  # noqa: DTZ001 - the point of the test
        (at(0), at(60), timedelta(0), -25.0, -18.0, "interval"),
        (at(0), at(60), MINUTE, -18.0, -25.0, "band"),
    ],
)
def test_a_window_that_makes_no_sense_is_refused(
    start: datetime, end: datetime, interval: timedelta, low_c: float, high_c: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        summarise([], start=start, end=end, interval=interval, low_c=low_c, high_c=high_c)
