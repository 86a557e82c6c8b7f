"""The ingest path keeps the rule states it wrote in memory (``rules.service.ReadingJudge``) and
reads a state again only when its row changed. Two workers judging the same room in turn must
end where one worker does, on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from coldpledge.alerts.models import Alert
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.rules.service import ReadingJudge
from tests.conftest import TestDB as Transaction
from tests.iot import Sender, new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
# The first probe warms past -18 °C and then -15 °C while its two neighbours stay at -20 °C.
WARMING = [-20.0] * 10 + [-17.0] * 35 + [-14.0] * 15 + [-20.0] * 10


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
    position = {f"device:{sender.id}": index for index, sender in enumerate(senders)}
    with db.reader() as session:
        alerts = session.scalars(select(Alert).where(Alert.subject.in_(position)).order_by(Alert.id)).all()
        return sorted(
            (
                position[alert.subject],
                alert.rule,
                alert.severity,
                alert.status,
                alert.condition,
                alert.first_transition_at - start,
                alert.triggered_at - start if alert.triggered_at else None,
            )
            for alert in alerts
        )


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
