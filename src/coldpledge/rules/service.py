"""The reading rules on the ingest path: judged in the transaction that stores the readings.

Per chunk, the new readings are grouped by the room of the device that measured them and judged
under that room's policy (the current version of its virtual warehouse's, or the template of its
temperature class for a room under no supervision). The rules' conditions are stored in
``rule_condition_states`` in the same transaction, when they changed, so a restart loses no
pending duration; the recent readings a rule looks back on are not stored again but kept in the
worker's memory and rebuilt from ``readings`` when that memory is stale (``ReadingJudge``). So are
the rooms' settings (policy, seals, release windows, devices): read again only when the settings
log's fingerprint changed (``settings_fingerprint``, one query a chunk). The transitions become
alerts there too (``alerts.service.apply_transitions``): a reading is
committed if and only if what it set off is.

This is the only part of the rules package that does I/O; the judging itself is ``rules.room``.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import String, delete, func, select, text, type_coerce, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from coldpledge.alerts.models import Alert, RuleRoomClock, RuleSettingsChange, RuleSettingsPruned
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.states import load_states, save_states
from coldpledge.config import Settings
from coldpledge.inventory.models import Seal
from coldpledge.iot.models import Device, Reading
from coldpledge.iot.payload import METRICS_BY_CODE
from coldpledge.rules.conditions import Transition, from_ms, to_ms
from coldpledge.rules.policies import effective_policies
from coldpledge.rules.room import RoomContext, RoomRules, StateKey
from coldpledge.rules.stream import Point, RuleState
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import ReleaseWindow, TemperatureClass
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.windows import Window

log = logging.getLogger(__name__)

ROOM_LOCK_CLASS = 7303  # advisory lock class for a room's rule states on PostgreSQL
_encode = msgspec.json.Encoder().encode


@dataclass(frozen=True)
class _RoomSetting:
    temperature_class: TemperatureClass
    parameters: PolicyParameters
    sealed: bool
    windows: tuple[Window, ...]
    devices: dict[int, str]


def rules_for(settings: Settings) -> Callable[[UnitOfWork, list[Any]], object] | None:
    """What the ingest service judges stored readings with, unless the settings turn it off: the
    process's judge, whose memory of rule states the worker's writers and the API share."""
    return judge_readings if settings.rules_on_ingest else None


@dataclass(slots=True)
class _RoomMemory:
    """A worker's memory of one room's reading rules, good while the room's clock shows
    ``version`` and its devices are ``devices``: the states (buffers included) and, per state,
    the durable form stored for it."""

    version: int
    devices: frozenset[int]
    states: dict[StateKey, RuleState] = field(default_factory=dict)
    stored: dict[StateKey, bytes] = field(default_factory=dict)
    # Of the stored states that were settled (``RuleState.settled``): their ``late_ignored`` and
    # ``floor``, to tell when a state, settled still, need not be stored again.
    settled: dict[StateKey, tuple[int, int | None]] = field(default_factory=dict)


@dataclass
class _Ahead:
    """A chunk judged ahead of its locks (``ReadingJudge.judge_ahead``), to be written at finish."""

    database: str
    rows: Sequence[Sequence[Any]]
    version: int  # what the judged rooms' clocks will show
    by_room: dict[int, list[Sequence[Any]]] = field(default_factory=lambda: defaultdict(list))
    rooms: list[int] = field(default_factory=list)  # the rooms judged, in id order
    settings: dict[int, _RoomSetting] = field(default_factory=dict)
    rules: dict[int, RoomRules] = field(default_factory=dict)
    # The version each room's clock showed when its judgement started (None: no clock yet).
    expected: dict[int, int | None] = field(default_factory=dict)
    transitions: dict[int, list[Transition]] = field(default_factory=dict)
    documents: dict[int, dict[StateKey, bytes]] = field(default_factory=dict)
    elsewhere: set[int] = field(default_factory=set)  # rooms that judged some of these states last


class ReadingJudge:
    """Judges newly stored readings (see ``judge_readings``).

    What is stored per (rule, subject) is the condition (``RuleState.durable``), and only when it
    changed; the recent points each rule looks back on stay in the worker's memory, per room. A
    room's clock (``rule_room_clocks``) gets a new version in each transaction that judges its
    readings; when it shows another version than the worker's memory of the room (another worker
    on the shared subscription judged the room, or the transaction that made the memory was
    rolled back), or the room's devices changed, the memory is dropped, and each state the chunk
    needs is read again and its points rebuilt from ``readings`` (one query for the chunk).

    A chunk is judged in two steps. ``judge_ahead`` judges it in memory, before the transaction
    takes its locks (the ingest worker's writers do this in the order their chunks were taken, so
    that a chunk is judged on top of the one before it while that one is still being written),
    and puts the memories back marked with the version the clocks will show. ``finish``, under
    the rooms' advisory locks, moves the clocks on and looks at what they showed before: a room
    whose clock showed another version than the judgement started from (the chunk before was
    rolled back, or another worker judged the room meanwhile) is judged again there, from
    storage; then the alerts and states are written. Under the rooms' locks nothing changes
    between that check and the writes. Safe for the worker's writer threads: a room's memory is
    taken out while a judgement uses it, and the clocks' check catches any other order."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity  # rule states kept in memory, at most
        self._memory: dict[tuple[str, int], _RoomMemory] = {}
        self._held = 0
        self._lock = threading.Lock()
        self._rules: dict[int, tuple[Any, RoomRules]] = {}
        self._settings: dict[str, _KnownSettings] = {}  # per database
        self.rebuilt = 0  # states read again and rebuilt from readings (for tests and metrics)
        self.judged_again = 0  # rooms whose judgement ahead was stale at finish (for tests and metrics)

    def __call__(self, uow: UnitOfWork, rows: Sequence[Sequence[Any]]) -> list[Alert]:
        """Judge newly stored readings, rows as ingest stores them (``device_id, metric, ts,
        value_u, fault, ...``); returns the alerts they opened, moved or resolved."""
        return self.judge_ahead(uow, rows)()

    def judge_ahead(self, uow: UnitOfWork, rows: Sequence[Sequence[Any]]) -> Callable[[], list[Alert]]:
        """Judge the readings in memory, without locks; what it returns writes the judgement
        (judging again any room found stale) and returns the alerts. Call that later in the same
        transaction: nothing is written before."""
        ahead = self._ahead(uow.session, rows)
        return lambda: self._finish(uow, ahead)

    def _ahead(self, session: Session, rows: Sequence[Sequence[Any]]) -> _Ahead:
        database = str(session.get_bind().engine.url)
        ahead = _Ahead(database, rows, _version())
        if not rows:
            return ahead
        known = self._known(session, database)
        room_of = known.rooms_of(session, {row[0] for row in rows})
        for row in rows:
            room_id = room_of.get(row[0])
            if room_id is not None:
                ahead.by_room[room_id].append(row)
        settings, registered = known.settings_of(session, sorted(ahead.by_room))
        ahead.settings = settings
        ahead.rooms = sorted(settings)
        memories: dict[int, _RoomMemory] = {}
        fresh: list[int] = []
        for room_id in ahead.rooms:
            setting = settings[room_id]
            ahead.rules[room_id] = self._room_rules(room_id, setting, registered.get(room_id, {}))
            memory = self._take(database, room_id, setting.devices)
            if memory is None:
                fresh.append(room_id)
                memory = _RoomMemory(0, frozenset(setting.devices))
            else:
                ahead.expected[room_id] = memory.version
            memories[room_id] = memory
        # Read before the states are: should another transaction judge the room after this read,
        # its clock shows another version at finish, and the room is judged again there.
        ahead.expected.update(dict.fromkeys(fresh))
        ahead.expected.update(_read_clocks(session, fresh))
        self._judge_rooms(session, ahead, ahead.rooms, memories)
        for room_id in ahead.rooms:
            memories[room_id].version = ahead.version
            self._put(database, room_id, memories[room_id])
        return ahead

    def _finish(self, uow: UnitOfWork, ahead: _Ahead) -> list[Alert]:
        if not ahead.rooms:
            return []
        session = uow.session
        now = uow.now()
        lock_rooms(session, ahead.rooms)
        before = _bump_clocks(session, ahead.rooms, ahead.version, now)
        stale = [room_id for room_id in ahead.rooms if before.get(room_id) != ahead.expected[room_id]]
        if stale:
            # Judged again from storage under the locks, and given a version of their own: a later
            # chunk judged ahead on top of this one's memories of these rooms must find them stale.
            self.judged_again += len(stale)
            version = _version()
            memories = {
                room_id: _RoomMemory(version, frozenset(ahead.settings[room_id].devices)) for room_id in stale
            }
            self._judge_rooms(session, ahead, stale, memories)
            _bump_clocks(session, stale, version, now)
            for room_id in stale:
                self._put(ahead.database, room_id, memories[room_id])
        if ahead.elsewhere:
            # The states these rows name were judged last in another room (a device moved here):
            # that room's memories elsewhere may hold them, so its clock moves too.
            _bump_clocks(session, sorted(ahead.elsewhere), _version(), now)
        touched: list[Alert] = []
        documents: dict[StateKey, bytes] = {}
        for room_id in ahead.rooms:
            documents.update(ahead.documents[room_id])
            touched.extend(
                apply_transitions(uow, ahead.transitions[room_id], scope=AlertScope(room_id=room_id))
            )
        _store(session, documents, now)
        return touched

    def _judge_rooms(
        self, session: Session, ahead: _Ahead, rooms: list[int], memories: dict[int, _RoomMemory]
    ) -> None:
        """Judge these rooms' readings on top of their memories, noting in ``ahead`` each room's
        transitions and the states to store."""
        needed = {room_id: ahead.rules[room_id].keys_for(ahead.by_room[room_id]) for room_id in rooms}
        self._recall(session, ahead, memories, needed)
        for room_id in rooms:
            memory = memories[room_id]
            rules = ahead.rules[room_id]
            documents = ahead.documents[room_id] = {}
            changed, ahead.transitions[room_id] = rules.evaluate(memory.states, ahead.by_room[room_id])
            for key, state in changed.items():
                memory.states[key] = state
                if not state.dirty:
                    continue
                settled = state.settled()
                floor = state.buffer[0][0] if state.buffer else None
                if settled and _settled_still(memory.settled.get(key), state.late_ignored, floor):
                    # Not stored, yet clean: what makes it differ again (a condition moving, a
                    # reading left out, the window moving on) marks it dirty again.
                    state.dirty = False
                    continue
                document = state.durable()
                document["room"] = room_id
                encoded = _encode(document)
                state.dirty = False
                if memory.stored.get(key) != encoded:
                    memory.stored[key] = documents[key] = encoded
                    if settled and key[1] != rules.room_subject:
                        memory.settled[key] = (state.late_ignored, floor)
                    else:
                        memory.settled.pop(key, None)

    def _known(self, session: Session, database: str) -> _KnownSettings:
        """What this process knows of the rooms' settings, if nothing changed since it learnt it
        (``rule_settings_changes``), else an empty start."""
        fingerprint = settings_fingerprint(session)
        known = self._settings.get(database)
        if known is None or known.fingerprint != fingerprint or len(known.room_of) > 1_000_000:
            known = self._settings[database] = _KnownSettings(fingerprint)
        return known

    def _take(self, database: str, room_id: int, devices: dict[int, str]) -> _RoomMemory | None:
        """The memory of the room, unless there is none or it was of other devices. Whether it is
        current the room's clock tells at finish."""
        with self._lock:
            memory = self._memory.pop((database, room_id), None)
            if memory is not None:
                self._held -= len(memory.states)
        if memory is None or memory.devices != frozenset(devices):
            return None
        return memory

    def _put(self, database: str, room_id: int, memory: _RoomMemory) -> None:
        size = len(memory.states)
        if size > self.capacity:
            return
        with self._lock:
            replaced = self._memory.pop((database, room_id), None)  # a room judged again at finish
            if replaced is not None:
                self._held -= len(replaced.states)
            if self._held + size > self.capacity:
                self._memory.clear()
                self._held = 0
            self._memory[(database, room_id)] = memory
            self._held += size

    def _recall(
        self,
        session: Session,
        ahead: _Ahead,
        memories: dict[int, _RoomMemory],
        needed: dict[int, set[StateKey]],
    ) -> None:
        """The states the chunk needs and the memories lack: read from ``rule_condition_states``
        and their points rebuilt from ``readings`` (the chunk's own readings left out: they are
        judged next), each device's from the earliest floor of a state it feeds."""
        missing = {
            room_id: sorted(key for key in needed[room_id] if key not in memories[room_id].states)
            for room_id in needed
        }
        wanted = [key for keys in missing.values() for key in keys]
        if not wanted:
            return
        rules, settings = ahead.rules, ahead.settings
        stored = _load_durable(session, wanted)
        floors: dict[int, int] = {}
        for room_id, keys in missing.items():
            room_subject = rules[room_id].room_subject
            for key in keys:
                data = stored.get(key)
                if data is None or "buffer" in data or data.get("floor") is None:
                    continue
                floor = data["floor"]
                devices = settings[room_id].devices if key[1] == room_subject else (int(key[1][7:]),)
                for device in devices:
                    if device not in floors or floor < floors[device]:
                        floors[device] = floor
        points: dict[StateKey, list[Point]] = defaultdict(list)
        if floors:
            fresh = {(row[0], row[1], row[2]) for row in ahead.rows}
            room_of = {device: room_id for room_id in missing for device in settings[room_id].devices}
            for device, metric, ts, value_u, fault in _stored_readings(session, floors):
                if (device, metric, ts) in fresh:
                    continue
                room_id = room_of[device]
                point = (to_ms(ts), device, value_u, fault, metric)
                for rule, per_device in rules[room_id].rules_for_metric(metric):
                    subject = f"device:{device}" if per_device else rules[room_id].room_subject
                    points[(rule.rule, subject)].append(point)
        for room_id, keys in missing.items():
            memory = memories[room_id]
            for key in keys:
                data = stored.get(key)
                if data is None:
                    continue  # never judged: starts afresh
                state = memory.states[key] = RuleState.restore(data, points.get(key, ()))
                memory.stored[key] = _encode({**state.durable(), "room": data.get("room")})
                # Stored whole (before 0009) or by another room: stored again in this chunk.
                state.dirty = "buffer" in data or data.get("room") != room_id
                if not state.dirty and key[1] != rules[room_id].room_subject and state.settled():
                    memory.settled[key] = (state.late_ignored, data["floor"])
                self.rebuilt += 1
                if (room := data.get("room")) not in (None, room_id):
                    ahead.elsewhere.add(room)

    def _room_rules(self, room_id: int, setting: _RoomSetting, registered: dict[int, int]) -> RoomRules:
        """Built again only when the room's policy, seal, windows or devices changed."""
        fingerprint = (
            setting.parameters,
            setting.temperature_class,
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
            temperature_class=setting.temperature_class,
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


@dataclass
class _KnownSettings:
    """The rooms' settings as read while the settings log showed ``fingerprint``: valid as long as
    it does (``settings_fingerprint``), learnt a room at a time as chunks need them. Every entry
    was read after the fingerprint, so it is at least as new as the fingerprint says; the writer
    threads may add the same entry twice, alike."""

    fingerprint: tuple[int, int]
    room_of: dict[int, int | None] = field(default_factory=dict)  # device -> room (None: none)
    devices: dict[int, dict[int, str]] = field(default_factory=dict)  # room -> device -> kind
    settings: dict[int, _RoomSetting | None] = field(default_factory=dict)  # None: not judged
    registered: dict[int, dict[int, int]] = field(default_factory=dict)

    def rooms_of(self, session: Session, devices: set[int]) -> dict[int, int | None]:
        """The room of each device (``room_of``), those not yet known read with their rooms'
        devices."""
        unknown = [device for device in devices if device not in self.room_of]
        if unknown:
            room_of, members = _rooms_and_devices(session, set(unknown))
            self.devices.update(members)
            self.room_of.update(room_of)
            for device in unknown:
                self.room_of.setdefault(device, None)
        return self.room_of

    def settings_of(
        self, session: Session, rooms: list[int]
    ) -> tuple[dict[int, _RoomSetting], dict[int, dict[int, int]]]:
        """Each room's settings (rooms not judged left out) and its devices' registration times."""
        unknown = [room for room in rooms if room not in self.settings]
        if unknown:
            found = room_settings(session, unknown, {room: self.devices.get(room, {}) for room in unknown})
            startup = [room for room, setting in found.items() if setting.parameters.startup_ignore_minutes]
            self.registered.update(_registered(session, startup))
            for room in unknown:
                self.settings[room] = found.get(room)
        settings = {room: setting for room in rooms if (setting := self.settings[room]) is not None}
        return settings, {room: self.registered.get(room, {}) for room in settings}


# The tokens' sum is kept modulo this (``RuleSettingsPruned``).
_TOKENS_MODULUS = 1 << 62


def settings_fingerprint(session: Session) -> tuple[int, int]:
    """Of the settings log (migration 0015): the changes ever committed (rows and pruned ones) and
    their tokens' sum. It changes with every committed change to what rooms are judged by, in
    whatever order those commit, and a change rolled back and another made instead give another
    sum. Read it before the settings it vouches for."""
    count, tokens = session.execute(
        text(
            "SELECT (SELECT count(*) FROM rule_settings_changes) + pruned, "
            "(SELECT coalesce(sum(token), 0) FROM rule_settings_changes) + tokens "
            "FROM rule_settings_pruned WHERE id = 1"
        )
    ).one()
    return int(count), int(tokens) % _TOKENS_MODULUS


def prune_settings_log(uow: UnitOfWork, keep: int = 0) -> dict[str, int]:
    """Delete the settings log's committed rows but the newest ``keep``, adding their count and
    tokens to ``rule_settings_pruned`` in the same transaction (the scheduler's duty, every tick:
    the workers count the rows for every chunk)."""
    with uow:
        session = uow.session
        newest = session.scalar(select(func.max(RuleSettingsChange.id)))
        gone: list[int] = []
        if newest is not None:
            # The rows deleted are counted from what the deletion returns: a change committed
            # between a count and a deletion would otherwise be deleted uncounted.
            gone = list(
                session.scalars(
                    delete(RuleSettingsChange)
                    .where(RuleSettingsChange.id <= newest - keep)
                    .returning(RuleSettingsChange.token)
                )
            )
        if gone:
            # Added in the statement, not read and written back: two schedulers may prune at once.
            session.execute(
                update(RuleSettingsPruned)
                .where(RuleSettingsPruned.id == 1)
                .values(
                    pruned=RuleSettingsPruned.pruned + len(gone),
                    tokens=(RuleSettingsPruned.tokens + sum(gone)) % _TOKENS_MODULUS,
                )
            )
        uow.commit()
    return {"pruned": len(gone)}


judge_readings = ReadingJudge()


# How far a settled state's stored floor may lag behind its buffer's before it is stored again:
# a state rebuilt from storage reads the readings from the floor on.
SETTLED_LAG_MS = 2 * 3_600_000


def _settled_still(stored: tuple[int, int | None] | None, late_ignored: int, floor: int | None) -> bool:
    """Whether a settled state need not be stored: what is stored for it is settled too (of a
    device's rules only: a room's judge from all their buffer holds, and are two states a room),
    with the same count of late readings left out and a floor not too far behind."""
    if stored is None or stored[0] != late_ignored:
        return False
    if stored[1] is None or floor is None:
        return stored[1] is None and floor is None
    return floor - stored[1] <= SETTLED_LAG_MS


def _rooms_and_devices(
    session: Session, chunk_devices: set[int]
) -> tuple[dict[int, int], dict[int, dict[int, str]]]:
    """The room of each device in the rooms of these devices, and each such room's devices with
    their kinds (for ``room_settings``), in one query. On PostgreSQL one array parameter in (an
    IN list of a chunk's two thousand devices is that many parameters to render and send) and
    one row a room out, its devices and kinds as arrays."""
    room_of: dict[int, int] = {}
    devices: dict[int, dict[int, str]] = {}
    if session.get_bind().dialect.name == "postgresql":
        for room_id, ids, kinds in session.execute(
            text(
                "SELECT room_id, array_agg(id ORDER BY id), array_agg(CAST(kind AS text) ORDER BY id) "
                "FROM devices WHERE room_id IN "
                "(SELECT room_id FROM devices WHERE id = ANY(CAST(:ids AS integer[]))) GROUP BY room_id"
            ),
            {"ids": sorted(chunk_devices)},
        ):
            devices[room_id] = dict(zip(ids, kinds, strict=True))
            room_of.update(dict.fromkeys(ids, room_id))
        return room_of, devices
    rooms = select(Device.room_id).where(Device.id.in_(chunk_devices)).scalar_subquery()
    for device_id, room_id, kind in session.execute(
        select(Device.id, Device.room_id, type_coerce(Device.kind, String)).where(Device.room_id.in_(rooms))
    ):
        devices.setdefault(room_id, {})[device_id] = kind
        room_of[device_id] = room_id
    return room_of, devices


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


def room_settings(
    session: Session, rooms: list[int], devices: dict[int, dict[int, str]] | None = None
) -> dict[int, _RoomSetting]:
    """What each room is judged by: its effective policy (``rules.policies``: room, commodity,
    virtual warehouse, warehouse, else its class's template), seals, release windows, devices
    (``devices``, when the caller has read them: room -> device -> kind)."""
    policies = effective_policies(session, rooms)
    vws = {p.virtual_warehouse_id for p in policies.values() if p.virtual_warehouse_id is not None}
    windows: dict[int, list[Window]] = defaultdict(list)
    if vws:
        for vw, weekdays, start, end, timezone in session.execute(
            select(
                ReleaseWindow.virtual_warehouse_id,
                ReleaseWindow.weekdays,
                ReleaseWindow.start_minute,
                ReleaseWindow.end_minute,
                ReleaseWindow.timezone,
            )
            .where(ReleaseWindow.virtual_warehouse_id.in_(vws), ReleaseWindow.removed_at.is_(None))
            .order_by(ReleaseWindow.id)
        ):
            windows[vw].append(Window(weekdays, start, end, timezone))
    sealed = set(
        session.scalars(select(Seal.room_id).where(Seal.room_id.in_(rooms), Seal.removed_at.is_(None)))
    )
    if devices is None:
        devices = _devices_of_rooms(session, rooms)
    settings = {}
    for room_id, policy in policies.items():
        placed_in = policy.virtual_warehouse_id
        settings[room_id] = _RoomSetting(
            temperature_class=policy.temperature_class,
            parameters=policy.parameters,
            sealed=room_id in sealed,
            windows=tuple(windows.get(placed_in, ())) if placed_in is not None else (),
            devices=devices.get(room_id, {}),
        )
    return settings


def _devices_of_rooms(session: Session, rooms: list[int]) -> dict[int, dict[int, str]]:
    """Room -> device -> kind (a DeviceKind value). The kind as text: a room holds hundreds of
    devices, read for every chunk, and the enum's conversion row by row was most of the time."""
    devices: dict[int, dict[int, str]] = defaultdict(dict)
    for device_id, room_id, kind in session.execute(
        select(Device.id, Device.room_id, type_coerce(Device.kind, String)).where(Device.room_id.in_(rooms))
    ):
        devices[room_id][device_id] = kind
    return devices


def _version() -> int:
    """A fresh clock version: unique, not secret. From ``secrets`` rather than the global ``random``,
    whose shared state the ingest threads must not move under other code (Hypothesis, in the tests,
    refuses a strategy that sees it move)."""
    return secrets.randbits(62)


def _bump_clocks(session: Session, rooms: list[int], version: int, at: datetime) -> dict[int, int]:
    """Give these rooms' clocks ``version``; returns the versions they showed before (rooms
    without a clock yet are left out)."""
    if not rooms:
        return {}
    if session.get_bind().dialect.name == "postgresql":
        # The CTE's select sees the rows as they were before the insert in the same statement.
        found = session.execute(
            text(
                "WITH wanted AS (SELECT unnest(CAST(:rooms AS integer[])) AS room_id), "
                "before AS (SELECT room_id, version FROM rule_room_clocks JOIN wanted USING (room_id)), "
                "bumped AS (INSERT INTO rule_room_clocks (room_id, version, updated_at) "
                "SELECT room_id, :version, :at FROM wanted ORDER BY room_id "
                "ON CONFLICT (room_id) DO UPDATE "
                "SET version = excluded.version, updated_at = excluded.updated_at) "
                "SELECT room_id, version FROM before"
            ),
            {"rooms": rooms, "version": version, "at": at},
        ).all()
        return dict(found)
    clocks = _read_clocks(session, rooms)
    statement = sqlite_insert(RuleRoomClock).values(
        [{"room_id": room_id, "version": version, "updated_at": at} for room_id in rooms]
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["room_id"],
            set_={"version": statement.excluded.version, "updated_at": statement.excluded.updated_at},
        )
    )
    return clocks


def _read_clocks(session: Session, rooms: list[int]) -> dict[int, int]:
    """The versions these rooms' clocks show (rooms without a clock yet left out)."""
    if not rooms:
        return {}
    return dict(
        session.execute(
            select(RuleRoomClock.room_id, RuleRoomClock.version).where(RuleRoomClock.room_id.in_(rooms))
        ).all()
    )


def _load_durable(session: Session, keys: list[StateKey]) -> dict[StateKey, dict[str, Any]]:
    """The stored states of these keys (the reading rules' only)."""
    if session.get_bind().dialect.name != "postgresql":
        return load_states(session, keys)
    wanted = set(keys)
    found: dict[StateKey, dict[str, Any]] = {}
    for rule, subject, state in session.execute(
        text(
            "SELECT rule, subject, state FROM rule_condition_states "
            "WHERE rule = ANY(:rules) AND subject = ANY(:subjects)"
        ),
        {"rules": sorted({key[0] for key in keys}), "subjects": sorted({key[1] for key in keys})},
    ):
        if (rule, subject) in wanted:
            found[(rule, subject)] = state
    return found


def _stored_readings(session: Session, floors: dict[int, int]) -> list[Any]:
    """``device_id, metric, ts, value_u, fault`` of each device's readings from its floor (ms) on."""
    devices = sorted(floors)
    lowest = from_ms(min(floors.values()))
    if session.get_bind().dialect.name == "postgresql":
        # Every metric named, so that the primary key (device, metric, ts) finds the span; the
        # constant lower bound lets the planner skip older partitions.
        return list(
            session.execute(
                text(
                    "SELECT r.device_id, r.metric, r.ts, r.value_u, r.fault "
                    "FROM unnest(CAST(:devices AS integer[]), CAST(:floors AS timestamptz[])) "
                    "AS f(device_id, floor) "
                    "JOIN readings AS r ON r.device_id = f.device_id AND r.ts >= f.floor "
                    "WHERE r.metric = ANY(CAST(:metrics AS smallint[])) AND r.ts >= :lowest"
                ),
                {
                    "devices": devices,
                    "floors": [from_ms(floors[device]) for device in devices],
                    "metrics": sorted(METRICS_BY_CODE),
                    "lowest": lowest,
                },
            ).all()
        )
    found: list[Any] = []
    for start in range(0, len(devices), 400):
        for row in session.execute(
            select(Reading.device_id, Reading.metric, Reading.ts, Reading.value_u, Reading.fault).where(
                Reading.device_id.in_(devices[start : start + 400]), Reading.ts >= lowest
            )
        ):
            if to_ms(row[2]) >= floors[row[0]]:
                found.append(row)
    return found


def _store(session: Session, documents: dict[StateKey, bytes], at: datetime) -> None:
    """The changed states in one statement, in key order (no deadlock between writers)."""
    if not documents:
        return
    keys = sorted(documents)
    if session.get_bind().dialect.name != "postgresql":
        save_states(session, {key: msgspec.json.decode(documents[key]) for key in keys}, at=at)
        return
    # One JSON document for them all: arrays of text would be escaped element by element.
    document = _encode([(key[0], key[1], msgspec.Raw(documents[key])) for key in keys]).decode()
    session.execute(
        text(
            "INSERT INTO rule_condition_states (rule, subject, state, updated_at) "
            "SELECT item->>0, item->>1, item->2, :at "
            "FROM jsonb_array_elements(CAST(:document AS jsonb)) "
            "WITH ORDINALITY AS given(item, position) "
            "ORDER BY position "
            "ON CONFLICT (rule, subject) DO UPDATE "
            "SET state = excluded.state, updated_at = excluded.updated_at"
        ),
        {"document": document, "at": at},
    )
