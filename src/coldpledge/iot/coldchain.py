"""Cold-chain metrics of one temperature series over a window (DESIGN §4).

Pure: no I/O. Readings are ``(time, °C)`` pairs with timezone-aware times; between two consecutive
readings the temperature is taken to change linearly, but only when they are at most ``max_gap``
apart (three sampling intervals unless told otherwise). A longer silence is a gap: nothing is
assumed about it, it is not integrated, and it shows in ``gap_seconds``.

Window edges. Readings are counted on the half-open window ``[start, end)``, so adjacent windows
count each reading once. Time-based metrics are integrated over ``[start, end]`` with the segments
that cross an edge clipped there: the temperature at the edge is interpolated between the readings
on either side, provided they are no further apart than ``max_gap``. So a window shorter than the
sampling interval can still have a temperature, though it holds no reading.

Mean kinetic temperature follows USP <1079> (Haynes): the Arrhenius-weighted average temperature,
with the integral taken by the trapezoidal rule over time, so unequally spaced readings weigh by
the time they stand for rather than by their number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TypeAlias

DELTA_H_J_PER_MOL = 83_144.0  # activation energy USP <1079> assumes when none is known
GAS_CONSTANT = 8.3144  # J/(mol·K)
ZERO_CELSIUS_K = 273.15
MAX_GAP_INTERVALS = 3  # the default max_gap, in sampling intervals

Reading: TypeAlias = tuple[datetime, float]


@dataclass(frozen=True, slots=True)
class ColdChainSummary:
    """What one window of one series shows. The temperature fields are None when the window has no
    temperature at all: no reading in it and no covered segment across it."""

    readings: int
    expected_readings: int
    # Received over expected, capped at 1.0; a window shorter than the interval expects nothing and
    # so misses nothing, hence 1.0.
    completeness: float
    covered_seconds: float
    gap_seconds: float
    longest_gap_seconds: float
    out_of_band_seconds: float | None
    degree_minutes_above: float | None
    mkt_c: float | None
    min_c: float | None
    max_c: float | None
    mean_c: float | None


@dataclass(frozen=True, slots=True)
class _Segment:
    """A covered stretch between two readings, in seconds from the window start."""

    t0: float
    c0: float
    t1: float
    c1: float

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    def seconds_above(self, limit_c: float) -> float:
        low, high = sorted((self.c0, self.c1))
        if high <= limit_c:
            return 0.0
        if low >= limit_c:
            return self.seconds
        # Multiplying before dividing keeps round crossings (a ramp of whole degrees) exact.
        return self.seconds * (high - limit_c) / (high - low)

    def seconds_below(self, limit_c: float) -> float:
        low, high = sorted((self.c0, self.c1))
        if low >= limit_c:
            return 0.0
        if high <= limit_c:
            return self.seconds
        return self.seconds * (limit_c - low) / (high - low)

    def degree_seconds_above(self, limit_c: float) -> float:
        low, high = sorted((self.c0, self.c1))
        if low >= limit_c:
            return self.seconds * ((self.c0 + self.c1) / 2 - limit_c)
        # A segment that crosses the limit is above it for a triangle only.
        return self.seconds_above(limit_c) * (high - limit_c) / 2


def mean_kinetic_temperature(points: Sequence[Reading], *, max_gap: timedelta | None = None) -> float | None:
    """The MKT in °C of a series, or None without readings.

    Segments longer than ``max_gap`` are left out (all are integrated when it is None). Without any
    covered time, as with a single reading, each reading weighs the same: the classic formula for
    equally spaced readings, which gives a lone reading back.
    """
    series = _prepared(points)
    if not series:
        return None
    mean_factor = _time_average(_arrhenius, series, _segments(series, series[0][0], max_gap))
    return DELTA_H_J_PER_MOL / GAS_CONSTANT / -math.log(mean_factor) - ZERO_CELSIUS_K


def summarise(
    points: Sequence[Reading],
    *,
    start: datetime,
    end: datetime,
    interval: timedelta,
    low_c: float,
    high_c: float,
    limit_c: float | None = None,
    max_gap: timedelta | None = None,
) -> ColdChainSummary:
    """The cold-chain metrics of ``points`` over ``[start, end]`` (see the module docstring).

    ``interval`` is the sampling interval the sensor promises; ``low_c`` and ``high_c`` bound the
    storage band; ``limit_c`` (the band's top by default) is the line above which degree-minutes
    accrue.
    """
    for name, moment in (("start", start), ("end", end)):
        if not _is_aware(moment):
            raise ValueError(f"the window {name} must be timezone-aware")
    if end <= start:
        raise ValueError("the window must end after it starts")
    if interval <= timedelta(0):
        raise ValueError("the sampling interval must be positive")
    if low_c > high_c:
        raise ValueError(f"the band's low {low_c} °C is above its high {high_c} °C")
    if max_gap is None:
        max_gap = MAX_GAP_INTERVALS * interval
    if max_gap <= timedelta(0):
        raise ValueError("the longest gap to interpolate across must be positive")
    limit = high_c if limit_c is None else limit_c

    series = _prepared(points)
    readings = sum(1 for moment, _ in series if start <= moment < end)
    expected = (end - start) // interval
    completeness = 1.0 if expected == 0 else min(1.0, readings / expected)

    window = _clipped(series, start, end, max_gap)
    segments = _segments(window, start, max_gap)
    window_seconds = (end - start).total_seconds()
    covered = sum(segment.seconds for segment in segments)
    longest_gap, reached = 0.0, 0.0
    for segment in segments:
        longest_gap = max(longest_gap, segment.t0 - reached)
        reached = segment.t1
    longest_gap = max(longest_gap, window_seconds - reached)
    temperatures = [celsius for _, celsius in window]
    return ColdChainSummary(
        readings=readings,
        expected_readings=expected,
        completeness=completeness,
        covered_seconds=covered,
        gap_seconds=window_seconds - covered,
        longest_gap_seconds=longest_gap,
        out_of_band_seconds=(
            sum(s.seconds_above(high_c) + s.seconds_below(low_c) for s in segments) if window else None
        ),
        degree_minutes_above=sum(s.degree_seconds_above(limit) for s in segments) / 60 if window else None,
        mkt_c=mean_kinetic_temperature(window, max_gap=max_gap),
        min_c=min(temperatures, default=None),
        max_c=max(temperatures, default=None),
        mean_c=_time_average(lambda celsius: celsius, window, segments) if window else None,
    )


def _prepared(points: Sequence[Reading]) -> list[Reading]:
    """The readings in time order, a reading delivered twice kept once.

    Two different temperatures at the same instant cannot both be true, so they are refused rather
    than one picked.
    """
    for moment, celsius in points:
        # Checked before sorting, which cannot compare naive with aware times.
        if not _is_aware(moment):
            raise ValueError(f"reading time {moment.isoformat()} must be timezone-aware")
        if not math.isfinite(celsius) or celsius <= -ZERO_CELSIUS_K:
            raise ValueError(f"{celsius} °C at {moment.isoformat()} is not a temperature")
    series: list[Reading] = []
    for moment, celsius in sorted(points, key=lambda point: point[0]):
        if series and series[-1][0] == moment:
            if series[-1][1] != celsius:
                raise ValueError(f"two readings at {moment.isoformat()}: {series[-1][1]} and {celsius} °C")
            continue
        series.append((moment, celsius))
    return series


def _clipped(series: list[Reading], start: datetime, end: datetime, max_gap: timedelta) -> list[Reading]:
    """The readings in ``[start, end)`` with the interpolated temperature at each edge that a covered
    segment crosses (or, at ``end``, reaches)."""
    head: list[Reading] = []
    tail: list[Reading] = []
    for (t0, c0), (t1, c1) in pairwise(series):
        if t1 - t0 > max_gap:
            continue
        if t0 < start < t1:
            head = [(start, _interpolate(t0, c0, t1, c1, start))]
        if t0 < end <= t1:
            tail = [(end, _interpolate(t0, c0, t1, c1, end))]
    inside = [(moment, celsius) for moment, celsius in series if start <= moment < end]
    return head + inside + tail


def _interpolate(t0: datetime, c0: float, t1: datetime, c1: float, at: datetime) -> float:
    fraction = (at - t0) / (t1 - t0)
    # This form gives c0 and c1 back exactly at the segment's ends.
    return c0 * (1 - fraction) + c1 * fraction


def _segments(series: list[Reading], origin: datetime, max_gap: timedelta | None) -> list[_Segment]:
    second = timedelta(seconds=1)
    return [
        _Segment((t0 - origin) / second, c0, (t1 - origin) / second, c1)
        for (t0, c0), (t1, c1) in pairwise(series)
        if max_gap is None or t1 - t0 <= max_gap
    ]


def _time_average(of: Callable[[float], float], series: list[Reading], segments: list[_Segment]) -> float:
    """The time average of ``of(temperature)`` over the covered segments by the trapezoidal rule, or,
    with no covered time, its average over the readings, each weighing the same."""
    covered = sum(segment.seconds for segment in segments)
    if covered > 0:
        return sum((of(s.c0) + of(s.c1)) / 2 * s.seconds for s in segments) / covered
    return sum(of(celsius) for _, celsius in series) / len(series)


def _arrhenius(celsius: float) -> float:
    return math.exp(-DELTA_H_J_PER_MOL / (GAS_CONSTANT * (celsius + ZERO_CELSIUS_K)))


def _is_aware(moment: datetime) -> bool:
    return moment.utcoffset() is not None
