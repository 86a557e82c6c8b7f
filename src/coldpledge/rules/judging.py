"""What the scheduler's periodic checks share: the conditions a check judges and where its
alerts go (``Judged``), constants, and small queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.alerts.lifecycle import LIVE_ALERT
from coldpledge.alerts.models import Alert
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.states import load_states, save_states
from coldpledge.inventory.models import LotStatus
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus
from coldpledge.receipts.lifecycle import ACTIVE as ACTIVE_RECEIPT
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import (
    CLEAR,
    FIRING,
    Condition,
    Hygiene,
    Level,
    Transition,
    judge_once,
)
from coldpledge.uow import UnitOfWork

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
LIVE_LOTS = (LotStatus.IN_STOCK, LotStatus.ON_HOLD)
ACTIVE_RECEIPTS = tuple(sorted(ACTIVE_RECEIPT))


class Judged:
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


def active_devices(session: Session, metric_kind: DeviceKind) -> list[tuple[int, int, int]]:
    """(id, room, sampling interval in seconds) of the active devices of a kind."""
    return [
        (device_id, room_id, interval)
        for device_id, room_id, interval in session.execute(
            select(Device.id, Device.room_id, Device.sampling_interval_s)
            .where(Device.status == DeviceStatus.ACTIVE, Device.kind == metric_kind)
            .order_by(Device.id)
        )
    ]


def chunks(ids: list[int], size: int = 400) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]
