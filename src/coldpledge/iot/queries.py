"""Reading telemetry back: series at the right resolution, latest values, device health, cold-chain
metrics of a room, dead letters. Every query goes through the caller's scope first."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.errors import N_, InvalidInput
from coldpledge.iot import coldchain
from coldpledge.iot.models import (
    DeadLetter,
    Device,
    DeviceStatus,
    LatestReading,
    Reading,
    RollupHour,
    RollupMinute,
)
from coldpledge.iot.payload import METRICS, METRICS_BY_CODE, SCALE, Metric
from coldpledge.iot.schemas import BucketOut, ColdChainOut, HealthOut, LatestOut, PointOut, SeriesOut
from coldpledge.parties.access import obtain, restrict
from coldpledge.parties.policy import Principal
from coldpledge.warehouses.models import Room

Resolution = Literal["raw", "1m", "1h"]
# Up to six hours a chart shows every reading; up to a week, minutes; beyond, hours.
RAW_UP_TO = timedelta(hours=6)
MINUTES_UP_TO = timedelta(days=7)
MAX_WINDOW = timedelta(days=400)
MAX_POINTS = 100_000
FAULTS = {0: None, 1: "sentinel_value", 2: "out_of_physical_range"}


def choose_resolution(start: datetime, end: datetime) -> Resolution:
    span = end - start
    if span <= RAW_UP_TO:
        return "raw"
    return "1m" if span <= MINUTES_UP_TO else "1h"


def window_of(start: datetime | None, end: datetime | None, now: datetime) -> tuple[datetime, datetime]:
    end = end or now
    start = start or end - timedelta(hours=24)
    for name, value in (("from", start), ("to", end)):
        if value.tzinfo is None:
            raise InvalidInput(
                N_("Times must carry a time zone, such as 2026-11-29T08:00:00+08:00."), field=name
            )
    if start >= end:
        raise InvalidInput(N_("from must be before to."), field="from")
    if end - start > MAX_WINDOW:
        raise InvalidInput(N_("A window may span at most 400 days."), field="from")
    return start, end


def metric_named(name: str) -> Metric:
    metric = METRICS.get(name)
    if metric is None:
        raise InvalidInput(N_("Unknown metric {metric}."), field="metric", metric=name)
    return metric


def series(
    session: Session,
    principal: Principal,
    device_id: int,
    *,
    metric: str,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    resolution: Resolution | None = None,
) -> SeriesOut:
    device = obtain(session, principal, Device, device_id)
    return device_series(
        session, device, metric=metric_named(metric), window=window_of(start, end, now), resolution=resolution
    )


def device_series(
    session: Session,
    device: Device,
    *,
    metric: Metric,
    window: tuple[datetime, datetime],
    resolution: Resolution | None = None,
) -> SeriesOut:
    start, end = window
    chosen = resolution or choose_resolution(start, end)
    out = SeriesOut(
        device_id=device.id, device_code=device.code, metric=metric.name, unit=metric.unit, resolution=chosen
    )
    if chosen == "raw":
        rows = session.execute(
            select(Reading.ts, Reading.value_u, Reading.fault)
            .where(
                Reading.device_id == device.id,
                Reading.metric == metric.code,
                Reading.ts >= start,
                Reading.ts < end,
            )
            .order_by(Reading.ts)
            .limit(MAX_POINTS)
        )
        out.points = [
            PointOut(ts=ts, value=value / SCALE, fault=FAULTS.get(fault)) for ts, value, fault in rows
        ]
        return out
    model = RollupMinute if chosen == "1m" else RollupHour
    out.bucket_seconds = 60 if chosen == "1m" else 3_600
    rollups = session.execute(
        select(
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
            model.device_id == device.id,
            model.metric == metric.code,
            model.bucket >= start,
            model.bucket < end,
        )
        .order_by(model.bucket)
        .limit(MAX_POINTS)
    )
    for bucket, count, low, high, total, area2, first_ms, last_ms in rollups:
        duration = last_ms - first_ms
        mean = area2 / (2 * duration) if duration > 0 else total / count
        out.buckets.append(
            BucketOut(bucket=bucket, count=count, min=low / SCALE, max=high / SCALE, mean=mean / SCALE)
        )
    return out


def reports(session: Session, device_id: int, metric: str) -> bool:
    """Whether the device has ever sent this metric (a door contact has no temperature series)."""
    code = metric_named(metric).code
    found = session.scalar(
        select(LatestReading.device_id).where(
            LatestReading.device_id == device_id, LatestReading.metric == code
        )
    )
    return found is not None


def latest(session: Session, principal: Principal, device_id: int) -> list[LatestOut]:
    device = obtain(session, principal, Device, device_id)
    rows = session.scalars(
        select(LatestReading).where(LatestReading.device_id == device.id).order_by(LatestReading.metric)
    )
    return [
        LatestOut(
            metric=METRICS_BY_CODE[row.metric].name,
            unit=METRICS_BY_CODE[row.metric].unit,
            ts=row.ts,
            value=row.value_u / SCALE,
            fault=FAULTS.get(row.fault),
        )
        for row in rows
        if row.metric in METRICS_BY_CODE
    ]


def health(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    offline_intervals: int,
    room_id: int | None = None,
) -> list[HealthOut]:
    """Every visible active device: online or not, silence, battery, signal, clock skew, backlog,
    calibration. A device is offline when nothing came for ``offline_intervals`` sampling intervals."""
    if room_id is not None:
        obtain(session, principal, Room, room_id)
    devices = active_devices(session, principal, room_id=room_id)
    values = latest_values(session, [device.id for device in devices], HEALTH_METRICS)
    return [health_of(device, values, now=now, offline_intervals=offline_intervals) for device in devices]


HEALTH_METRICS = ("battery", "signal", "backlog")


def active_devices(session: Session, principal: Principal, *, room_id: int | None = None) -> list[Device]:
    query = (
        restrict(principal, "view", Device).where(Device.status == DeviceStatus.ACTIVE).order_by(Device.code)
    )
    if room_id is not None:
        query = query.where(Device.room_id == room_id)
    return list(session.scalars(query))


def latest_values(
    session: Session,
    device_ids: list[int],
    metrics: tuple[str, ...],
    *,
    sound_only: frozenset[str] = frozenset(),
    times: dict[tuple[int, str], datetime] | None = None,
) -> dict[tuple[int, str], float]:
    """The newest value of each of ``metrics`` per device, in 2,000-id chunks (under every
    database's parameter limit); for the metrics in ``sound_only`` a faulty newest value is left
    out rather than shown as if it were true (a probe's 85.0 power-on sentinel). ``times``, when
    given, receives each value's reading time."""
    wanted = {METRICS[name].code: name for name in metrics}
    values: dict[tuple[int, str], float] = {}
    columns = (LatestReading.device_id, LatestReading.metric, LatestReading.value_u, LatestReading.fault)
    for start in range(0, len(device_ids), 2_000):
        for device_id, metric, value_u, fault, ts in session.execute(
            select(*columns, LatestReading.ts).where(
                LatestReading.device_id.in_(device_ids[start : start + 2_000]),
                LatestReading.metric.in_(list(wanted)),
            )
        ):
            name = wanted[metric]
            if fault and name in sound_only:
                continue
            values[(device_id, name)] = value_u / SCALE
            if times is not None:
                times[(device_id, name)] = ts
    return values


def is_online(device: Device, *, now: datetime, offline_intervals: int) -> bool:
    silent = (now - device.last_seen_at).total_seconds() if device.last_seen_at else None
    return silent is not None and silent <= offline_intervals * device.sampling_interval_s


def health_of(
    device: Device, values: dict[tuple[int, str], float], *, now: datetime, offline_intervals: int
) -> HealthOut:
    backlog = values.get((device.id, "backlog"))
    return HealthOut(
        device_id=device.id,
        code=device.code,
        kind=device.kind,
        room_id=device.room_id,
        status=device.status,
        online=is_online(device, now=now, offline_intervals=offline_intervals),
        last_seen_at=device.last_seen_at,
        silent_seconds=(now - device.last_seen_at).total_seconds() if device.last_seen_at else None,
        battery_pct=values.get((device.id, "battery")),
        signal_dbm=values.get((device.id, "signal")),
        clock_skew_ms=device.clock_skew_ms,
        backlog=int(backlog) if backlog is not None else None,
        calibration_due=device.calibration_due,
        calibration_overdue=device.calibration_due is not None and device.calibration_due < now.date(),
    )


def room_cold_chain(
    session: Session,
    principal: Principal,
    room_id: int,
    *,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
) -> ColdChainOut:
    """Cold-chain metrics of every temperature probe of a room; the room's figures are its worst
    probe's (longest out of band, most degree-minutes, highest MKT, least complete), since one
    warm corner is enough to spoil goods."""
    room = obtain(session, principal, Room, room_id)
    start, end = window_of(start, end, now)
    metric = METRICS["temperature"].code
    probes = list(
        session.scalars(
            select(Device)
            .where(Device.room_id == room.id)
            .where(
                select(Reading.device_id)
                .where(Reading.device_id == Device.id, Reading.metric == metric)
                .exists()
            )
            .order_by(Device.code)
        )
    )
    low_c, high_c = room.band_low_mc / 1000, room.band_high_mc / 1000
    summaries = []
    for probe in probes:
        points = _temperature_points(session, probe, metric, start, end)
        summary = coldchain.summarise(
            points,
            start=start,
            end=end,
            interval=timedelta(seconds=probe.sampling_interval_s),
            low_c=low_c,
            high_c=high_c,
        )
        summaries.append((probe, summary))
    per_device = [{"device_id": p.id, "code": p.code, **asdict(s)} for p, s in summaries]
    readings = sum(s.readings for _, s in summaries)
    expected = sum(s.expected_readings for _, s in summaries)

    def worst(name: str, lowest: bool = False) -> float | None:
        found: list[float] = [getattr(s, name) for _, s in summaries if getattr(s, name) is not None]
        if not found:
            return None
        return min(found) if lowest else max(found)

    out_of_band = worst("out_of_band_seconds")
    return ColdChainOut(
        room_id=room.id,
        start=start,
        end=end,
        band_low_c=low_c,
        band_high_c=high_c,
        devices=[p.code for p, _ in summaries],
        readings=readings,
        expected_readings=expected,
        completeness=min(1.0, readings / expected) if expected else 1.0,
        covered_seconds=worst("covered_seconds", lowest=True) or 0.0,
        gap_seconds=worst("gap_seconds") or 0.0,
        longest_gap_seconds=worst("longest_gap_seconds") or 0.0,
        out_of_band_seconds=out_of_band,
        out_of_band_minutes=None if out_of_band is None else out_of_band / 60,
        degree_minutes_above=worst("degree_minutes_above"),
        mkt_c=worst("mkt_c"),
        min_c=worst("min_c", lowest=True),
        max_c=worst("max_c"),
        mean_c=worst("mean_c"),
        per_device=per_device,
    )


def _temperature_points(
    session: Session, probe: Device, metric: int, start: datetime, end: datetime
) -> list[tuple[datetime, float]]:
    """Good readings in the window, plus the last one before and the first one after it, so the
    window's edges can be interpolated."""
    base = select(Reading.ts, Reading.value_u).where(
        Reading.device_id == probe.id, Reading.metric == metric, Reading.fault == 0
    )
    inside = session.execute(base.where(Reading.ts >= start, Reading.ts <= end).order_by(Reading.ts)).all()
    before = session.execute(base.where(Reading.ts < start).order_by(Reading.ts.desc()).limit(1)).all()
    after = session.execute(base.where(Reading.ts > end).order_by(Reading.ts).limit(1)).all()
    return [(ts, value / SCALE) for ts, value in [*before, *inside, *after]]


def dead_letters(
    session: Session,
    principal: Principal,
    *,
    reason: str | None,
    device: str | None,
    limit: int,
    before_id: int | None,
) -> list[DeadLetter]:
    query = restrict(principal, "view", DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
    if reason:
        query = query.where(DeadLetter.reason == reason)
    if device:
        query = query.where(DeadLetter.device_code == device)
    if before_id:
        query = query.where(DeadLetter.id < before_id)
    return list(session.scalars(query))
