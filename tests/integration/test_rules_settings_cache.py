"""The ingest path keeps what each room is judged by (policy, seals, release windows, devices)
and reads it again only when the settings log says something changed (migration 0015,
``rules.service.settings_fingerprint``): every change to those, by whatever code, must move the
fingerprint, and a worker must judge by the new settings from its next chunk on."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from coldpledge.alerts.models import Alert
from coldpledge.db import Database
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.rules.service import ReadingJudge, prune_settings_log, settings_fingerprint
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import supervision
from coldpledge.warehouses.models import PolicyScope, TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import PolicyIn
from tests.conftest import TestDB as Transaction
from tests.iot import Sender, new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(second=0, microsecond=0)

# Each table and column a room's settings are read from, and a row to touch (set to itself).
WATCHED = [
    ("rooms", "temperature_class", "TRUE"),
    ("rooms", "virtual_warehouse_id", "TRUE"),
    ("lots", "status", "TRUE"),
    ("lots", "room_id", "TRUE"),
    ("receipts", "lot_id", "status NOT IN ('cancelled', 'replaced', 'split')"),
    ("pledges", "status", "TRUE"),
    ("supervision_policies", "version", "TRUE"),
    ("release_windows", "note", "TRUE"),
    ("seals", "removed_at", "TRUE"),
    ("devices", "room_id", "TRUE"),
    ("devices", "kind", "TRUE"),
]
# Columns nothing is judged by: the ingest path updates some for every chunk.
UNWATCHED = [
    ("devices", "last_seen_at"),
    ("devices", "last_seq"),
    ("lots", "location"),
    ("pledges", "note"),
]


def fingerprint(db: Transaction) -> tuple[int, int]:
    with db.session() as session:
        return settings_fingerprint(session)


def touch(db: Transaction, table: str, column: str, where: str = "TRUE") -> None:
    # The names come from this file's own lists.
    first_row = f"SELECT min(id) FROM {table} WHERE {where}"  # noqa: S608
    same_again = f"UPDATE {table} SET {column} = {column} WHERE id = :id"  # noqa: S608
    with db.session() as session:
        first = session.execute(text(first_row)).scalar()
        assert first is not None, f"the world has a row in {table}"
        session.execute(text(same_again), {"id": first})
        session.commit()


@pytest.mark.parametrize(("table", "column", "where"), WATCHED)
def test_a_change_to_any_column_a_room_is_judged_by_moves_the_settings_fingerprint(
    db: Transaction, world: World, table: str, column: str, where: str
) -> None:
    new_device(db.uow(), world.who("admin"), world.rooms["DJ-F18"], signing=False)  # the world has none
    before = fingerprint(db)
    touch(db, table, column, where)
    assert fingerprint(db) != before


@pytest.mark.parametrize(("table", "column"), UNWATCHED)
def test_a_change_to_a_column_nothing_is_judged_by_leaves_the_fingerprint(
    db: Transaction, world: World, table: str, column: str
) -> None:
    new_device(db.uow(), world.who("admin"), world.rooms["DJ-F18"], signing=False)
    before = fingerprint(db)
    touch(db, table, column)
    assert fingerprint(db) == before


def test_readings_stored_leave_the_fingerprint_and_a_new_device_moves_it(
    db: Transaction, world: World
) -> None:
    before = fingerprint(db)
    sender = new_device(db.uow(), world.who("admin"), world.rooms["DJ-F18"], signing=False)
    registered = fingerprint(db)
    assert registered != before
    worker = Ingestor(db.session, clock=lambda: NOW, rules=None)
    minutes_of(worker, [sender], NOW - timedelta(hours=1), [-20.0] * 3)
    assert fingerprint(db) == registered


def test_a_change_rolled_back_and_another_made_give_another_fingerprint(
    db: Transaction, world: World
) -> None:
    # The same number of changes, and on SQLite the same row ids: only the tokens tell them apart.
    before = fingerprint(db)
    with db.session() as session:
        with session.begin_nested() as undone:
            session.execute(text("UPDATE rooms SET temperature_class = temperature_class"))
            rolled_back = settings_fingerprint(session)
            undone.rollback()
        assert settings_fingerprint(session) == before
        session.execute(text("UPDATE rooms SET temperature_class = temperature_class"))
        made = settings_fingerprint(session)
        session.commit()
    assert rolled_back != before
    assert made != before
    assert made != rolled_back


def test_pruning_the_settings_log_leaves_the_fingerprint(db: Transaction, world: World) -> None:
    for _ in range(3):
        touch(db, "rooms", "temperature_class")
    before = fingerprint(db)
    report = prune_settings_log(db.uow(), keep=1)
    assert report["pruned"] >= 2
    assert fingerprint(db) == before
    with db.session() as session:
        assert session.execute(text("SELECT count(*) FROM rule_settings_changes")).scalar() == 1
    touch(db, "rooms", "temperature_class")
    assert fingerprint(db) != before


def test_two_schedulers_pruning_at_once_lose_neither_count(database: Database) -> None:
    # One pruning holds its deletion of the newest rows and its addition, uncommitted, while the
    # scheduler's prunes the older ones: the second must add to what the first committed.
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time")
    with database.write_session() as session:
        for _ in range(6):
            session.execute(text("INSERT INTO rule_settings_changes (token) VALUES (7)"))
        session.commit()
        before = settings_fingerprint(session)
        newest = session.execute(text("SELECT max(id) FROM rule_settings_changes")).scalar_one()
    other = threading.Thread(target=lambda: prune_settings_log(UnitOfWork(database.write_session), keep=3))
    with database.engine.connect() as held, held.begin():
        tokens = held.execute(
            text("DELETE FROM rule_settings_changes WHERE id > :from RETURNING token"), {"from": newest - 3}
        ).scalars()
        gone = list(tokens)
        held.execute(
            text("UPDATE rule_settings_pruned SET pruned = pruned + :n, tokens = tokens + :t WHERE id = 1"),
            {"n": len(gone), "t": sum(gone)},
        )
        other.start()
        time.sleep(0.5)  # it deletes the older rows and waits for this transaction's row
    other.join(timeout=30)
    assert not other.is_alive()
    with database.write_session() as session:
        assert settings_fingerprint(session) == before
        assert session.execute(text("SELECT count(*) FROM rule_settings_changes")).scalar_one() == 0


def minutes_of(worker: Ingestor, senders: list[Sender], start: datetime, values: list[float]) -> None:
    """One chunk: a reading a minute of each sender."""
    batch = [
        Incoming(
            sender.raw([reading(start + timedelta(minutes=at), value)], sent_at=NOW), "mqtt", sender.topic
        )
        for at, value in enumerate(values)
        for sender in senders
    ]
    worker.ingest(batch)


def band_alerts(db: Transaction, senders: list[Sender]) -> list[tuple[str, str]]:
    with db.reader() as session:
        return [
            (alert.subject, alert.severity)
            for alert in session.scalars(
                select(Alert)
                .where(
                    Alert.rule == "temperature_band",
                    Alert.subject.in_([f"device:{sender.id}" for sender in senders]),
                )
                .order_by(Alert.subject)
            )
        ]


def test_a_worker_judges_by_a_rooms_new_policy_from_its_next_chunk_on(db: Transaction, world: World) -> None:
    senders = [
        new_device(db.uow(), world.who("admin"), world.rooms["DJ-F18"], signing=False) for _ in range(3)
    ]
    worker = Ingestor(db.session, clock=lambda: NOW, rules=ReadingJudge())
    start = NOW - timedelta(hours=2)
    minutes_of(worker, senders, start, [-20.0] * 20)
    assert band_alerts(db, senders) == []

    # The room's own policy puts the warning line below what the probes read.
    template = default_parameters(TemperatureClass.FROZEN)
    line = template.temperature.model_copy(update={"warning_above_mc": -21_000, "warning_minutes": 5})
    parameters = template.model_copy(update={"temperature": line})
    supervision.set_policy(
        db.uow(),
        world.who("supervisor"),
        PolicyScope.ROOM,
        world.rooms["DJ-F18"],
        PolicyIn(parameters=parameters, reason="测试：更严的温度线"),
    )
    minutes_of(worker, senders, start + timedelta(minutes=20), [-20.0] * 10)
    assert band_alerts(db, senders) == sorted((f"device:{sender.id}", "major") for sender in senders)
