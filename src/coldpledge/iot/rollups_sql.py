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

_AGGREGATE = """
INSERT INTO {agg} (device_id, metric, bucket_ms, count, min_u, max_u, sum_u, area2,
                   first_ms, first_u, last_ms, last_u)
SELECT device_id, metric, bucket_ms, count(*), min(value_u), max(value_u), sum(value_u),
       coalesce(sum((previous_u + value_u) * (ms - previous_ms)), 0),
       min(ms), (array_agg(value_u ORDER BY ms))[1], max(ms), (array_agg(value_u ORDER BY ms DESC))[1]
FROM (
    SELECT device_id, metric, ms, value_u, bucket_ms,
           lag(ms) OVER w AS previous_ms, lag(value_u) OVER w AS previous_u
    FROM (SELECT *, ms - ((ms % {width}) + {width}) % {width} AS bucket_ms FROM rollup_points) p
    WINDOW w AS (PARTITION BY device_id, metric, bucket_ms ORDER BY ms)
) s
GROUP BY device_id, metric, bucket_ms
"""

_OVERLAPPING = """
SELECT a.device_id, a.metric, a.bucket_ms FROM {agg} a
JOIN {table} r ON r.device_id = a.device_id AND r.metric = a.metric
              AND r.bucket = to_timestamp(a.bucket_ms / 1000.0)
WHERE NOT (a.first_ms > r.last_ms OR a.last_ms < r.first_ms)
"""

_MERGE = """
INSERT INTO {table} AS r (device_id, metric, bucket, count, min_u, max_u, sum_u, area2,
                          first_ms, first_u, last_ms, last_u)
SELECT device_id, metric, to_timestamp(bucket_ms / 1000.0), count, min_u, max_u, sum_u, area2,
       first_ms, first_u, last_ms, last_u
FROM {agg}
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
"""


def stage_points(session: Session, points: Sequence[tuple[int, int, int, int]]) -> None:
    """Put the new (device id, metric, ms, value_u) points where the statements below read them."""
    _dialect, raw = bulk.driver(session)
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS rollup_points "
            "(device_id int4, metric int2, ms int8, value_u int8) ON COMMIT DELETE ROWS"
        )
        cursor.execute("TRUNCATE rollup_points")
        bulk.copy_rows(cursor, "rollup_points", ("device_id", "metric", "ms", "value_u"), points)


def merge(session: Session, table: str, width_ms: int) -> list[Key]:
    """Fold the staged points into ``table`` (buckets ``width_ms`` wide); the keys of the buckets
    where they overlap stored points, which the caller recomputes."""
    agg = f"rollup_agg_{width_ms}"
    _dialect, raw = bulk.driver(session)
    with raw.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {agg} (device_id int4, metric int2, bucket_ms int8, "
            "count int4, min_u int8, max_u int8, sum_u int8, area2 int8, first_ms int8, first_u int8, "
            "last_ms int8, last_u int8) ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {agg}")
        cursor.execute(_AGGREGATE.format(agg=agg, width=int(width_ms)))
        cursor.execute(_OVERLAPPING.format(agg=agg, table=table))
        overlapping: list[Any] = cursor.fetchall()
        cursor.execute(_MERGE.format(agg=agg, table=table))
    return [(int(device_id), int(metric), int(bucket)) for device_id, metric, bucket in overlapping]
