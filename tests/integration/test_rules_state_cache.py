"""The ingest path keeps the rule states in memory (``rules.service.ReadingJudge``), stores only
their conditions, and reads them again, rebuilding their points from the stored readings, when
another worker judged the room since. Two workers judging the same room in turn, or a worker
that remembers nothing, must end where one worker does, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.alerts.models import Alert, RuleConditionState, RuleRoomClock
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.registry import bind
from coldpledge.iot.schemas import BindIn
from coldpledge.rules.service import ReadingJudge
from tests.conftest import TestDB as Transaction
from tests.iot import WARMING, Sender, alerts_on, new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def probes(db: Transaction, world: World) -> list[Sender]:
    return [new_device(db.uow(), world.who("admin"), world.rooms["DJ-F18"], signing=False) for _ in range(3)]


def messages(senders: list[Sender], start: datetime) -> list[Incoming]:
    found = []
    for minute, warm in enumerate(WARMING):
        for index, sender in enumerate(senders):
            value = warm if index == 0 else -20.0
            raw = sender.raw([reading(start + timedelta(minutes=minute), value)], sent_at=NOW)
            found.append(Incoming(raw, "mqtt", sender.topic))
    return found


def outcome(db: Transaction, senders: list[Sender], start: datetime) -> list[tuple[Any, ...]]:
    """The alerts on the probes, by probe position and with times from the start of the run."""
    with db.reader() as session:
        return alerts_on(session, senders, start)


def test_two_workers_judging_a_room_in_turn_end_with_the_alerts_of_one(db: Transaction, world: World) -> None:
    alone_start, shared_start = NOW - timedelta(hours=4), NOW - timedelta(hours=2)
    alone = probes(db, world)
    worker = Ingestor(db.session, clock=lambda: NOW, rules=ReadingJudge())
    batch = messages(alone, alone_start)
    for first in range(0, len(batch), 7):
        worker.ingest(batch[first : first + 7])

    shared = probes(db, world)
    workers = [Ingestor(db.session, clock=lambda: NOW, rules=ReadingJudge()) for _ in range(2)]
    batch = messages(shared, shared_start)
    for turn, first in enumerate(range(0, len(batch), 7)):
        # Uneven turns, so each worker's memory is sometimes current and sometimes stale.
        workers[0 if turn % 3 else 1].ingest(batch[first : first + 7])

    expected = outcome(db, alone, alone_start)
    assert {(row[1], row[2]) for row in expected} >= {
        ("temperature_band", "critical"),
        ("sensor_disagreement", "critical"),
    }
    assert outcome(db, shared, shared_start) == expected


def failing_every_fourth(judge: ReadingJudge) -> Any:
    calls = {"n": 0}

    def judge_then_fail(uow: Any, rows: list[Any]) -> object:
        found = judge(uow, rows)
        calls["n"] += 1
        if calls["n"] % 4 == 0:
            raise RuntimeError("the rules fail after writing their states")
        return found

    return judge_then_fail


def test_a_worker_whose_judgement_was_rolled_back_reads_the_states_again(
    db: Transaction, world: World
) -> None:
    # Every fourth chunk's judgement is rolled back after it wrote its states (and put them in
    # memory); the next chunk must start from the states as stored. A judge that keeps nothing in
    # memory (capacity 0), failing the same way, is the reference.
    runs = []
    for hours, judge in ((4, ReadingJudge()), (2, ReadingJudge(capacity=0))):
        senders, start = probes(db, world), NOW - timedelta(hours=hours)
        worker = Ingestor(db.session, clock=lambda: NOW, rules=failing_every_fourth(judge))
        batch = messages(senders, start)
        for first in range(0, len(batch), 7):
            worker.ingest(batch[first : first + 7])
        assert worker.metrics.snapshot()["rules_failed"] == len(range(0, len(batch), 7)) // 4
        runs.append(outcome(db, senders, start))
    assert runs[0] == runs[1]
    assert runs[0], "the warming probe still raised alerts"


class CommitFails(Exception):
    """The transaction fails as it commits (the database went away, say), after the rules ran."""


def failing_commits(db: Transaction) -> Callable[[], Session]:
    def session() -> Session:
        found = db.session()

        def fail() -> None:
            raise CommitFails

        found.commit = fail  # type: ignore[method-assign]
        return found

    return session


def test_a_chunk_judged_on_top_of_one_that_was_rolled_back_is_judged_again_from_storage(
    db: Transaction, world: World
) -> None:
    # The ingest worker judges a chunk ahead of its locks, on top of the memories the chunk before
    # it left, before that one has committed (``ReadingJudge.judge_ahead``). Every fifth chunk
    # here is judged, then its whole transaction rolled back; the next is judged ahead on those
    # memories, and must be judged again from what is stored. The reference never sends those
    # chunks at all.
    runs = []
    for hours, lose in ((4, False), (2, True)):
        senders, start = probes(db, world), NOW - timedelta(hours=hours)
        judge = ReadingJudge()
        worker = Ingestor(db.session, clock=lambda: NOW, rules=judge)
        failing = Ingestor(failing_commits(db), clock=lambda: NOW, rules=judge)
        batch = messages(senders, start)
        after_lost = 0  # chunks that come after a lost one
        previous_lost = False
        for index, first in enumerate(range(0, len(batch), 7)):
            chunk = batch[first : first + 7]
            if index % 5 == 4:
                if lose:
                    with pytest.raises(CommitFails):
                        failing.ingest(chunk)
                    previous_lost = True
                continue
            worker.ingest(chunk)
            after_lost += previous_lost
            previous_lost = False
        assert judge.judged_again == after_lost, "each chunk after a lost one was judged again, no other"
        assert not lose or after_lost >= 5
        runs.append(outcome(db, senders, start))
    assert runs[0] == runs[1]
    assert {(row[1], row[2]) for row in runs[0]} >= {
        ("temperature_band", "critical"),
        ("sensor_disagreement", "critical"),
    }


def test_a_worker_that_rebuilds_the_states_for_every_chunk_ends_with_the_alerts_of_one_that_remembers(
    db: Transaction, world: World
) -> None:
    runs = []
    for hours, judges in ((4, "one"), (2, "fresh")):
        senders, start = probes(db, world), NOW - timedelta(hours=hours)
        batch = messages(senders, start)
        # Every ninth message comes 20 messages (about 7 minutes) late.
        late = {index: index + 20 for index in range(0, len(batch), 9)}
        order = sorted(range(len(batch)), key=lambda index: (late.get(index, index), index))
        judge = ReadingJudge()
        rebuilt = 0
        for first in range(0, len(order), 7):
            if judges == "fresh":
                rebuilt += judge.rebuilt
                judge = ReadingJudge()  # a restart before every chunk
            worker = Ingestor(db.session, clock=lambda: NOW, rules=judge)
            worker.ingest([batch[index] for index in order[first : first + 7]])
        runs.append(outcome(db, senders, start))
        if judges == "fresh":
            assert rebuilt > len(order) // 7, "the states were read again and rebuilt"
    assert runs[0] == runs[1]
    assert {(row[1], row[2]) for row in runs[0]} >= {
        ("temperature_band", "critical"),
        ("sensor_disagreement", "critical"),
    }


def stored_states(db: Transaction, subjects: list[str]) -> dict[tuple[str, str], Any]:
    with db.reader() as session:
        rows = session.execute(
            select(RuleConditionState.rule, RuleConditionState.subject, RuleConditionState.state).where(
                RuleConditionState.subject.in_(subjects)
            )
        ).all()
    return {(rule, subject): state for rule, subject, state in rows}


def test_the_stored_states_hold_conditions_not_readings_and_a_quiet_chunk_stores_none(
    db: Transaction, world: World
) -> None:
    senders = probes(db, world)
    start = NOW - timedelta(hours=1)
    worker = Ingestor(db.session, clock=lambda: NOW, rules=ReadingJudge())

    def minute(at: int) -> None:
        moment = start + timedelta(minutes=at)
        worker.ingest(
            [
                Incoming(sender.raw([reading(moment, -20.0)], sent_at=NOW), "mqtt", sender.topic)
                for sender in senders
            ]
        )

    def stored() -> tuple[dict[tuple[str, str], Any], int | None]:
        subjects = [f"device:{sender.id}" for sender in senders] + [f"room:{world.rooms['DJ-F18']}"]
        with db.reader() as session:
            clock = session.scalar(
                select(RuleRoomClock.version).where(RuleRoomClock.room_id == world.rooms["DJ-F18"])
            )
        return stored_states(db, subjects), clock

    minute(0)
    first, first_clock = stored()
    # Per probe temperature band, rate of rise and sensor fault; sensor disagreement for the room.
    assert len(first) == 3 * len(senders) + 1
    assert all("buffer" not in state and state["floor"] is not None for state in first.values())
    minute(1)
    second, second_clock = stored()
    assert second == first, "nothing moved: nothing stored"
    assert second_clock != first_clock, "but the room's clock tells the other workers"


def minutes_of(worker: Ingestor, sender: Sender, start: datetime, first: int, values: list[float]) -> None:
    """One reading a minute from minute ``first`` after ``start``, one chunk each."""
    for at, value in enumerate(values, first):
        raw = sender.raw([reading(start + timedelta(minutes=at), value)], sent_at=NOW)
        worker.ingest([Incoming(raw, "mqtt", sender.topic)])


def test_a_probe_moved_to_another_room_and_back_is_judged_from_its_stored_state(
    db: Transaction, world: World
) -> None:
    # The probe's states follow it (they are per device). It warms in one room, recovers in the
    # other, and warms again back in the first, which must not take up the pending spell it
    # remembers from before the move: the reference is a worker that remembers nothing.
    runs = []
    for hours, judge in ((6, ReadingJudge()), (3, ReadingJudge(capacity=0))):
        sender = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"], signing=False)
        start = NOW - timedelta(hours=hours)
        worker = Ingestor(db.session, clock=lambda: NOW, rules=judge)
        minutes_of(worker, sender, start, 0, [-20.0] * 5 + [-17.0] * 20)
        moved = BindIn(room_id=world.rooms["YS-F25"], reason="moved")
        bind(db.uow(), world.who("admin"), sender.id, moved)
        minutes_of(worker, sender, start, 25, [-30.0] * 40)
        back = BindIn(room_id=world.rooms["YS-F18"], reason="moved back")
        bind(db.uow(), world.who("admin"), sender.id, back)
        minutes_of(worker, sender, start, 65, [-17.0] * 40 + [-30.0] * 10)
        with db.reader() as session:
            alerts = session.scalars(
                select(Alert).where(Alert.subject == f"device:{sender.id}").order_by(Alert.id)
            ).all()
            runs.append(
                [
                    (
                        a.rule,
                        a.severity,
                        a.status,
                        a.condition,
                        a.first_transition_at - start,
                        a.triggered_at - start,
                        a.last_transition_at - start,
                        a.room_id,
                    )
                    for a in alerts
                ]
            )
    assert runs[0] == runs[1]
    assert runs[0], "the probe raised alerts"


def test_a_quiet_probes_states_are_stored_again_only_when_their_floor_falls_two_hours_behind(
    db: Transaction, world: World
) -> None:
    senders = probes(db, world)
    start = NOW - timedelta(hours=5)
    worker = Ingestor(db.session, clock=lambda: NOW, rules=ReadingJudge())
    subjects = [f"device:{sender.id}" for sender in senders]

    def ten_minutes(first: int) -> None:
        worker.ingest(
            [
                Incoming(
                    sender.raw([reading(start + timedelta(minutes=at), -20.0)], sent_at=NOW),
                    "mqtt",
                    sender.topic,
                )
                for at in range(first, first + 10)
                for sender in senders
            ]
        )

    def floors() -> dict[tuple[str, str], Any]:
        return {key: state["floor"] for key, state in stored_states(db, subjects).items()}

    ten_minutes(0)
    first = floors()
    assert len(first) == 3 * len(senders)
    for at in range(10, 130, 10):
        ten_minutes(at)
    # The windows moved more than a hundred minutes, every condition blank all along: nothing was
    # stored again.
    assert floors() == first
    for at in range(130, 180, 10):
        ten_minutes(at)
    later = floors()
    assert all(later[key] - first[key] > 2 * 3_600_000 for key in first), "stored once the floor fell behind"


def test_workers_restarting_from_a_quiet_probes_older_stored_state_end_with_the_alerts_of_one_that_remembers(
    db: Transaction, world: World
) -> None:
    runs = []
    for hours, judges in ((8, "one"), (4, "fresh")):
        senders, start = probes(db, world), NOW - timedelta(hours=hours)
        quiet = [
            Incoming(
                sender.raw([reading(start + timedelta(minutes=at), -20.0)], sent_at=NOW), "mqtt", sender.topic
            )
            for at in range(100)
            for sender in senders
        ]
        batch = quiet + messages(senders, start + timedelta(minutes=100))
        # Every ninth message comes 20 messages (about 7 minutes) late.
        late = {index: index + 20 for index in range(0, len(batch), 9)}
        order = sorted(range(len(batch)), key=lambda index: (late.get(index, index), index))
        judge = ReadingJudge()
        for first in range(0, len(order), 15):
            if judges == "fresh":
                judge = ReadingJudge()  # a restart before every chunk
            worker = Ingestor(db.session, clock=lambda: NOW, rules=judge)
            worker.ingest([batch[index] for index in order[first : first + 15]])
        runs.append(outcome(db, senders, start + timedelta(minutes=100)))
    assert runs[0] == runs[1]
    assert {(row[1], row[2]) for row in runs[0]} >= {
        ("temperature_band", "critical"),
        ("sensor_disagreement", "critical"),
    }
