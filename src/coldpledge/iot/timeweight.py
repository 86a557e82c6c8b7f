"""A mergeable time-weighted aggregate of one telemetry series, for rollups (DESIGN §4).

Pure: no I/O. Values are exact integers in millionths of the unit (``value_u``) and times are
integer milliseconds since the Unix epoch (``ms``), so every field is an exact integer and two
aggregates built from the same points are equal, whichever way they were put together.

The integral is the trapezoidal rule between consecutive readings, kept doubled (``area2``) so it
stays an integer. An aggregate of one bucket integrates only between the points inside that bucket:
nothing is interpolated across the bucket's edges, as TimescaleDB's ``time_weight`` does without its
``interpolate`` option. The segment across an edge is not lost, though: ``merge`` bridges the gap
between two disjoint aggregates with the trapezoid from the last point of the earlier one to the
first point of the later one, so folding the minute rollups of an hour gives exactly the aggregate
of the hour's raw points.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class TimeWeighted:
    count: int
    min_u: int
    max_u: int
    sum_u: int
    area2: int  # twice the trapezoidal integral of value over time, in value_u·ms
    first_ms: int
    first_u: int
    last_ms: int
    last_u: int

    @property
    def duration_ms(self) -> int:
        return self.last_ms - self.first_ms

    @property
    def mean_u(self) -> float:
        """The time-weighted mean; a single point has no duration, so it falls back to the plain mean."""
        if self.duration_ms > 0:
            return self.area2 / (2 * self.duration_ms)
        return self.plain_mean_u

    @property
    def plain_mean_u(self) -> float:
        return self.sum_u / self.count


def of_points(points: Sequence[tuple[int, int]]) -> TimeWeighted:
    """The aggregate of ``(ms, value_u)`` points in strictly increasing time."""
    if not points:
        raise ValueError("an aggregate needs at least one point")
    _check_increasing(points)
    values = [value for _, value in points]
    area2 = sum((v0 + v1) * (t1 - t0) for (t0, v0), (t1, v1) in pairwise(points))
    return TimeWeighted(
        count=len(points),
        min_u=min(values),
        max_u=max(values),
        sum_u=sum(values),
        area2=area2,
        first_ms=points[0][0],
        first_u=points[0][1],
        last_ms=points[-1][0],
        last_u=points[-1][1],
    )


def merge(a: TimeWeighted, b: TimeWeighted) -> TimeWeighted | None:
    """The aggregate of two disjoint spans, in either order, or None when the spans overlap or touch.

    Overlapping aggregates cannot be combined without their points (the trapezoids would
    interleave), so the caller recomputes from the raw readings instead.
    """
    if a.last_ms < b.first_ms:
        earlier, later = a, b
    elif b.last_ms < a.first_ms:
        earlier, later = b, a
    else:
        return None
    bridge2 = (earlier.last_u + later.first_u) * (later.first_ms - earlier.last_ms)
    return TimeWeighted(
        count=earlier.count + later.count,
        min_u=min(earlier.min_u, later.min_u),
        max_u=max(earlier.max_u, later.max_u),
        sum_u=earlier.sum_u + later.sum_u,
        area2=earlier.area2 + bridge2 + later.area2,
        first_ms=earlier.first_ms,
        first_u=earlier.first_u,
        last_ms=later.last_ms,
        last_u=later.last_u,
    )


def fold(aggs: Iterable[TimeWeighted]) -> TimeWeighted | None:
    """The aggregate of mutually disjoint aggregates (say the minute rollups of an hour); None if empty.

    They are put in time order first: merged out of order, an earlier result would span a later
    piece's gap and refuse it.
    """
    ordered = sorted(aggs, key=lambda agg: agg.first_ms)
    if not ordered:
        return None
    total = ordered[0]
    for agg in ordered[1:]:
        merged = merge(total, agg)
        if merged is None:
            raise ValueError(
                f"aggregates overlap: one ends at {total.last_ms} ms, the next starts at {agg.first_ms} ms"
            )
        total = merged
    return total


def bucket_start(ms: int, width_ms: int) -> int:
    """The start of the bucket holding ``ms``; floors towards minus infinity, before 1970 too."""
    if width_ms <= 0:
        raise ValueError(f"a bucket must be wider than 0 ms, not {width_ms}")
    return ms - ms % width_ms


def split_by_bucket(points: Sequence[tuple[int, int]], width_ms: int) -> dict[int, list[tuple[int, int]]]:
    """Points in strictly increasing time, grouped by bucket start; buckets and points stay in order."""
    _check_increasing(points)
    buckets: dict[int, list[tuple[int, int]]] = {}
    for point in points:
        buckets.setdefault(bucket_start(point[0], width_ms), []).append(point)
    return buckets


def _check_increasing(points: Sequence[tuple[int, int]]) -> None:
    for (t0, _), (t1, _) in pairwise(points):
        if t1 <= t0:
            raise ValueError(f"points must be in strictly increasing time: {t1} ms follows {t0} ms")
