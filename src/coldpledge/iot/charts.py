"""A room's telemetry for a chart: every probe of the room in one statement, and, when the caller
says how many points it can draw, rollup buckets merged in the database into wider ones.

A day of minute buckets for a room of ten probes is 14,400 rows; a chart 400 pixels wide draws
400 points a line. Building a row and a model per bucket cost the room page half a second on a
month of data (docs/PERFORMANCE.md); merging in SQL returns the 4,000 the chart can show.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Float, case, cast, func, select
from sqlalchemy.orm import Session

from coldpledge.iot import registry
from coldpledge.iot.models import Device, LatestReading, Reading, RollupHour, RollupMinute
from coldpledge.iot.payload import SCALE, Metric
from coldpledge.iot.queries import FAULTS, MAX_POINTS, Resolution, choose_resolution, metric_named, window_of
from coldpledge.iot.rollups import to_ms
from coldpledge.iot.schemas import BucketOut, PointOut, SeriesOut
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.warehouses.models import Room

SOURCE_WIDTH = {"1m": timedelta(minutes=1), "1h": timedelta(hours=1)}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def merged_width(span: timedelta, source: timedelta, points: int) -> timedelta:
    """The narrowest multiple of the source bucket that covers ``span`` in at most ``points``."""
    per_point = span / points
    multiple = max(1, -(-per_point // source))  # ceiling division of timedeltas
    return source * multiple


def aligned_origin(start: datetime, source: timedelta) -> datetime:
    """``start`` floored to the source bucket, so every source bucket falls in one merged bucket."""
    return start - (start - EPOCH) % source


def room_series(
    session: Session,
    principal: Principal,
    room_id: int,
    *,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    resolution: Resolution | None = None,
    points: int | None = None,
) -> list[SeriesOut]:
    """One series per device of the room that has ever sent ``metric``, in the device code order.

    Raw readings are never merged (raw means every reading). Rollup buckets are merged into wider
    ones when ``points`` is given and the window holds more buckets than that: count, minimum and
    maximum over the merged buckets, and the mean of their time-weighted means (each source bucket
    stands for the same length of time, so this is the time-weighted mean of the wider bucket over
    the time that has readings)."""
    obtain(session, principal, Room, room_id)
    chosen_metric = metric_named(metric)
    window = window_of(start, end, now)
    chosen = resolution or choose_resolution(*window)
    devices = _reporting_devices(session, principal, room_id, chosen_metric)
    out = {
        device.id: SeriesOut(
            device_id=device.id,
            device_code=device.code,
            metric=chosen_metric.name,
            unit=chosen_metric.unit,
            resolution=chosen,
        )
        for device in devices
    }
    if not out:
        return []
    if chosen == "raw":
        _fill_raw(session, out, chosen_metric, window)
    else:
        source = SOURCE_WIDTH[chosen]
        # Measured from the aligned origin, so the window's ragged first bucket counts too.
        span = window[1] - aligned_origin(window[0], source)
        width = merged_width(span, source, points) if points else source
        if width == source:
            _fill_buckets(session, out, chosen_metric, window, chosen)
        else:
            _fill_merged(session, out, chosen_metric, window, chosen, width)
    return list(out.values())


def _reporting_devices(session: Session, principal: Principal, room_id: int, metric: Metric) -> list[Device]:
    devices = registry.list_devices(session, principal, room_id=room_id)
    if not devices:
        return []
    reporting = set(
        session.scalars(
            select(LatestReading.device_id).where(
                LatestReading.device_id.in_([device.id for device in devices]),
                LatestReading.metric == metric.code,
            )
        )
    )
    return [device for device in devices if device.id in reporting]


def _fill_raw(
    session: Session, out: dict[int, SeriesOut], metric: Metric, window: tuple[datetime, datetime]
) -> None:
    start, end = window
    rows = session.execute(
        select(Reading.device_id, Reading.ts, Reading.value_u, Reading.fault)
        .where(
            Reading.device_id.in_(list(out)),
            Reading.metric == metric.code,
            Reading.ts >= start,
            Reading.ts < end,
        )
        .order_by(Reading.device_id, Reading.ts)
        .limit(MAX_POINTS)
    )
    for device_id, ts, value, fault in rows:
        out[device_id].points.append(PointOut(ts=ts, value=value / SCALE, fault=FAULTS.get(fault)))


def _rollup_model(resolution: Resolution) -> Any:
    return RollupMinute if resolution == "1m" else RollupHour


def _fill_buckets(
    session: Session,
    out: dict[int, SeriesOut],
    metric: Metric,
    window: tuple[datetime, datetime],
    resolution: Resolution,
) -> None:
    model = _rollup_model(resolution)
    start, end = window
    rows = session.execute(
        select(
            model.device_id,
            model.bucket,
            model.count,
            model.min_u,
            model.max_u,
            model.sum_u,
            model.area2,
            model.first_ms,
            model.last_ms,
        )
        .where(
            model.device_id.in_(list(out)),
            model.metric == metric.code,
            model.bucket >= start,
            model.bucket < end,
        )
        .order_by(model.device_id, model.bucket)
        .limit(MAX_POINTS)
    )
    for series in out.values():
        series.bucket_seconds = int(SOURCE_WIDTH[resolution].total_seconds())
    for device_id, bucket, count, low, high, total, area2, first_ms, last_ms in rows:
        duration = last_ms - first_ms
        mean = area2 / (2 * duration) if duration > 0 else total / count
        out[device_id].buckets.append(
            BucketOut(bucket=bucket, count=count, min=low / SCALE, max=high / SCALE, mean=mean / SCALE)
        )


def _fill_merged(
    session: Session,
    out: dict[int, SeriesOut],
    metric: Metric,
    window: tuple[datetime, datetime],
    resolution: Resolution,
    width: timedelta,
) -> None:
    model = _rollup_model(resolution)
    start, end = window
    origin_ms = to_ms(aligned_origin(start, SOURCE_WIDTH[resolution]))
    width_ms = int(width.total_seconds() * 1000)
    # A source bucket's first reading lies inside it, and merged buckets are whole multiples of
    # source buckets from an aligned origin: the first reading names the merged bucket, in integer
    # arithmetic both databases do alike (no date functions, which differ).
    index = ((model.first_ms - origin_ms) // width_ms).label("index")
    duration = model.last_ms - model.first_ms
    mean = case(
        (duration > 0, cast(model.area2, Float) / (2 * duration)),
        else_=cast(model.sum_u, Float) / model.count,
    )
    rows = session.execute(
        select(
            model.device_id,
            index,
            func.sum(model.count),
            func.min(model.min_u),
            func.max(model.max_u),
            func.avg(mean),
        )
        .where(
            model.device_id.in_(list(out)),
            model.metric == metric.code,
            model.bucket >= start,
            model.bucket < end,
        )
        .group_by(model.device_id, index)
        .order_by(model.device_id, index)
    )
    origin = aligned_origin(start, SOURCE_WIDTH[resolution])
    for device_id, number, count, low, high, average in rows:
        out[device_id].buckets.append(
            BucketOut(
                bucket=origin + width * int(number),
                count=int(count),
                min=low / SCALE,
                max=high / SCALE,
                mean=float(average) / SCALE,
            )
        )
    for series in out.values():
        series.bucket_seconds = int(width.total_seconds())
