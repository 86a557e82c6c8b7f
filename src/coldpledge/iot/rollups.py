"""Keeping the 1-minute and 1-hour rollups current as readings arrive, inside the ingest transaction.

New readings of a bucket usually come after what the bucket already holds, so its aggregate is
merged with theirs (``timeweight.merge``) without reading raw rows. When late readings fall among
existing ones, the minute is recomputed from its raw readings and the hour is folded again from its
minutes. Faulty readings never enter a rollup.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.iot import bulk, rollups_sql, timeweight
from coldpledge.iot.models import Reading, RollupHour, RollupMinute
from coldpledge.iot.timeweight import TimeWeighted

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Key = tuple[int, int, int]  # device id, metric code, bucket start in ms
Point = tuple[int, int]  # ms, value_u
_KEY = ("device_id", "metric", "bucket")
_FIELDS = ("count", "min_u", "max_u", "sum_u", "area2", "first_ms", "first_u", "last_ms", "last_u")


def to_ms(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def apply(session: Session, readings: Iterable[tuple[int, int, int, int]]) -> int:
    """Fold new (device id, metric, ms, value_u) readings into both rollups."""
    if session.get_bind().dialect.name == "postgresql":
        return _apply_in_postgresql(session, list(readings))
    series: dict[tuple[int, int], list[Point]] = defaultdict(list)
    for device_id, metric, ms, value_u in readings:
        series[(device_id, metric)].append((ms, value_u))
    if not series:
        return 0
    minute_points: dict[Key, list[Point]] = {}
    hour_points: dict[Key, list[Point]] = {}
    for (device_id, metric), points in series.items():
        points.sort()
        for bucket, chunk in timeweight.split_by_bucket(points, MINUTE_MS).items():
            minute_points[(device_id, metric, bucket)] = chunk
        for bucket, chunk in timeweight.split_by_bucket(points, HOUR_MS).items():
            hour_points[(device_id, metric, bucket)] = chunk
    minutes = _update(session, RollupMinute, minute_points, _minute_from_raw)
    hours = _update(session, RollupHour, hour_points, _hour_from_minutes)
    return minutes + hours


def _apply_in_postgresql(session: Session, readings: list[tuple[int, int, int, int]]) -> int:
    if not readings:
        return 0
    rollups_sql.stage_points(session, readings)
    return apply_staged(session)


def prepare_staged_points(session: Session) -> None:
    """PostgreSQL: an empty ``rollup_points`` table for the caller to fill in SQL."""
    rollups_sql.prepare_points(session)


def apply_staged(session: Session) -> int:
    """PostgreSQL: the server aggregates the points in ``rollup_points`` and merges them
    (``rollups_sql``); overlapping buckets are recomputed here, the minutes first, since an hour is
    folded from its minutes. How many buckets were recomputed."""
    touched = 0
    for model, width, recompute in (
        (RollupMinute, MINUTE_MS, _minute_from_raw),
        (RollupHour, HOUR_MS, _hour_from_minutes),
    ):
        overlapping = rollups_sql.merge(session, model.__tablename__, width)
        rows = [_row(key, recompute(session, key)) for key in overlapping]
        bulk.upsert(session, model.__tablename__, (*_KEY, *_FIELDS), rows, _KEY)
        touched += len(overlapping)
    return touched


def _update(session: Session, model: Any, new_points: dict[Key, list[Point]], recompute: Any) -> int:
    existing = _load(session, model, new_points.keys())
    rows: list[tuple[Any, ...]] = []
    for key, points in new_points.items():
        fresh = timeweight.of_points(points)
        old = existing.get(key)
        merged = fresh if old is None else timeweight.merge(old, fresh)
        if merged is None:
            merged = recompute(session, key)
        rows.append(_row(key, merged))
    bulk.upsert(session, model.__tablename__, (*_KEY, *_FIELDS), rows, _KEY)
    return len(rows)


def _load(session: Session, model: Any, keys: Iterable[Key]) -> dict[Key, TimeWeighted]:
    wanted = [(device_id, metric, from_ms(bucket)) for device_id, metric, bucket in keys]
    rows = bulk.fetch_by_keys(
        session,
        model.__tablename__,
        _KEY,
        wanted,
        (*_KEY, *_FIELDS),
    )
    return {
        (device_id, metric, to_ms(bucket)): TimeWeighted(*fields)
        for device_id, metric, bucket, *fields in rows
    }


def _minute_from_raw(session: Session, key: Key) -> TimeWeighted:
    device_id, metric, bucket = key
    rows = session.execute(
        select(Reading.ts, Reading.value_u)
        .where(
            Reading.device_id == device_id,
            Reading.metric == metric,
            Reading.ts >= from_ms(bucket),
            Reading.ts < from_ms(bucket + MINUTE_MS),
            Reading.fault == 0,
        )
        .order_by(Reading.ts)
    )
    return timeweight.of_points([(to_ms(ts), value) for ts, value in rows])


def _hour_from_minutes(session: Session, key: Key) -> TimeWeighted:
    device_id, metric, bucket = key
    rows = session.execute(
        select(*(getattr(RollupMinute, name) for name in _FIELDS))
        .where(
            RollupMinute.device_id == device_id,
            RollupMinute.metric == metric,
            RollupMinute.bucket >= from_ms(bucket),
            RollupMinute.bucket < from_ms(bucket + HOUR_MS),
        )
        .order_by(RollupMinute.bucket)
    )
    folded = timeweight.fold(TimeWeighted(*row) for row in rows)
    assert folded is not None, "the hour's minutes were written just before"
    return folded


def _row(key: Key, agg: TimeWeighted) -> tuple[Any, ...]:
    device_id, metric, bucket = key
    return (device_id, metric, from_ms(bucket), *(getattr(agg, name) for name in _FIELDS))
