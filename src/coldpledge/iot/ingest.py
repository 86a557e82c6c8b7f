"""The one ingestion service behind MQTT and HTTP (DESIGN §4).

``Ingestor.ingest`` takes a chunk of raw messages and stores them in ONE transaction: accepted
messages (one row per device and seq), their readings (one row per device, metric and ts), the
rollups and latest values, device health, dead letters for whatever could not be stored, and one
evidence entry for the chunk. The MQTT worker acknowledges the chunk's messages only after that
commit, so a crash at any point means redelivery, and redelivery finds the rows already there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar, cast, runtime_checkable

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from coldpledge.db import utcnow
from coldpledge.iot import bulk, ingest_sql, rollups
from coldpledge.iot import payload as wire
from coldpledge.iot.models import (
    DeadLetter,
    Device,
    DeviceStatus,
    IngestChunk,
)
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.uow import UnitOfWork

log = logging.getLogger(__name__)

Transport = Literal["mqtt", "http"]
MAX_DEAD_LETTER_BYTES = 65_536
_FAULT_CODES = {None: 0, "sentinel_value": 1, "out_of_physical_range": 2}
DEVICE_LOCK_CLASS = 7302  # advisory lock class for per-device rollup updates on PostgreSQL
_T = TypeVar("_T")


@runtime_checkable
class JudgedAhead(Protocol):
    """Rules that can judge a chunk's readings before its locks are taken
    (``rules.service.ReadingJudge``): ``judge_ahead`` returns what writes the judgement, called
    later in the same transaction."""

    def __call__(self, uow: UnitOfWork, rows: Sequence[Row]) -> object: ...

    def judge_ahead(self, uow: UnitOfWork, rows: Sequence[Row]) -> Callable[[], object]: ...


@dataclass(frozen=True)
class Incoming:
    raw: bytes
    transport: Transport
    topic: str | None = None
    # HTTP only: the device whose bearer token came with the request.
    token_device: str | None = None


@dataclass
class Outcome:
    status: Literal["stored", "duplicate", "dead_letter"]
    device: str | None = None
    seq: int | None = None
    stored: int = 0
    duplicates: int = 0
    faults: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class DeviceInfo:
    id: int
    code: str
    room_id: int
    gateway_id: int | None
    signing: bool
    public_key: bytes | None
    active: bool


@dataclass
class IngestMetrics:
    """Counters since the process started; the worker prints and serves them."""

    messages: int = 0
    readings: int = 0
    duplicate_messages: int = 0
    duplicate_readings: int = 0
    faults: int = 0
    chunks: int = 0
    rules_failed: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, outcomes: Sequence[Outcome]) -> None:
        with self._lock:
            self.chunks += 1
            for outcome in outcomes:
                if outcome.status == "dead_letter":
                    self.dead_letters[outcome.reason or "unknown"] += 1
                    continue
                if outcome.status == "duplicate":
                    self.duplicate_messages += 1
                else:
                    self.messages += 1
                self.readings += outcome.stored
                self.duplicate_readings += outcome.duplicates
                self.faults += outcome.faults
                for rejected in outcome.rejected:
                    self.dead_letters[rejected["reason"]] += 1

    def rules_did_fail(self) -> None:
        with self._lock:
            self.rules_failed += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": self.messages,
                "readings": self.readings,
                "duplicate_messages": self.duplicate_messages,
                "duplicate_readings": self.duplicate_readings,
                "faults": self.faults,
                "chunks": self.chunks,
                "rules_failed": self.rules_failed,
                "dead_letters": dict(self.dead_letters),
            }


class DeviceDirectory:
    """Devices by code, looked up once per chunk (one query for all its devices, never one per
    message). ``ttl`` can keep them longer, but a retired device, a rotated key or a re-wired
    sensor then takes effect only after it, so the service keeps nothing between chunks."""

    def __init__(self, ttl: float = 0.0) -> None:
        self.ttl = ttl
        self._cache: dict[str, tuple[float, DeviceInfo | None]] = {}

    def lookup(self, session: Session, codes: set[str], *, fresh: bool = False) -> dict[str, DeviceInfo]:
        now = time.monotonic()
        wanted = {c for c in codes if fresh or c not in self._cache or self._cache[c][0] < now}
        if wanted:
            found = {
                code: DeviceInfo(id_, code, room_id, gateway_id, signing, key, status == DeviceStatus.ACTIVE)
                for id_, code, room_id, gateway_id, signing, key, status in _devices_named(
                    session, sorted(wanted)
                )
            }
            for code in wanted:
                self._cache[code] = (now + self.ttl, found.get(code))
        return {c: info for c in codes if (info := self._cache[c][1]) is not None}


def _devices_named(session: Session, codes: list[str]) -> list[tuple[Any, ...]]:
    columns = "id, code, room_id, gateway_id, signing, public_key, status"
    dialect, raw = bulk.driver(session)
    if dialect == "postgresql":
        # One array parameter and plain tuples: an IN list of a gateway chunk's 2,000 codes and ORM
        # rows cost a tenth of the worker's time.
        with raw.cursor() as cursor:
            cursor.execute(f"SELECT {columns} FROM devices WHERE code = ANY(%s)", [codes])  # noqa: S608
            return list(cursor.fetchall())
    return [
        tuple(row)
        for row in session.execute(
            select(
                Device.id,
                Device.code,
                Device.room_id,
                Device.gateway_id,
                Device.signing,
                Device.public_key,
                Device.status,
            ).where(Device.code.in_(codes))
        )
    ]


def principal_for(transport: Transport, device: str | None = None) -> Principal:
    name = f"device:{device}" if device else f"ingest-{transport}"
    return Principal(
        user_id=None, username=name, org_id=None, party_type=PartyType.OPERATOR, role=Role.PLATFORM_ADMIN
    )


@dataclass(frozen=True)
class _Refusal:
    reason: str
    detail: str


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)


@dataclass
class _Accepted:
    incoming: Incoming
    message: wire.Message
    sender: DeviceInfo
    digest: str
    signed: bool
    outcome: Outcome
    rows: list[Row] = field(default_factory=list)


class Ingestor:
    def __init__(
        self,
        write_session: Callable[[], Session],
        *,
        clock: Callable[[], datetime] = utcnow,
        metrics: IngestMetrics | None = None,
        directory: DeviceDirectory | None = None,
        rules: Callable[[UnitOfWork, list[Row]], object] | None = None,
    ) -> None:
        self.write_session = write_session
        self.clock = clock
        self.metrics = metrics or IngestMetrics()
        self.directory = directory or DeviceDirectory()
        # Judges the newly stored readings in the same transaction (``rules.service``); passed in,
        # so that telemetry does not depend on the rules and alerts built on top of it.
        self.rules = rules

    def ingest(
        self,
        chunk: Sequence[Incoming],
        *,
        in_turn: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> list[Outcome]:
        """Store a chunk in one transaction; the outcomes are in the chunk's order.
        On PostgreSQL, the rules judge the new readings ahead (``JudgedAhead``) inside
        ``in_turn()``, before the devices' locks are taken for the last step (rollups, latest
        values, last seen, then the rules' writes): the worker orders its writers' chunks there."""
        uow = UnitOfWork(self.write_session, clock=self.clock)
        with uow:
            outcomes = self._ingest(uow, chunk, in_turn)
            uow.commit()
        self.metrics.add(outcomes)
        return outcomes

    def dead_letter(self, incoming: Incoming, reason: str, detail: str) -> None:
        """Set one message aside that the service could not handle at all."""
        uow = UnitOfWork(self.write_session, clock=self.clock)
        with uow:
            row = _dead(incoming, uow.now(), reason, detail, device_code=_claimed_device(incoming.raw))
            uow.session.execute(table_of(DeadLetter).insert(), [row])
            uow.commit()
        self.metrics.add([Outcome("dead_letter", reason=reason, detail=detail)])

    def _ingest(
        self,
        uow: UnitOfWork,
        chunk: Sequence[Incoming],
        in_turn: Callable[[], AbstractContextManager[object]] | None = None,
    ) -> list[Outcome]:
        session = uow.session
        now = uow.now()
        outcomes: list[Outcome] = [Outcome("dead_letter") for _ in chunk]
        dead: list[dict[str, Any]] = []
        parsed: list[tuple[int, wire.Message]] = []
        for position, incoming in enumerate(chunk):
            try:
                parsed.append((position, wire.parse(incoming.raw, now=now)))
            except wire.PayloadError as error:
                claimed = _claimed_device(incoming.raw)
                outcomes[position] = Outcome("dead_letter", claimed, reason=error.reason, detail=str(error))
                dead.append(_dead(incoming, now, error.reason, str(error), device_code=claimed))

        codes = {m.device for _, m in parsed} | {r.device for _, m in parsed for r in m.readings}
        devices = self.directory.lookup(session, codes)
        accepted: list[_Accepted] = []
        for position, message in parsed:
            incoming = chunk[position]
            verdict = self._judge(session, incoming, message, devices)
            if isinstance(verdict, _Refusal):
                reason, detail = verdict.reason, verdict.detail
                sender = devices.get(message.device)
                outcomes[position] = Outcome(
                    "dead_letter", message.device, message.seq, reason=reason, detail=detail
                )
                dead.append(
                    _dead(
                        incoming,
                        now,
                        reason,
                        detail,
                        device_code=message.device,
                        device_id=sender.id if sender else None,
                        seq=message.seq,
                    )
                )
                continue
            sender, signed = verdict
            outcome = Outcome("stored", message.device, message.seq)
            outcomes[position] = outcome
            # A redelivery repeats the bytes exactly; the same seq with other bytes is another message.
            digest = hashlib.sha256(message.raw).hexdigest()
            accepted.append(_Accepted(incoming, message, sender, digest, signed, outcome))

        accepted = self._drop_duplicate_messages(session, accepted, dead, now)

        transport: Transport = chunk[0].transport if chunk else "mqtt"
        chunk_row = IngestChunk(
            received_at=now,
            transport=transport,
            messages=0,
            readings=0,
            duplicates=0,
            rejected=0,
        )
        session.add(chunk_row)
        session.flush()
        inserted_messages = self._insert_messages(session, accepted, chunk_row.id, now)
        stored = [a for a in accepted if (a.sender.id, a.message.seq) in inserted_messages]
        for item in accepted:
            if (
                item.outcome.status == "stored"
                and (item.sender.id, item.message.seq) not in inserted_messages
            ):
                item.outcome.status = "duplicate"
        rows = self._reading_rows(stored, devices, dead, now)
        senders = _newest_per_sender(stored)
        postgresql = session.get_bind().dialect.name == "postgresql"
        new_rows: list[Row] = []
        if postgresql:
            counts = ingest_sql.insert_readings(session, rows)
            partly_new: list[tuple[int, int]] = []
            for item in stored:
                new, faults = counts.get((item.sender.id, item.message.seq), (0, 0))
                item.outcome.stored += new
                item.outcome.faults += faults
                item.outcome.duplicates += len(item.rows) - new
                if new == len(item.rows):
                    new_rows.extend(item.rows)
                elif new:
                    partly_new.append((item.sender.id, item.message.seq))
            if partly_new and self.rules is not None:
                # Rare (a gateway replaying part of a batch): which of these readings are new only
                # the server knows; the rules must not judge a reading twice.
                new_rows.extend(ingest_sql.new_rows_of(session, partly_new, now))
        else:
            new_rows = self._store_readings_in_python(session, stored, rows, senders, now)
        if dead:
            session.execute(table_of(DeadLetter).insert(), dead)

        chunk_row.messages = len(stored)
        chunk_row.readings = sum(item.outcome.stored for item in stored)
        chunk_row.duplicates = sum(1 for o in outcomes if o.status == "duplicate") + sum(
            o.duplicates for o in outcomes
        )
        chunk_row.rejected = len(dead)
        if not (stored or dead):
            # Only redeliveries: nothing happened, so there is nothing to record or evidence.
            session.delete(chunk_row)
        else:
            room_of = {info.id: info.room_id for info in devices.values()}
            rooms = sorted({room_of[row[0]] for row in rows} | {a.sender.room_id for a in stored})
            uow.record(
                principal_for(transport, chunk[0].token_device if chunk else None),
                "telemetry.ingest",
                chunk_row,
                before=None,
                related=[f"room:{room}" for room in rooms],
                data={
                    "messages": [
                        {
                            "device": a.message.device,
                            "seq": a.message.seq,
                            "sha256": a.digest,
                            "signed": a.signed,
                            "readings": a.outcome.stored,
                        }
                        for a in stored
                    ],
                    "dead_letters": [
                        {
                            "reason": d["reason"],
                            "device": d["device_code"],
                            "sha256": hashlib.sha256(d["raw"]).hexdigest(),
                        }
                        for d in dead
                    ],
                },
            )
        if postgresql:
            # Last, and only this under the devices' locks: what follows from the new readings
            # (rollups, latest values, last seen, the rules' writes). Everything before it overlaps
            # the chunk that holds them now; so does judging the readings, which only needs the
            # chunk before this one judged (``JudgedAhead``).
            with in_turn() if in_turn is not None else nullcontext():
                finish = self._judge_ahead(uow, new_rows)
            self._lock_devices(session, stored)
            if counts:
                ingest_sql.fold_new_readings(session, now)
            ingest_sql.senders_seen(
                session,
                [(device_id, item.message.seq, _skew_ms(item, now)) for device_id, item in senders.items()],
                now,
            )
        else:
            finish = self._judge_ahead(uow, new_rows)
        if finish is not None:
            self._guarded(uow, finish, len(new_rows))
        return outcomes

    def _judge_ahead(self, uow: UnitOfWork, new_rows: list[Row]) -> Callable[[], object] | None:
        """What writes the rules' judgement of the new readings, judged now if the rules can
        (``JudgedAhead``); None when there is nothing to judge, or judging failed."""
        rules = self.rules
        if rules is None or not new_rows:
            return None
        if not isinstance(rules, JudgedAhead):
            return lambda: rules(uow, new_rows)
        return self._guarded(uow, lambda: rules.judge_ahead(uow, new_rows), len(new_rows))

    def _guarded(self, uow: UnitOfWork, step: Callable[[], _T], readings: int) -> _T | None:
        """The rules run under a savepoint: should they fail, the readings are still stored and
        acknowledged (losing them, or redelivering them for ever, would be worse than a late
        alert), and the failure is logged and counted (then None)."""
        try:
            with uow.savepoint():
                return step()
        except Exception:
            log.exception("the rules failed on %d readings; the readings are stored", readings)
            self.metrics.rules_did_fail()
            return None

    def _judge(
        self, session: Session, incoming: Incoming, message: wire.Message, devices: dict[str, DeviceInfo]
    ) -> tuple[DeviceInfo, bool] | _Refusal:
        sender = devices.get(message.device)
        if sender is None:
            return _Refusal("unknown_device", f"No device is registered as {message.device}.")
        if not sender.active:
            return _Refusal("device_retired", f"The device {message.device} is retired.")
        if incoming.token_device is not None and incoming.token_device != message.device:
            return _Refusal("token_mismatch", "The message names another device than the token's.")
        if incoming.topic is not None and _topic_device(incoming.topic) != message.device:
            return _Refusal("topic_mismatch", "The topic names another device than the message.")
        if message.signature is None:
            if sender.signing:
                return _Refusal("missing_signature", f"The device {message.device} must sign its messages.")
            return sender, False
        if sender.public_key is None or not wire.verify_signature(message, sender.public_key):
            # The key may have been rotated since it was cached: look again before refusing.
            sender = self.directory.lookup(session, {message.device}, fresh=True).get(message.device, sender)
            devices[message.device] = sender
            if sender.public_key is None or not wire.verify_signature(message, sender.public_key):
                return _Refusal(
                    "bad_signature", "The signature does not verify with the device's registered key."
                )
        return sender, True

    def _drop_duplicate_messages(
        self, session: Session, accepted: list[_Accepted], dead: list[dict[str, Any]], now: datetime
    ) -> list[_Accepted]:
        """Redeliveries (same device and seq, same content) are duplicates; a seq reused for other
        content is a dead letter, since the first message with that seq already stands."""
        if not accepted:
            return []
        keys = sorted({(a.sender.id, a.message.seq) for a in accepted})
        known: dict[tuple[int, int], str] = {
            (device_id, seq): digest
            for device_id, seq, digest in bulk.fetch_by_keys(
                session,
                "telemetry_messages",
                ("device_id", "seq"),
                keys,
                ("device_id", "seq", "payload_sha256"),
            )
        }
        kept: list[_Accepted] = []
        for item in accepted:
            key = (item.sender.id, item.message.seq)
            if key in known:
                if known[key] == item.digest:
                    item.outcome.status = "duplicate"
                    continue
                item.outcome.status = "dead_letter"
                item.outcome.reason = "seq_reused"
                item.outcome.detail = f"seq {item.message.seq} was already used for other content."
                dead.append(
                    _dead(
                        item.incoming,
                        now,
                        "seq_reused",
                        item.outcome.detail,
                        device_code=item.message.device,
                        device_id=item.sender.id,
                        seq=item.message.seq,
                    )
                )
                continue
            known[key] = item.digest
            kept.append(item)
        return kept

    def _lock_devices(self, session: Session, stored: list[_Accepted]) -> None:
        """Serialise concurrent writers and workers per device, so two chunks never merge into one
        rollup from the same old value, and update the same rows in one order. Locks are taken in
        id order, so they cannot deadlock."""
        ids = sorted({a.sender.id for a in stored} | {row[0] for a in stored for row in a.rows})
        if ids:
            session.execute(
                text(
                    "SELECT pg_advisory_xact_lock(:lock_class, d) "
                    "FROM (SELECT unnest(CAST(:ids AS integer[])) AS d ORDER BY 1) AS wanted"
                ),
                {"lock_class": DEVICE_LOCK_CLASS, "ids": ids},
            )

    def _insert_messages(
        self, session: Session, accepted: list[_Accepted], chunk_id: int, now: datetime
    ) -> set[tuple[int, int]]:
        rows = [
            (
                a.sender.id,
                a.message.seq,
                a.digest,
                a.signed,
                len(a.message.readings),
                a.message.sent_at,
                now,
                a.incoming.transport,
                chunk_id,
            )
            for a in accepted
        ]
        found = bulk.insert_new(session, "telemetry_messages", _MESSAGE_COLUMNS, rows, ("device_id", "seq"))
        return {(device_id, seq) for device_id, seq in found}

    def _reading_rows(
        self,
        stored: list[_Accepted],
        devices: dict[str, DeviceInfo],
        dead: list[dict[str, Any]],
        now: datetime,
    ) -> list[Row]:
        rows: list[Row] = []
        # One row per key in the whole chunk: a reading repeated by a later message of the same
        # chunk (a gateway replaying) is a duplicate, and the database never sees both.
        seen: set[tuple[int, int, datetime]] = set()
        for item in stored:
            message, sender = item.message, item.sender
            for rejected in message.rejected:
                item.outcome.rejected.append(
                    {"index": rejected.index, "reason": rejected.reason, "detail": rejected.message}
                )
                dead.append(
                    _dead(
                        item.incoming,
                        now,
                        rejected.reason,
                        rejected.message,
                        device_code=message.device,
                        device_id=sender.id,
                        seq=message.seq,
                        reading_index=rejected.index,
                    )
                )
            for index, reading in enumerate(message.readings):
                device = devices.get(reading.device)
                problem = None
                if device is None:
                    problem = ("unknown_device", f"No device is registered as {reading.device}.")
                elif device.id != sender.id and device.gateway_id != sender.id:
                    problem = ("not_behind_gateway", f"{reading.device} is not wired to {message.device}.")
                elif not device.active:
                    problem = ("device_retired", f"The device {reading.device} is retired.")
                if problem is not None or device is None:
                    reason, detail = problem or ("unknown_device", "")
                    item.outcome.rejected.append({"index": index, "reason": reason, "detail": detail})
                    dead.append(
                        _dead(
                            item.incoming,
                            now,
                            reason,
                            detail,
                            device_code=message.device,
                            device_id=sender.id,
                            seq=message.seq,
                            reading_index=index,
                        )
                    )
                    continue
                key = (device.id, reading.metric.code, reading.ts)
                if key in seen:
                    item.outcome.duplicates += 1
                    continue
                seen.add(key)
                item.rows.append(
                    (
                        device.id,
                        reading.metric.code,
                        reading.ts,
                        reading.value_u,
                        _FAULT_CODES[reading.fault],
                        item.signed,
                        sender.id,
                        message.seq,
                        now,
                    )
                )
            rows.extend(item.rows)
        return rows

    def _store_readings_in_python(
        self,
        session: Session,
        stored: list[_Accepted],
        rows: list[Row],
        senders: dict[int, _Accepted],
        now: datetime,
    ) -> list[Row]:
        """SQLite: what ``ingest_sql`` has PostgreSQL do, with the same results; the new rows."""
        inserted = self._insert_readings(session, rows)
        new_rows: list[Row] = []
        for item in stored:
            outcome = item.outcome
            for row in item.rows:
                if (row[0], row[1], row[2]) in inserted:
                    outcome.stored += 1
                    if row[4]:
                        outcome.faults += 1
                    new_rows.append(row)
                else:
                    outcome.duplicates += 1
        rollups.apply(session, ((r[0], r[1], rollups.to_ms(r[2]), r[3]) for r in new_rows if not r[4]))
        self._update_latest(session, new_rows)
        self._update_devices(session, senders, new_rows, now)
        return new_rows

    def _insert_readings(self, session: Session, rows: list[Row]) -> set[tuple[int, int, datetime]]:
        found = bulk.insert_new(session, "readings", _READING_COLUMNS, rows, ("device_id", "metric", "ts"))
        return {(device_id, metric, ts) for device_id, metric, ts in found}

    def _update_latest(self, session: Session, rows: list[Row]) -> None:
        newest: dict[tuple[int, int], Row] = {}
        for row in rows:
            key = (row[0], row[1])
            if key not in newest or row[2] > newest[key][2]:
                newest[key] = row
        if not newest:
            return
        bulk.upsert(
            session,
            "latest_readings",
            ("device_id", "metric", "ts", "value_u", "fault", "received_at"),
            [(r[0], r[1], r[2], r[3], r[4], r[8]) for r in newest.values()],
            ("device_id", "metric"),
            only_if_newer="ts",
        )

    def _update_devices(
        self, session: Session, senders: dict[int, _Accepted], rows: list[Row], now: datetime
    ) -> None:
        """Senders were seen now; sensors behind a gateway were seen when they last measured."""
        seen: dict[int, datetime] = {}
        for device_id, _metric, ts, _value, _fault, _signed, sender_id, _seq, _at in rows:
            if device_id != sender_id and (device_id not in seen or ts > seen[device_id]):
                seen[device_id] = ts
        table = table_of(Device)
        if senders:
            session.execute(
                update(table)
                .where(table.c.id == bindparam("device"))
                .values(
                    last_seen_at=now,
                    last_seq=func.max(func.coalesce(table.c.last_seq, -1), bindparam("seq")),
                    clock_skew_ms=bindparam("skew"),
                ),
                [
                    {"device": device_id, "seq": item.message.seq, "skew": _skew_ms(item, now)}
                    for device_id, item in senders.items()
                ],
            )
        sensors = {device_id: ts for device_id, ts in seen.items() if device_id not in senders}
        if sensors:
            session.execute(
                update(table)
                .where(
                    table.c.id == bindparam("device"),
                    (table.c.last_seen_at.is_(None)) | (table.c.last_seen_at < bindparam("seen")),
                )
                .values(last_seen_at=bindparam("seen")),
                [{"device": device_id, "seen": ts} for device_id, ts in sensors.items()],
            )


def _newest_per_sender(stored: list[_Accepted]) -> dict[int, _Accepted]:
    """Per sending device, its stored message with the highest seq."""
    senders: dict[int, _Accepted] = {}
    for item in stored:
        current = senders.get(item.sender.id)
        if current is None or item.message.seq > current.message.seq:
            senders[item.sender.id] = item
    return senders


def _skew_ms(item: _Accepted, now: datetime) -> int:
    return (now - item.message.sent_at) // _MS


_MS = timedelta(milliseconds=1)
# A reading row in the order of _READING_COLUMNS.
Row = tuple[int, int, datetime, int, int, bool, int, int, datetime]
_READING_COLUMNS = ingest_sql.READING_COLUMNS
_MESSAGE_COLUMNS = (
    "device_id",
    "seq",
    "payload_sha256",
    "signed",
    "readings",
    "sent_at",
    "received_at",
    "transport",
    "chunk_id",
)


def _topic_device(topic: str) -> str | None:
    parts = topic.split("/")
    return parts[4] if len(parts) == 6 and parts[:2] == ["coldpledge", "v1"] else None


def _claimed_device(raw: bytes) -> str | None:
    """The device a broken message claims to come from, if that much can be read, for operators."""
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    device = document.get("device") if isinstance(document, dict) else None
    return device[:64] if isinstance(device, str) else None


def _dead(
    incoming: Incoming,
    now: datetime,
    reason: str,
    detail: str,
    *,
    device_code: str | None = None,
    device_id: int | None = None,
    seq: int | None = None,
    reading_index: int | None = None,
) -> dict[str, Any]:
    return {
        "received_at": now,
        "transport": incoming.transport,
        "topic": incoming.topic[:300] if incoming.topic else None,
        "device_code": device_code[:64] if device_code else None,
        "device_id": device_id,
        "seq": seq,
        "reading_index": reading_index,
        "reason": reason,
        "detail": detail[:500],
        "raw": incoming.raw[:MAX_DEAD_LETTER_BYTES],
    }
