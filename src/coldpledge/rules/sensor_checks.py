"""The scheduler's checks on sensors: cumulative excursion and MKT over 24 h (minute rollups),
stuck probes, doors left open that send nothing more."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from coldpledge.alerts.lifecycle import LIVE_ALERT
from coldpledge.alerts.models import Alert
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.states import load_states, save_states
from coldpledge.iot.coldchain import DELTA_H_J_PER_MOL, GAS_CONSTANT, ZERO_CELSIUS_K
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus, LatestReading, Reading, RollupMinute
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import (
    Condition,
    Transition,
    from_ms,
    to_ms,
)
from coldpledge.rules.judging import (
    DOOR,
    DOOR_LOOKBACK,
    DOOR_SCHEDULER_STATE,
    EXCURSION_WINDOW,
    TEMPERATURE,
    UNIT,
    Judged,
    active_devices,
    chunks,
)
from coldpledge.rules.periodic import (
    evaluate_door_left_open,
    evaluate_excursion_minutes,
    evaluate_mkt_value,
    evaluate_stuck,
    mkt_from_arrhenius_mean,
)
from coldpledge.rules.service import lock_rooms, room_settings
from coldpledge.uow import UnitOfWork


def judge_temperature_windows(uow: UnitOfWork) -> dict[str, int]:
    """Cumulative excursion (minutes outside the warning band in 24 h) and MKT over the policy's
    window, per temperature probe, from the minute rollups.

    The rollups, not the raw readings: a minute bucket is one row whatever the sampling rate, and
    the sums are taken by the database, one row back per probe. A minute counts as out of band when
    its time-weighted mean is (exact in integers), and stands for max(1 min, the sampling interval)
    so a slow probe's minutes are not undercounted: the error is at most a minute per crossing of
    the line. The MKT averages exp(-ΔH/RT) of each minute's time-weighted mean, each minute with
    data weighing the same; inside a minute a cold room moves too little for the curvature of the
    Arrhenius factor to matter (0.08 K for a spread of ±1 K).
    """
    with uow:
        session = uow.session
        now = uow.now()
        devices = active_devices(session, DeviceKind.TEMPERATURE)
        rooms = sorted({room for _, room, _ in devices})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        refs = {device: f"device:{device}" for device, _, _ in devices}
        judged = Judged(
            uow,
            [
                (rule.value, ref)
                for ref in refs.values()
                for rule in (RuleCode.CUMULATIVE_EXCURSION, RuleCode.MKT_WINDOW)
            ],
        )
        groups: dict[tuple[int | None, int | None, int], list[int]] = defaultdict(list)
        for device, room, _ in devices:
            rule = settings[room].parameters.temperature
            groups[(rule.warning_below_mc, rule.warning_above_mc, rule.mkt_window_hours)].append(device)
        _register_sqlite_exp(session)
        found: dict[int, tuple[int, int, float | None]] = {}
        for (low_mc, high_mc, mkt_hours), members in groups.items():
            for chunk in chunks(members):
                found.update(_window_sums(session, chunk, now, low_mc, high_mc, timedelta(hours=mkt_hours)))
        for device, room, interval_s in devices:
            parameters = settings[room].parameters
            scope = AlertScope(room_id=room)
            out_buckets, mkt_buckets, arrhenius = found.get(device, (0, 0, None))
            minutes = out_buckets * max(60, interval_s) / 60
            ref = refs[device]
            judged.put(
                RuleCode.CUMULATIVE_EXCURSION,
                ref,
                scope,
                evaluate_excursion_minutes(
                    ref, minutes, parameters, now, judged.get(RuleCode.CUMULATIVE_EXCURSION, ref)
                ),
            )
            mkt_mc = None
            if mkt_buckets and arrhenius:
                mkt_mc = round(mkt_from_arrhenius_mean(arrhenius / mkt_buckets) * 1000)
            judged.put(
                RuleCode.MKT_WINDOW,
                ref,
                scope,
                evaluate_mkt_value(ref, mkt_mc, parameters, now, judged.get(RuleCode.MKT_WINDOW, ref)),
            )
        report = judged.finish()
        uow.commit()
    return {"probes": len(devices), **report}


def _window_sums(
    session: Session,
    devices: list[int],
    now: datetime,
    low_mc: int | None,
    high_mc: int | None,
    mkt_window: timedelta,
) -> dict[int, tuple[int, int, float | None]]:
    """Per probe: minutes out of the band in the excursion window, minutes with data in the MKT
    window, and the sum of their Arrhenius factors."""
    r = RollupMinute
    span = r.last_ms - r.first_ms
    # The time-weighted mean of a bucket is num / den (the plain mean for a lone reading).
    num = case((span > 0, r.area2), else_=2 * r.sum_u)
    den = case((span > 0, 2 * span), else_=2 * r.count)
    outside = []
    if high_mc is not None:
        outside.append(num > high_mc * 1000 * den)
    if low_mc is not None:
        outside.append(num < low_mc * 1000 * den)
    excursion_start = now - EXCURSION_WINDOW
    mkt_start = now - mkt_window
    in_excursion = and_(r.bucket >= excursion_start, or_(*outside)) if outside else literal(False)
    kelvin = cast(num, Float) / den / float(UNIT) + ZERO_CELSIUS_K
    factor = func.exp(-(DELTA_H_J_PER_MOL / GAS_CONSTANT) / kelvin)
    rows = session.execute(
        select(
            r.device_id,
            func.sum(case((in_excursion, 1), else_=0)),
            func.sum(case((r.bucket >= mkt_start, 1), else_=0)),
            func.sum(case((r.bucket >= mkt_start, factor), else_=None)),
        )
        .where(
            r.device_id.in_(devices),
            r.metric == TEMPERATURE,
            r.bucket >= min(excursion_start, mkt_start),
            r.bucket < now,
        )
        .group_by(r.device_id)
    )
    return {
        device: (int(out or 0), int(minutes or 0), None if total is None else float(total))
        for device, out, minutes, total in rows
    }


def _register_sqlite_exp(session: Session) -> None:
    """SQLite has exp() only when built with its maths functions: give it Python's."""
    if session.get_bind().dialect.name == "sqlite":
        driver = session.connection().connection.driver_connection
        if driver is not None:
            driver.create_function("exp", 1, math.exp, deterministic=True)


def judge_stuck_probes(uow: UnitOfWork) -> dict[str, int]:
    """A probe whose max − min over ``stuck_sensor_minutes`` stayed within the tolerance while
    another probe of its room moved beyond it, from the minute rollups' min and max. A probe whose
    data does not cover the window (it started, or fell silent) is not judged: too little to tell."""
    with uow:
        session = uow.session
        now = uow.now()
        devices = active_devices(session, DeviceKind.TEMPERATURE)
        rooms = sorted({room for _, room, _ in devices})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        judged = Judged(uow, [(RuleCode.SENSOR_STUCK.value, f"device:{d}") for d, _, _ in devices])
        groups: dict[int, list[int]] = defaultdict(list)
        for device, room, _ in devices:
            groups[settings[room].parameters.stuck_sensor_minutes].append(device)
        spans: dict[int, tuple[int, int, int, int]] = {}
        r = RollupMinute
        for minutes, members in groups.items():
            for chunk in chunks(members):
                rows = session.execute(
                    select(
                        r.device_id,
                        func.min(r.min_u),
                        func.max(r.max_u),
                        func.min(r.first_ms),
                        func.max(r.last_ms),
                    )
                    .where(
                        r.device_id.in_(chunk),
                        r.metric == TEMPERATURE,
                        r.bucket >= now - timedelta(minutes=minutes),
                        r.bucket < now,
                    )
                    .group_by(r.device_id)
                )
                spans.update({row[0]: (row[1], row[2], row[3], row[4]) for row in rows})
        ranges: dict[int, int] = {d: (span[1] - span[0]) // 1000 for d, span in spans.items()}
        by_room: dict[int, list[int]] = defaultdict(list)
        for device, room, _ in devices:
            by_room[room].append(device)
        for device, room, interval_s in devices:
            parameters = settings[room].parameters
            window = timedelta(minutes=parameters.stuck_sensor_minutes)
            slack = max(3 * timedelta(seconds=interval_s), timedelta(minutes=5))
            span = spans.get(device)
            covered = (
                span is not None
                and from_ms(span[2]) <= now - window + slack
                and from_ms(span[3]) >= now - slack
            )
            peers = [ranges[p] for p in by_room[room] if p != device and p in ranges]
            ref = f"device:{device}"
            judged.put(
                RuleCode.SENSOR_STUCK,
                ref,
                AlertScope(room_id=room),
                evaluate_stuck(
                    ref,
                    ranges[device] if covered else None,
                    peers,
                    parameters,
                    now,
                    judged.get(RuleCode.SENSOR_STUCK, ref),
                ),
            )
        report = judged.finish()
        uow.commit()
    return {"probes": len(devices), **report}


def judge_doors(uow: UnitOfWork) -> dict[str, int]:
    """Doors left open longer than the policy allows, though no reading says so again (a contact
    reports when it changes). The current state is each door's latest reading; the spell it is in
    starts at the first open reading after the last closed one (raw readings, open doors only).
    The state is kept under ``DOOR_SCHEDULER_STATE``; see ``periodic.evaluate_door_left_open``."""
    with uow:
        session = uow.session
        now = uow.now()
        rows = list(
            session.execute(
                select(
                    LatestReading.device_id,
                    Device.room_id,
                    LatestReading.ts,
                    LatestReading.value_u,
                    LatestReading.fault,
                )
                .join(Device, Device.id == LatestReading.device_id)
                .where(LatestReading.metric == DOOR, Device.status == DeviceStatus.ACTIVE)
                .order_by(LatestReading.device_id)
            )
        )
        rooms = sorted({row[1] for row in rows})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        stored = load_states(session, [(DOOR_SCHEDULER_STATE, f"device:{row[0]}") for row in rows])
        opened = [row[0] for row in rows if row[3] >= UNIT and not row[4]]
        starts = _spell_starts(session, opened, now - DOOR_LOOKBACK)
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        told: dict[int, list[Transition]] = defaultdict(list)
        judged = 0
        for device, room, ts, value_u, fault in rows:
            if fault:
                continue  # a faulty contact says nothing; the sensor-fault rule tells
            ref = f"device:{device}"
            state = stored.get((DOOR_SCHEDULER_STATE, ref))
            spell = from_ms(state["spell_ms"]) if state and state["spell_ms"] is not None else None
            is_open = value_u >= UNIT
            if not is_open and spell is None:
                continue
            judged += 1
            condition = Condition.from_json(state["condition"]) if state else None
            after, transitions, new_spell = evaluate_door_left_open(
                ref,
                starts.get(device, ts) if is_open else None,
                ts,
                settings[room].parameters,
                now,
                condition,
                spell,
            )
            document = {
                "condition": after.to_json(),
                "spell_ms": None if new_spell is None else to_ms(new_spell),
            }
            if document != state:
                changed[(DOOR_SCHEDULER_STATE, ref)] = document
            told[room].extend(transitions)
        save_states(session, changed, at=now)
        alerts = 0
        for room in sorted(told):
            kept = _not_a_later_spell(session, told[room])
            alerts += len(apply_transitions(uow, kept, scope=AlertScope(room_id=room)))
        uow.commit()
    return {
        "doors": len(rows),
        "open": len(opened),
        "judged": judged,
        "conditions_changed": len(changed),
        "alerts": alerts,
    }


def _spell_starts(session: Session, devices: list[int], horizon: datetime) -> dict[int, datetime]:
    """For doors open now: the first open reading after their last closed one (since ``horizon``)."""
    if not devices:
        return {}
    closed = aliased(Reading)
    last_closed = (
        select(func.max(closed.ts))
        .where(
            closed.device_id == Reading.device_id,
            closed.metric == DOOR,
            closed.value_u < UNIT,
            closed.fault == 0,
            closed.ts >= horizon,
        )
        .scalar_subquery()
    )
    starts: dict[int, datetime] = {}
    for chunk in chunks(devices):
        for device, start in session.execute(
            select(Reading.device_id, func.min(Reading.ts))
            .where(
                Reading.device_id.in_(chunk),
                Reading.metric == DOOR,
                Reading.value_u >= UNIT,
                Reading.fault == 0,
                Reading.ts >= horizon,
                or_(last_closed.is_(None), Reading.ts > last_closed),
            )
            .group_by(Reading.device_id)
        ):
            starts[device] = start
    return starts


def _not_a_later_spell(session: Session, transitions: list[Transition]) -> list[Transition]:
    """A resolution of a spell that ended must not withdraw the alert the ingest path raised for
    the door's next spell: drop it when the live alert began at or after that spell's end."""
    ending = {t.subject: t.at for t in transitions if t.state == "resolved"}
    if not ending:
        return transitions
    began = dict(
        session.execute(
            select(Alert.subject, Alert.first_transition_at).where(
                Alert.rule == RuleCode.DOOR_OPEN_TOO_LONG.value,
                Alert.subject.in_(sorted(ending)),
                Alert.status.in_(LIVE_ALERT),
            )
        ).all()
    )
    return [
        t
        for t in transitions
        if not (t.state == "resolved" and t.subject in began and began[t.subject] >= t.at)
    ]
