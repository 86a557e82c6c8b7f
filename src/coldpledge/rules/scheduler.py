"""``coldpledge scheduler``: what must happen when no reading arrives.

Each tick, in order, each step in its own transaction so one failing step never holds back the
others:

1. periodic rules on devices: offline (no data for max(3 sampling intervals, 5 min)) and
   calibration due within the policy's warning days or past;
   then, each in its own transaction: cumulative excursion and MKT per probe (minute rollups),
   stuck probes (rollups' min and max against the room's other probes), doors left open (latest
   readings), expiry of lots (shelf life) and receipts (storage period, insurance), a dynamic
   pledge's stock below its floor (quantity), stocktake variance (latest stocktake of each lot)
   and weight drops without a release (floor scales' rollups against releases); interest
   accrued through yesterday (``financing.accrual.accrue_due``, idempotent per day); on a business
   day after ``COLDPLEDGE_MTM_AFTER`` (15:00 China time), the day's mark-to-market of every
   facility (``financing.marktomarket.mark_due``; once per day, later ticks find it done);
2. work orders not acknowledged within their SLA escalate up the chain and remind
   (``alerts.escalation.escalate_due``);
3. notifications due go out by webhook and e-mail, with retries (``notify.dispatch.deliver_due``);
4. the settings log the ingest workers read for every chunk is cut to its newest rows
   (``rules.service.prune_settings_log``).

Two schedulers may run at once: the periodic rules lock the conditions they judge (PostgreSQL
advisory locks per room, as on the ingest path), escalation and delivery claim their rows with
``SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from coldpledge.alerts.escalation import escalate_due
from coldpledge.alerts.models import RuleConditionState
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.states import save_states
from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.financing.accrual import accrue_due
from coldpledge.financing.marktomarket import mark_due
from coldpledge.iot.models import Device, DeviceStatus
from coldpledge.notify.dispatch import deliver_due
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import (
    Condition,
    Transition,
)
from coldpledge.rules.goods_checks import (
    judge_goods_expiry,
    judge_stock_floor,
    judge_stocktakes,
    judge_weight,
)
from coldpledge.rules.judging import DOOR_SCHEDULER_STATE
from coldpledge.rules.periodic import (
    evaluate_device_offline,
    evaluate_expiry,
)
from coldpledge.rules.sensor_checks import judge_doors, judge_stuck_probes, judge_temperature_windows
from coldpledge.rules.service import lock_rooms, prune_settings_log, room_settings
from coldpledge.uow import UnitOfWork

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
        ("interest", lambda: accrue_due(unit())),
        ("mark_to_market", lambda: mark_due(database, settings, moment)),
        ("escalation", lambda: escalate_due(unit(), moment)),
        ("deliveries", lambda: deliver_due(database, settings, moment)),
        ("settings_log", lambda: prune_settings_log(unit())),
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


__all__ = [
    "DOOR_SCHEDULER_STATE",
    "judge_devices",
    "judge_doors",
    "judge_goods_expiry",
    "judge_stock_floor",
    "judge_stocktakes",
    "judge_stuck_probes",
    "judge_temperature_windows",
    "judge_weight",
    "run",
    "tick",
]
