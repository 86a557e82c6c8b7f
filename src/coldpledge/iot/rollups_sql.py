"""The rollups on PostgreSQL, computed by the server from the new readings.

The same algebra as ``timeweight`` (count, min, max, sum, twice the trapezoid area, first and last
point), written in SQL: the new points go in by binary COPY, PostgreSQL aggregates them per bucket
and merges each aggregate into the stored one when the two do not overlap in time. Buckets where
late readings fall among stored ones are few; they are recomputed by ``rollups`` exactly as on
SQLite. This moves the per-reading work off the ingest worker's Python thread onto the database
server's own core.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from coldpledge.iot import bulk

Key = tuple[int, int, int]

# One statement per rollup table: aggregate the staged points per bucket (one sort: the first and
# last values come from the same window as the trapezoids), merge each aggregate into the stored
# one where the two do not overlap in time, and return the buckets where they do, which the merge
# left alone (no row comes back from ``merged`` for them).
_MERGE = """
WITH agg AS (
    SELECT device_id, metric, bucket_ms, count(*) AS count, min(value_u) AS min_u, max(value_u) AS max_u,
           sum(value_u) AS sum_u, coalesce(sum((previous_u + value_u) * (ms - previous_ms)), 0) AS area2,
           min(ms) AS first_ms, min(first_u) AS first_u, max(ms) AS last_ms, min(last_u) AS last_u
    FROM (
        SELECT device_id, metric, ms, value_u, bucket_ms,
               lag(ms) OVER w AS previous_ms, lag(value_u) OVER w AS previous_u,
               first_value(value_u) OVER w AS first_u,
               last_value(value_u) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_u
        FROM (SELECT *, ms - ((ms % {width}) + {width}) % {width} AS bucket_ms FROM rollup_points) p
        WINDOW w AS (PARTITION BY device_id, metric, bucket_ms ORDER BY ms)
    ) s
    GROUP BY device_id, metric, bucket_ms
), merged AS (
    INSERT INTO {table} AS r (device_id, metric, bucket, count, min_u, max_u, sum_u, area2,
                              first_ms, first_u, last_ms, last_u)
    SELECT device_id, metric, to_timestamp(bucket_ms / 1000.0), count, min_u, max_u, sum_u, area2,
           first_ms, first_u, last_ms, last_u
    FROM agg
    ON CONFLICT (device_id, metric, bucket) DO UPDATE SET
        count = r.count + excluded.count,
        min_u = least(r.min_u, excluded.min_u),
        max_u = greatest(r.max_u, excluded.max_u),
        sum_u = r.sum_u + excluded.sum_u,
        area2 = r.area2 + excluded.area2 + CASE
            WHEN excluded.first_ms > r.last_ms
            THEN (r.last_u + excluded.first_u) * (excluded.first_ms - r.last_ms)
            ELSE (excluded.last_u + r.first_u) * (r.first_ms - excluded.last_ms)
        END,
        first_u = CASE WHEN excluded.first_ms < r.first_ms THEN excluded.first_u ELSE r.first_u END,
        first_ms = least(r.first_ms, excluded.first_ms),
        last_u = CASE WHEN excluded.last_ms > r.last_ms THEN excluded.last_u ELSE r.last_u END,
        last_ms = greatest(r.last_ms, excluded.last_ms)
    WHERE excluded.first_ms > r.last_ms OR excluded.last_ms < r.first_ms
    RETURNING r.device_id, r.metric, r.bucket
)
SELECT a.device_id, a.metric, a.bucket_ms FROM agg a
LEFT JOIN merged m
       ON m.device_id = a.device_id AND m.metric = a.metric AND m.bucket = to_timestamp(a.bucket_ms / 1000.0)
WHERE m.device_id IS NULL
"""


def prepare_points(session: Session) -> None:
    """An empty ``rollup_points`` table for this transaction's new points."""
    _dialect, raw = bulk.driver(session)
    with raw.cursor() as cursor:
        bulk.temp_table(cursor, "rollup_points", "(device_id int4, metric int2, ms int8, value_u int8)")


def stage_points(session: Session, points: Sequence[tuple[int, int, int, int]]) -> None:
    """Put the new (device id, metric, ms, value_u) points where the statements below read them."""
    prepare_points(session)
    _dialect, raw = bulk.driver(session)
    with raw.cursor() as cursor:
        bulk.copy_rows(cursor, "rollup_points", ("device_id", "metric", "ms", "value_u"), points)


def merge(session: Session, table: str, width_ms: int) -> list[Key]:
    """Fold the staged points into ``table`` (buckets ``width_ms`` wide); the keys of the buckets
    where they overlap stored points, which the caller recomputes."""
    _dialect, raw = bulk.driver(session)
    with raw.cursor() as cursor:
        cursor.execute(_MERGE.format(table=table, width=int(width_ms)))
        overlapping: list[Any] = cursor.fetchall()
    return [(int(device_id), int(metric), int(bucket)) for device_id, metric, bucket in overlapping]
