"""``coldpledge scheduler``: what must happen when no reading arrives.

Each tick, in order, each step in its own transaction so one failing step never holds back the
others:

1. periodic rules on devices: offline (no data for max(3 sampling intervals, 5 min)) and
   calibration due within the policy's warning days or past;
   then, each in its own transaction: cumulative excursion and MKT per probe (minute rollups),
   stuck probes (rollups' min and max against the room's other probes), doors left open (latest
   readings), expiry of lots (shelf life) and receipts (storage period, insurance), a dynamic
   pledge's stock below its floor (quantity), stocktake variance (latest stocktake of each lot)
   and weight drops without a release (floor scales' rollups against releases);
2. work orders not acknowledged within their SLA escalate up the chain and remind
   (``alerts.escalation.escalate_due``);
3. notifications due go out by webhook and e-mail, with retries (``notify.dispatch.deliver_due``).

Two schedulers may run at once: the periodic rules lock the conditions they judge (PostgreSQL
advisory locks per room, as on the ingest path), escalation and delivery claim their rows with
``SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Float, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from coldpledge.alerts.escalation import escalate_due
from coldpledge.alerts.lifecycle import LIVE_ALERT
from coldpledge.alerts.models import Alert, RuleConditionState
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.states import load_states, save_states
from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.inventory.models import Commodity, Lot, LotStatus, Operation, OperationKind
from coldpledge.iot.coldchain import DELTA_H_J_PER_MOL, GAS_CONSTANT, ZERO_CELSIUS_K
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus, LatestReading, Reading, RollupMinute
from coldpledge.notify.dispatch import deliver_due
from coldpledge.receipts.lifecycle import ACTIVE as ACTIVE_RECEIPT
from coldpledge.receipts.models import Pledge, PledgeStatus, Receipt, Release, ReleaseStatus
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import (
    CLEAR,
    FIRING,
    Condition,
    Hygiene,
    Level,
    Transition,
    from_ms,
    judge_once,
    to_ms,
)
from coldpledge.rules.periodic import (
    evaluate_device_offline,
    evaluate_door_left_open,
    evaluate_excursion_minutes,
    evaluate_expiry,
    evaluate_mkt_value,
    evaluate_stock_below_floor,
    evaluate_stocktake_variance,
    evaluate_stuck,
    evaluate_weight_without_release,
    mkt_from_arrhenius_mean,
)
from coldpledge.rules.service import lock_rooms, room_settings
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room, SupervisionMode, VirtualWarehouse, VirtualWarehouseStatus
from coldpledge.warehouses.policy import PolicyParameters

log = logging.getLogger(__name__)


def tick(database: Database, settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """One round of every periodic duty; what each step did."""
    moment = now or utcnow()
    report: dict[str, Any] = {}

    def unit() -> UnitOfWork:
        return UnitOfWork(database.write_session, clock=lambda: moment)

    steps: tuple[tuple[str, Callable[[], dict[str, int]]], ...] = (
        ("devices", lambda: judge_devices(unit())),
        ("temperature_windows", lambda: judge_temperature_windows(unit())),
        ("stuck_probes", lambda: judge_stuck_probes(unit())),
        ("doors", lambda: judge_doors(unit())),
        ("expiry", lambda: judge_goods_expiry(unit())),
        ("stock_floor", lambda: judge_stock_floor(unit())),
        ("stocktakes", lambda: judge_stocktakes(unit())),
        ("weight", lambda: judge_weight(unit())),
        ("escalation", lambda: escalate_due(unit(), moment)),
        ("deliveries", lambda: deliver_due(database, settings, moment)),
    )
    for name, step in steps:
        try:
            report[name] = step()
        except Exception as error:  # one failing duty must not stop the others
            log.exception("scheduler step %s failed", name)
            report[name] = {"error": type(error).__name__}
    return report


def judge_devices(uow: UnitOfWork) -> dict[str, int]:
    """Offline and calibration rules for every active device, in one transaction."""
    with uow:
        session = uow.session
        now = uow.now()
        devices = list(
            session.execute(
                select(
                    Device.id,
                    Device.room_id,
                    Device.last_seen_at,
                    Device.sampling_interval_s,
                    Device.calibration_due,
                ).where(Device.status == DeviceStatus.ACTIVE)
            )
        )
        rooms = sorted({room_id for _, room_id, *_ in devices})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        keys = [(RuleCode.DEVICE_OFFLINE.value, f"device:{d[0]}") for d in devices] + [
            (RuleCode.EXPIRY.value, f"device:{d[0]}") for d in devices if d[4] is not None
        ]
        stored = _conditions(uow, {subject for _, subject in keys})
        changed: dict[tuple[str, str], dict[str, Any]] = {}
        by_room: dict[int, list[Transition]] = defaultdict(list)
        for device_id, room_id, last_seen, interval_s, calibration_due in devices:
            parameters = settings[room_id].parameters
            ref = f"device:{device_id}"
            outcomes = [
                evaluate_device_offline(
                    ref,
                    last_seen,
                    timedelta(seconds=interval_s),
                    parameters,
                    now,
                    stored.get((RuleCode.DEVICE_OFFLINE.value, ref)),
                )
            ]
            if calibration_due is not None:
                outcomes.append(
                    evaluate_expiry(
                        ref,
                        "calibration",
                        calibration_due,
                        parameters,
                        now,
                        stored.get((RuleCode.EXPIRY.value, ref)),
                    )
                )
            for rule, (condition, transitions) in zip(
                (RuleCode.DEVICE_OFFLINE.value, RuleCode.EXPIRY.value), outcomes, strict=False
            ):
                before = stored.get((rule, ref))
                if before is None or before.to_json() != condition.to_json():
                    changed[(rule, ref)] = condition.to_json()
                by_room[room_id].extend(transitions)
        save_states(session, changed, at=now)
        alerts = 0
        for room_id in sorted(by_room):
            alerts += len(apply_transitions(uow, by_room[room_id], scope=AlertScope(room_id=room_id)))
        uow.commit()
    return {"devices": len(devices), "conditions_changed": len(changed), "alerts": alerts}


def _conditions(uow: UnitOfWork, subjects: set[str]) -> dict[tuple[str, str], Condition]:
    found: dict[tuple[str, str], Condition] = {}
    wanted = sorted(subjects)
    rules = (RuleCode.DEVICE_OFFLINE.value, RuleCode.EXPIRY.value)
    for start in range(0, len(wanted), 400):
        for rule, subject, state in uow.session.execute(
            select(RuleConditionState.rule, RuleConditionState.subject, RuleConditionState.state).where(
                RuleConditionState.rule.in_(rules),
                RuleConditionState.subject.in_(wanted[start : start + 400]),
            )
        ):
            found[(rule, subject)] = Condition.from_json(state)
    return found


def run(database: Database, settings: Settings, stop: threading.Event, interval_seconds: float) -> None:
    """Tick until ``stop`` is set."""
    while True:
        report = tick(database, settings)
        log.info("scheduler: %s", report)
        if stop.wait(interval_seconds):
            return


# --- the periodic rules beyond devices ---------------------------------------------------------

# The scheduler's door rule keeps its own state under this key, beside the ingest path's
# ("door_open_too_long", "device:N") which holds a stream state in another format: the two never
# write one row. Its transitions carry the catalogue's rule, so both paths raise and move one alert.
DOOR_SCHEDULER_STATE = f"{RuleCode.DOOR_OPEN_TOO_LONG.value}:scheduler"
# How far back the spell of an open door is looked for in the raw readings.
DOOR_LOOKBACK = timedelta(days=2)
# The span over which a floor scale's drop is set against the releases.
WEIGHT_WINDOW = timedelta(hours=24)
EXCURSION_WINDOW = timedelta(hours=24)
TEMPERATURE, DOOR, WEIGHT = 1, 3, 5  # metric codes (iot.payload.METRICS)
UNIT = 1_000_000  # value_u per unit
_LIVE_LOTS = (LotStatus.IN_STOCK, LotStatus.ON_HOLD)
_ACTIVE_RECEIPTS = tuple(sorted(ACTIVE_RECEIPT))


class _Judged:
    """The conditions one step judges: their stored states, what changed and what to tell, by
    place. ``finish`` saves the states and raises the alerts in the step's transaction."""

    def __init__(self, uow: UnitOfWork, keys: Iterable[tuple[str, str]]) -> None:
        self.uow = uow
        self.stored = {
            key: Condition.from_json(state) for key, state in load_states(uow.session, keys).items()
        }
        self.changed: dict[tuple[str, str], dict[str, Any]] = {}
        self.told: dict[AlertScope, list[Transition]] = defaultdict(list)
        self.judged = 0

    def get(self, rule: RuleCode, subject: str) -> Condition | None:
        return self.stored.get((rule.value, subject))

    def put(
        self, rule: RuleCode, subject: str, scope: AlertScope, outcome: tuple[Condition, list[Transition]]
    ) -> None:
        condition, transitions = outcome
        self.judged += 1
        before = self.stored.get((rule.value, subject))
        if before is None or before.to_json() != condition.to_json():
            self.changed[(rule.value, subject)] = condition.to_json()
        self.told[scope].extend(transitions)

    def retire(self, rule: RuleCode, prefix: str, judged: set[str]) -> None:
        """Resolve at once the live alerts of ``rule`` on subjects ``prefix…`` that were not judged:
        the lot left, the receipt ended, the pledge turned static."""
        for subject, severity, room_id, vw_id, wh_id in self.uow.session.execute(
            select(
                Alert.subject, Alert.severity, Alert.room_id, Alert.virtual_warehouse_id, Alert.warehouse_id
            ).where(Alert.rule == rule.value, Alert.subject.like(f"{prefix}%"), Alert.status.in_(LIVE_ALERT))
        ):
            if subject in judged:
                continue
            stored = load_states(self.uow.session, [(rule.value, subject)]).get((rule.value, subject))
            condition = Condition.from_json(stored) if stored else Condition(FIRING, [None], 0)
            # At once, whatever the hygiene; told with the alert's own severity at any level.
            hygiene = Hygiene(0, 0, 1 << 30)
            levels = tuple(Level(str(severity), 0) for _ in range(3))
            outcome = judge_once(
                condition,
                rule.value,
                subject,
                self.uow.now(),
                CLEAR,
                levels,
                hygiene,
                {},
                "no longer under this rule",
            )
            self.put(rule, subject, AlertScope(room_id, wh_id, vw_id), outcome)

    def finish(self) -> dict[str, int]:
        session = self.uow.session
        save_states(session, self.changed, at=self.uow.now())
        alerts = 0
        for scope in sorted(
            self.told, key=lambda s: (s.room_id or 0, s.virtual_warehouse_id or 0, s.warehouse_id or 0)
        ):
            if self.told[scope]:
                alerts += len(apply_transitions(self.uow, self.told[scope], scope=scope))
        return {"judged": self.judged, "conditions_changed": len(self.changed), "alerts": alerts}


def _active_devices(session: Session, metric_kind: DeviceKind) -> list[tuple[int, int, int]]:
    """(id, room, sampling interval in seconds) of the active devices of a kind."""
    return [
        (device_id, room_id, interval)
        for device_id, room_id, interval in session.execute(
            select(Device.id, Device.room_id, Device.sampling_interval_s)
            .where(Device.status == DeviceStatus.ACTIVE, Device.kind == metric_kind)
            .order_by(Device.id)
        )
    ]


def _chunks(ids: list[int], size: int = 400) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


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
        devices = _active_devices(session, DeviceKind.TEMPERATURE)
        rooms = sorted({room for _, room, _ in devices})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        refs = {device: f"device:{device}" for device, _, _ in devices}
        judged = _Judged(
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
            for chunk in _chunks(members):
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
        devices = _active_devices(session, DeviceKind.TEMPERATURE)
        rooms = sorted({room for _, room, _ in devices})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        judged = _Judged(uow, [(RuleCode.SENSOR_STUCK.value, f"device:{d}") for d, _, _ in devices])
        groups: dict[int, list[int]] = defaultdict(list)
        for device, room, _ in devices:
            groups[settings[room].parameters.stuck_sensor_minutes].append(device)
        spans: dict[int, tuple[int, int, int, int]] = {}
        r = RollupMinute
        for minutes, members in groups.items():
            for chunk in _chunks(members):
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
    for chunk in _chunks(devices):
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


def judge_goods_expiry(uow: UnitOfWork) -> dict[str, int]:
    """Expiry of the goods and their papers: a lot's shelf life (its expiry date, else its
    production date plus the commodity's shelf life), and a live receipt's storage period and
    insurance, whichever ends first. (A device's calibration is judged with the devices.)"""
    with uow:
        session = uow.session
        now = uow.now()
        lots = list(
            session.execute(
                select(Lot.code, Lot.room_id, Lot.expiry_date, Lot.production_date, Commodity.shelf_life_days)
                .join(Commodity, Commodity.id == Lot.commodity_id)
                .where(
                    Lot.status.in_(_LIVE_LOTS),
                    or_(
                        Lot.expiry_date.is_not(None),
                        and_(Lot.production_date.is_not(None), Commodity.shelf_life_days.is_not(None)),
                    ),
                )
                .order_by(Lot.id)
            )
        )
        receipts = list(
            session.execute(
                select(Receipt.code, Lot.room_id, Receipt.storage_period_end, Receipt.insurance_until)
                .join(Lot, Lot.id == Receipt.lot_id)
                .where(Receipt.status.in_(_ACTIVE_RECEIPTS))
                .order_by(Receipt.id)
            )
        )
        rooms = sorted({row[1] for row in lots} | {row[1] for row in receipts})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        items: list[tuple[str, int, str, date]] = []
        for code, room, expiry, produced, shelf_days in lots:
            if expiry is not None:
                ends = expiry
            elif produced is not None and shelf_days is not None:
                ends = produced + timedelta(days=shelf_days)
            else:
                continue
            items.append((f"lot:{code}", room, "shelf_life", ends))
        for code, room, storage_end, insured_until in receipts:
            dates = [("storage_period", storage_end)]
            if insured_until is not None:
                dates.append(("insurance", insured_until))
            what, ends = min(dates, key=lambda item: item[1])
            items.append((f"receipt:{code}", room, what, ends))
        judged = _Judged(uow, [(RuleCode.EXPIRY.value, subject) for subject, *_ in items])
        for subject, room, what, ends in items:
            judged.put(
                RuleCode.EXPIRY,
                subject,
                AlertScope(room_id=room),
                evaluate_expiry(
                    subject, what, ends, settings[room].parameters, now, judged.get(RuleCode.EXPIRY, subject)
                ),
            )
        names = {subject for subject, *_ in items}
        judged.retire(RuleCode.EXPIRY, "lot:", names)
        judged.retire(RuleCode.EXPIRY, "receipt:", names)
        report = judged.finish()
        uow.commit()
    return {"lots": len(lots), "receipts": len(receipts), **report}


def judge_stock_floor(uow: UnitOfWork) -> dict[str, int]:
    """A dynamic pledge's floor: the quantity pledged in a virtual warehouse (live receipts under
    an active pledge on lots in its rooms) below its policy's ``min_control_quantity_g``. The
    pledge terms are the same in every room of a virtual warehouse; they are read, and the rooms
    locked, as for any room. The value floor needs prices (issue 6): no value is known yet, so
    none is judged."""
    with uow:
        session = uow.session
        now = uow.now()
        placed = list(
            session.execute(
                select(Room.virtual_warehouse_id, Room.id, VirtualWarehouse.code)
                .join(VirtualWarehouse, VirtualWarehouse.id == Room.virtual_warehouse_id)
                .where(VirtualWarehouse.status == VirtualWarehouseStatus.ACTIVE)
                .order_by(Room.virtual_warehouse_id, Room.id)
            )
        )
        rooms = sorted({room for _, room, _ in placed})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        floors: dict[int, tuple[str, PolicyParameters]] = {}
        for vw, room, code in placed:
            parameters = settings[room].parameters
            if (
                vw is not None
                and vw not in floors
                and parameters.mode is SupervisionMode.DYNAMIC
                and parameters.min_control_quantity_g is not None
            ):
                floors[vw] = (f"virtual_warehouse:{code}", parameters)
        pledged = (
            select(Pledge.id)
            .where(Pledge.receipt_id == Receipt.id, Pledge.status == PledgeStatus.ACTIVE)
            .exists()
        )
        quantities: dict[int, int] = {}
        if floors:
            for vw, total in session.execute(
                select(Room.virtual_warehouse_id, func.sum(Receipt.quantity_g))
                .join(Lot, Lot.id == Receipt.lot_id)
                .join(Room, Room.id == Lot.room_id)
                .where(
                    Room.virtual_warehouse_id.in_(sorted(floors)),
                    Receipt.status.in_(_ACTIVE_RECEIPTS),
                    pledged,
                )
                .group_by(Room.virtual_warehouse_id)
            ):
                if vw is not None:
                    quantities[vw] = int(total or 0)
        judged = _Judged(uow, [(RuleCode.STOCK_BELOW_FLOOR.value, s) for s, _ in floors.values()])
        for vw, (subject, parameters) in sorted(floors.items()):
            judged.put(
                RuleCode.STOCK_BELOW_FLOOR,
                subject,
                AlertScope(virtual_warehouse_id=vw),
                evaluate_stock_below_floor(
                    subject,
                    quantities.get(vw, 0),
                    None,
                    parameters,
                    now,
                    judged.get(RuleCode.STOCK_BELOW_FLOOR, subject),
                ),
            )
        judged.retire(RuleCode.STOCK_BELOW_FLOOR, "virtual_warehouse:", {s for s, _ in floors.values()})
        report = judged.finish()
        uow.commit()
    return {"dynamic_pledges": len(floors), **report}


def judge_stocktakes(uow: UnitOfWork) -> dict[str, int]:
    """The latest stocktake of each live lot, counted against the book it was counted against
    (``expected_g``, the lot's verified weight then), beyond the policy's tolerance."""
    with uow:
        session = uow.session
        now = uow.now()
        later = aliased(Operation)
        newest = (
            select(later.id)
            .where(
                later.lot_id == Operation.lot_id,
                later.kind == OperationKind.STOCKTAKE,
                or_(
                    later.performed_at > Operation.performed_at,
                    and_(later.performed_at == Operation.performed_at, later.id > Operation.id),
                ),
            )
            .exists()
        )
        rows = list(
            session.execute(
                select(
                    Lot.code,
                    Lot.room_id,
                    Lot.verified_net_weight_g,
                    Operation.id,
                    Operation.performed_at,
                    Operation.counted_g,
                    Operation.expected_g,
                )
                .join(Lot, Lot.id == Operation.lot_id)
                .where(
                    Operation.kind == OperationKind.STOCKTAKE,
                    Operation.counted_g.is_not(None),
                    Lot.status.in_(_LIVE_LOTS),
                    ~newest,
                )
                .order_by(Lot.id)
            )
        )
        rooms = sorted({row[1] for row in rows})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        judged = _Judged(uow, [(RuleCode.STOCKTAKE_VARIANCE.value, f"lot:{row[0]}") for row in rows])
        for code, room, verified_g, operation_id, performed_at, counted_g, expected_g in rows:
            subject = f"lot:{code}"
            book = expected_g if expected_g is not None else verified_g
            assert counted_g is not None  # selected so
            context = {"operation": operation_id, "counted_at": performed_at.isoformat()}
            judged.put(
                RuleCode.STOCKTAKE_VARIANCE,
                subject,
                AlertScope(room_id=room),
                evaluate_stocktake_variance(
                    subject,
                    counted_g,
                    book,
                    settings[room].parameters,
                    now,
                    judged.get(RuleCode.STOCKTAKE_VARIANCE, subject),
                    context,
                ),
            )
        judged.retire(RuleCode.STOCKTAKE_VARIANCE, "lot:", {f"lot:{row[0]}" for row in rows})
        report = judged.finish()
        uow.commit()
    return {"lots": len(rows), **report}


def judge_weight(uow: UnitOfWork) -> dict[str, int]:
    """A room's floor scales dropping beyond the tolerance in the last 24 hours without approved
    releases to explain it: from each scale's peak in the window (minute rollups) to its latest
    reading, against the releases of the room's goods executed since the peak, or approved and
    still valid then (the goods may be on their way out before the release is marked executed)."""
    with uow:
        session = uow.session
        now = uow.now()
        start = now - WEIGHT_WINDOW
        r = RollupMinute
        peak = (
            select(r.device_id.label("device_id"), func.max(r.max_u).label("peak_u"))
            .join(Device, Device.id == r.device_id)
            .where(
                Device.kind == DeviceKind.SCALE,
                Device.status == DeviceStatus.ACTIVE,
                r.metric == WEIGHT,
                r.bucket >= start,
                r.bucket < now,
            )
            .group_by(r.device_id)
            .subquery()
        )
        scales = list(
            session.execute(
                select(
                    Device.id,
                    Device.room_id,
                    peak.c.peak_u,
                    func.max(r.bucket),
                    LatestReading.value_u,
                    LatestReading.ts,
                )
                .join(peak, peak.c.device_id == Device.id)
                .join(
                    r,
                    and_(
                        r.device_id == Device.id,
                        r.metric == WEIGHT,
                        r.bucket >= start,
                        r.max_u == peak.c.peak_u,
                    ),
                )
                .join(
                    LatestReading, and_(LatestReading.device_id == Device.id, LatestReading.metric == WEIGHT)
                )
                .where(LatestReading.fault == 0)
                .group_by(Device.id, Device.room_id, peak.c.peak_u, LatestReading.value_u, LatestReading.ts)
                .order_by(Device.id)
            )
        )
        rooms = sorted({row[1] for row in scales})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        by_room: dict[int, list[tuple[int, int, datetime, int]]] = defaultdict(list)
        for device, room, peak_u, peak_at, last_u, _ in scales:
            by_room[room].append((device, peak_u // 1000, peak_at, last_u // 1000))
        released: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        if rooms:
            for room, status, executed_at, valid_until, executed_g, quantity_g in session.execute(
                select(
                    Lot.room_id,
                    Release.status,
                    Release.executed_at,
                    Release.valid_until,
                    Release.executed_net_g,
                    Release.quantity_g,
                )
                .join(Receipt, Receipt.id == Release.receipt_id)
                .join(Lot, Lot.id == Receipt.lot_id)
                .where(
                    Lot.room_id.in_(rooms),
                    or_(
                        and_(Release.status == ReleaseStatus.EXECUTED, Release.executed_at >= start),
                        and_(Release.status == ReleaseStatus.APPROVED, Release.valid_until >= start),
                    ),
                )
            ):
                if status == ReleaseStatus.EXECUTED and executed_at is not None:
                    released[room].append((executed_at, executed_g if executed_g is not None else quantity_g))
                else:
                    released[room].append((valid_until, quantity_g))
        subjects = {room: f"room:{room}" for room in rooms}
        judged = _Judged(uow, [(RuleCode.WEIGHT_WITHOUT_RELEASE.value, s) for s in subjects.values()])
        for room in rooms:
            members = by_room[room]
            since = min(peak_at for _, _, peak_at, _ in members)
            before = sum(peak_g for _, peak_g, _, _ in members)
            after = sum(last_g for *_, last_g in members)
            out = sum(grams for moment, grams in released[room] if moment >= since)
            subject = subjects[room]
            judged.put(
                RuleCode.WEIGHT_WITHOUT_RELEASE,
                subject,
                AlertScope(room_id=room),
                evaluate_weight_without_release(
                    subject,
                    before,
                    after,
                    out,
                    settings[room].parameters,
                    now,
                    judged.get(RuleCode.WEIGHT_WITHOUT_RELEASE, subject),
                    {"since": since.isoformat(), "scales": [device for device, *_ in members]},
                ),
            )
        report = judged.finish()
        uow.commit()
    return {"rooms": len(rooms), "scales": len(scales), **report}
