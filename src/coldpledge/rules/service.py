"""The reading rules on the ingest path: judged in the transaction that stores the readings.

Per chunk, the new readings are grouped by the room of the device that measured them and judged
under that room's policy (the current version of its virtual warehouse's, or the template of its
temperature class for a room under no supervision). The rules' states are read from and written
back to ``rule_condition_states`` in the same transaction, so a restart loses no pending duration,
and the transitions become alerts there too (``alerts.service.apply_transitions``): a reading is
committed if and only if what it set off is.

This is the only part of the rules package that does I/O; the judging itself is ``rules.room``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from coldpledge.alerts.models import Alert, RuleConditionState
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.states import save_states
from coldpledge.config import Settings
from coldpledge.inventory.models import Seal
from coldpledge.iot.models import Device
from coldpledge.rules.catalogue import READING_RULES
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import RuleState
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import ReleaseWindow, Room, SupervisionPolicy
from coldpledge.warehouses.policy import PolicyParameters, default_parameters
from coldpledge.warehouses.windows import Window

log = logging.getLogger(__name__)

ROOM_LOCK_CLASS = 7303  # advisory lock class for a room's rule states on PostgreSQL
# The scheduler's rules keep their conditions in the same table, under the same subjects.
_READING_RULES = [code.value for code in READING_RULES]


@dataclass(frozen=True)
class _RoomSetting:
    room: Room
    parameters: PolicyParameters
    sealed: bool
    windows: tuple[Window, ...]
    devices: dict[int, str]


def rules_for(settings: Settings) -> Callable[[UnitOfWork, list[Any]], object] | None:
    """What the ingest service judges stored readings with, unless the settings turn it off."""
    return judge_readings if settings.rules_on_ingest else None


def judge_readings(uow: UnitOfWork, rows: Sequence[Sequence[Any]]) -> list[Alert]:
    """Judge newly stored readings, rows as ingest stores them (``device_id, metric, ts,
    value_u, fault, ...``); returns the alerts they opened, moved or resolved."""
    if not rows:
        return []
    session = uow.session
    measured = {row[0] for row in rows}
    query = select(Device.id, Device.room_id).where(Device.id.in_(measured))
    room_of: dict[int, int] = dict(session.execute(query).all())
    by_room: dict[int, list[Sequence[Any]]] = defaultdict(list)
    for row in rows:
        room_id = room_of.get(row[0])
        if room_id is not None:
            by_room[room_id].append(row)
    rooms = sorted(by_room)
    lock_rooms(session, rooms)
    settings = room_settings(session, rooms)
    states = _load_states(session, rooms, {row[0] for row in rows})
    touched: list[Alert] = []
    for room_id in rooms:
        setting = settings[room_id]
        context = RoomContext(
            room_id=room_id,
            temperature_class=setting.room.temperature_class,
            sealed=setting.sealed,
            release_windows=setting.windows,
            devices=setting.devices,
        )
        changed, transitions = RoomRules(setting.parameters, context).evaluate(states, by_room[room_id])
        save_states(session, {key: state.to_json() for key, state in changed.items()}, at=uow.now())
        touched.extend(apply_transitions(uow, transitions, scope=AlertScope(room_id=room_id)))
    return touched


def lock_rooms(session: Session, rooms: list[int]) -> None:
    """Two workers judging the same room would each start from the same stored state and one would
    overwrite the other's. Taken after the ingest's device locks, in id order: no deadlock."""
    if rooms and session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(:lock_class, r) "
                "FROM (SELECT unnest(CAST(:ids AS integer[])) AS r ORDER BY 1) AS wanted"
            ),
            {"lock_class": ROOM_LOCK_CLASS, "ids": rooms},
        )


def room_settings(session: Session, rooms: list[int]) -> dict[int, _RoomSetting]:
    found = {room.id: room for room in session.scalars(select(Room).where(Room.id.in_(rooms)))}
    vws = {room.virtual_warehouse_id for room in found.values() if room.virtual_warehouse_id is not None}
    policies: dict[int, PolicyParameters] = {}
    windows: dict[int, list[Window]] = defaultdict(list)
    if vws:
        for vw_id, parameters in session.execute(
            select(SupervisionPolicy.virtual_warehouse_id, SupervisionPolicy.parameters)
            .where(SupervisionPolicy.virtual_warehouse_id.in_(vws))
            .order_by(SupervisionPolicy.virtual_warehouse_id, SupervisionPolicy.version)
        ):
            policies[vw_id] = PolicyParameters.model_validate(parameters)  # the last version wins
        for window in session.scalars(
            select(ReleaseWindow).where(
                ReleaseWindow.virtual_warehouse_id.in_(vws), ReleaseWindow.removed_at.is_(None)
            )
        ):
            windows[window.virtual_warehouse_id].append(
                Window(window.weekdays, window.start_minute, window.end_minute, window.timezone)
            )
    sealed = set(
        session.scalars(select(Seal.room_id).where(Seal.room_id.in_(rooms), Seal.removed_at.is_(None)))
    )
    devices: dict[int, dict[int, str]] = defaultdict(dict)
    for device_id, room_id, kind in session.execute(
        select(Device.id, Device.room_id, Device.kind).where(Device.room_id.in_(rooms))
    ):
        devices[room_id][device_id] = str(kind.value if hasattr(kind, "value") else kind)
    settings = {}
    for room_id, room in found.items():
        vw = room.virtual_warehouse_id
        parameters = policies.get(vw) if vw is not None else None
        settings[room_id] = _RoomSetting(
            room=room,
            parameters=parameters or default_parameters(room.temperature_class),
            sealed=room_id in sealed,
            windows=tuple(windows.get(vw, ())) if vw is not None else (),
            devices=devices[room_id],
        )
    return settings


def _load_states(session: Session, rooms: list[int], devices: set[int]) -> dict[StateKey, RuleState]:
    subjects = [f"room:{room}" for room in rooms] + [f"device:{device}" for device in sorted(devices)]
    states: dict[StateKey, RuleState] = {}
    for start in range(0, len(subjects), 400):
        for rule, subject, state in session.execute(
            select(RuleConditionState.rule, RuleConditionState.subject, RuleConditionState.state).where(
                RuleConditionState.rule.in_(_READING_RULES),
                RuleConditionState.subject.in_(subjects[start : start + 400]),
            )
        ):
            states[(rule, subject)] = RuleState.from_json(state)
    return states
