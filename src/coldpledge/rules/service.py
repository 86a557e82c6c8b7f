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
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
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
from coldpledge.rules.conditions import to_ms
from coldpledge.rules.policies import parameters_for_rooms
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import RuleState
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import ReleaseWindow, Room
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.windows import Window

log = logging.getLogger(__name__)

ROOM_LOCK_CLASS = 7303  # advisory lock class for a room's rule states on PostgreSQL
# The scheduler's rules keep their conditions in the same table, under the same subjects.
_READING_RULES = [code.value for code in READING_RULES]
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class _RoomSetting:
    room: Room
    parameters: PolicyParameters
    sealed: bool
    windows: tuple[Window, ...]
    devices: dict[int, str]


def rules_for(settings: Settings) -> Callable[[UnitOfWork, list[Any]], object] | None:
    """What the ingest service judges stored readings with, unless the settings turn it off: the
    process's judge, whose memory of rule states the worker's writers and the API share."""
    return judge_readings if settings.rules_on_ingest else None


class ReadingJudge:
    """Judges newly stored readings (see ``judge_readings``), keeping on PostgreSQL the rule
    states it last wrote in memory, each with the ``xmin`` of its row: a state is read from the
    database again only when its row changed since (another worker on the shared subscription
    judged the room, or the transaction that wrote it was rolled back). Under the room's advisory
    lock the row cannot change between that check and the write. Safe for the worker's writer
    threads: a state is taken out of the cache while a transaction uses it."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._cache: dict[tuple[str, StateKey], tuple[int, RuleState]] = {}
        self._lock = threading.Lock()
        self._rules: dict[int, tuple[Any, RoomRules]] = {}

    def __call__(self, uow: UnitOfWork, rows: Sequence[Sequence[Any]]) -> list[Alert]:
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
        postgresql = session.get_bind().dialect.name == "postgresql"
        if postgresql:
            database = str(session.get_bind().engine.url)
            states = self._take(session, database, rooms, measured)
        else:
            states = _load_states(session, rooms, measured)
        registered = _registered(session, [r for r in rooms if settings[r].parameters.startup_ignore_minutes])
        touched: list[Alert] = []
        for room_id in rooms:
            rules = self._room_rules(room_id, settings[room_id], registered.get(room_id, {}))
            changed, transitions = rules.evaluate(states, by_room[room_id])
            if postgresql:
                self._save(session, database, changed, uow.now())
            else:
                save_states(session, {key: state.to_json() for key, state in changed.items()}, at=uow.now())
            touched.extend(apply_transitions(uow, transitions, scope=AlertScope(room_id=room_id)))
        return touched

    def _room_rules(self, room_id: int, setting: _RoomSetting, registered: dict[int, int]) -> RoomRules:
        """Built again only when the room's policy, seal, windows or devices changed."""
        fingerprint = (
            setting.parameters,
            setting.room.temperature_class,
            setting.sealed,
            setting.windows,
            setting.devices,
            registered,
        )
        found = self._rules.get(room_id)
        if found is not None and found[0] == fingerprint:
            return found[1]
        context = RoomContext(
            room_id=room_id,
            temperature_class=setting.room.temperature_class,
            sealed=setting.sealed,
            release_windows=setting.windows,
            devices=setting.devices,
            registered_ms=registered,
        )
        rules = RoomRules(setting.parameters, context)
        if len(self._rules) > 10_000:
            self._rules.clear()
        self._rules[room_id] = (fingerprint, rules)
        return rules

    def _take(
        self, session: Session, database: str, rooms: list[int], devices: set[int]
    ) -> dict[StateKey, RuleState]:
        subjects = [f"room:{room}" for room in rooms] + [f"device:{device}" for device in sorted(devices)]
        stored = session.execute(
            text(
                "SELECT rule, subject, xmin::text::bigint FROM rule_condition_states "
                "WHERE rule = ANY(:rules) AND subject = ANY(:subjects)"
            ),
            {"rules": _READING_RULES, "subjects": subjects},
        ).all()
        states: dict[StateKey, RuleState] = {}
        stale: set[StateKey] = set()
        with self._lock:
            for rule, subject, version in stored:
                cached = self._cache.pop((database, (rule, subject)), None)
                if cached is not None and cached[0] == version:
                    states[(rule, subject)] = cached[1]
                else:
                    stale.add((rule, subject))
        if stale:
            for rule, subject, state in session.execute(
                text(
                    "SELECT rule, subject, state FROM rule_condition_states "
                    "WHERE rule = ANY(:rules) AND subject = ANY(:subjects)"
                ),
                {"rules": sorted({key[0] for key in stale}), "subjects": sorted({key[1] for key in stale})},
            ):
                if (rule, subject) in stale:
                    states[(rule, subject)] = RuleState.from_json(state)
        return states

    def _save(self, session: Session, database: str, changed: dict[StateKey, RuleState], at: Any) -> None:
        """One statement for the room's states, in key order (no deadlock between writers); the
        states go back into the cache with the version of the row just written."""
        if not changed:
            return
        keys = sorted(changed)
        # One JSON document for them all: arrays of text would be escaped element by element.
        document = _encode([(key[0], key[1], changed[key].plain()) for key in keys]).decode()
        written = session.execute(
            text(
                "INSERT INTO rule_condition_states (rule, subject, state, updated_at) "
                "SELECT item->>0, item->>1, item->2, :at "
                "FROM jsonb_array_elements(CAST(:document AS jsonb)) "
                "WITH ORDINALITY AS given(item, position) "
                "ORDER BY position "
                "ON CONFLICT (rule, subject) DO UPDATE "
                "SET state = excluded.state, updated_at = excluded.updated_at "
                "RETURNING rule, subject, xmin::text::bigint"
            ),
            {"document": document, "at": at},
        ).all()
        if len(written) > self.capacity:
            return
        with self._lock:
            if len(self._cache) + len(written) > self.capacity:
                self._cache.clear()
            for rule, subject, version in written:
                self._cache[(database, (rule, subject))] = (version, changed[(rule, subject)])


judge_readings = ReadingJudge()


def _registered(session: Session, rooms: list[int]) -> dict[int, dict[int, int]]:
    """When each device of these rooms was registered (ms), for the start-up ignore period."""
    found: dict[int, dict[int, int]] = defaultdict(dict)
    if rooms:
        for device_id, room_id, created_at in session.execute(
            select(Device.id, Device.room_id, Device.created_at).where(Device.room_id.in_(rooms))
        ):
            found[room_id][device_id] = to_ms(created_at)
    return found


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
    """What each room is judged by: its effective policy (``rules.policies``: room, commodity,
    virtual warehouse, warehouse, else its class's template), seals, release windows, devices."""
    found = {room.id: room for room in session.scalars(select(Room).where(Room.id.in_(rooms)))}
    policies = parameters_for_rooms(session, list(found))
    vws = {room.virtual_warehouse_id for room in found.values() if room.virtual_warehouse_id is not None}
    windows: dict[int, list[Window]] = defaultdict(list)
    if vws:
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
        settings[room_id] = _RoomSetting(
            room=room,
            parameters=policies[room_id][0],
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
