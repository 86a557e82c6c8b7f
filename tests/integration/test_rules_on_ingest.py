"""The rules judge readings in the transaction that stores them, and the scheduler judges what
no reading tells (issue 5). The rules' own behaviour is tested in tests/unit/test_rules_*.py;
here: that the ingest and the scheduler wire them to stored state, alerts, work orders and
evidence, on both databases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from coldpledge.alerts.models import Alert, RuleConditionState, WorkOrder
from coldpledge.audit.models import AuditEvent
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.models import Device, DeviceKind, Reading
from coldpledge.rules import scheduler
from coldpledge.rules.service import judge_readings
from coldpledge.uow import UnitOfWork
from tests.conftest import TestDB as Transaction
from tests.iot import Sender, new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
START = NOW - timedelta(hours=2)


def probe(db: Transaction, world: World, room: str = "DJ-F18") -> Sender:
    # DJ-F18 is the only room of its virtual warehouse, whose policy is the frozen template.
    return new_device(db.uow(), world.who("admin"), world.rooms[room], signing=False)


def send(
    ingestor: Ingestor, sender: Sender, temperatures: list[float], start: datetime, chunk: int = 5
) -> None:
    """One reading a minute from ``start``, one message each, ``chunk`` messages per transaction."""
    messages = [
        Incoming(sender.raw([reading(start + timedelta(minutes=i), t)], sent_at=NOW), "mqtt", sender.topic)
        for i, t in enumerate(temperatures)
    ]
    for first in range(0, len(messages), chunk):
        ingestor.ingest(messages[first : first + chunk])


def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def alerts_on(db: Transaction, subject: str) -> list[Alert]:
    with db.reader() as session:
        return list(session.scalars(select(Alert).where(Alert.subject == subject).order_by(Alert.id)))


def test_a_failing_compressor_opens_a_warning_then_a_critical_alert_at_the_readings_times(
    db: Transaction, world: World
) -> None:
    sensor = probe(db, world)
    ingestor = Ingestor(db.session, clock=lambda: NOW, rules=judge_readings)
    # 10 min at -20 °C, then 40 min at -17 °C (above -18 °C: warning after 30 min), then 15 min
    # at -14 °C (above -15 °C: critical after 10 min), then back to -20 °C.
    temperatures = [-20.0] * 10 + [-17.0] * 40 + [-14.0] * 15 + [-20.0] * 15
    send(ingestor, sensor, temperatures, START)

    (alert,) = alerts_on(db, f"device:{sensor.id}")
    assert alert.rule == "temperature_band"
    assert alert.severity == "critical"
    assert alert.room_id == world.rooms["DJ-F18"]
    assert alert.first_transition_at == START + timedelta(minutes=10), "pending from the first reading above"
    # Fired (major) 30 minutes later, and raised to critical 10 minutes after the first reading
    # above -15 °C: the alert carries that moment and that reading.
    assert alert.triggered_at == START + timedelta(minutes=60)
    assert alert.trigger["value_mc"] == -14_000
    assert alert.condition == "resolved", "the room recovered"
    with db.reader() as session:
        orders = session.scalars(select(WorkOrder).where(WorkOrder.alert_id == alert.id)).all()
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject_ref.like("alert:%")).order_by(AuditEvent.id)
        ).all()
        stored = session.scalar(
            select(func.count()).select_from(Reading).where(Reading.device_id == sensor.id)
        )
    assert len(orders) == 1, "a major alert opens one work order, and its critical turn no second one"
    assert orders[0].assignee_user_id is not None
    assert actions, "every alert transition is in the audit trail and so in the evidence outbox"
    assert stored == len(temperatures)


def test_the_pending_duration_survives_between_chunks_and_a_restart(db: Transaction, world: World) -> None:
    sensor = probe(db, world)
    # 20 minutes above -18 °C with one service, then 15 more with another (a restarted worker):
    # the 30 minutes are counted across both.
    first = Ingestor(db.session, clock=lambda: NOW, rules=judge_readings)
    send(first, sensor, [-17.0] * 20, START)
    assert all(alert.status == "pending" for alert in alerts_on(db, f"device:{sensor.id}"))
    with db.reader() as session:
        assert session.scalar(
            select(func.count())
            .select_from(RuleConditionState)
            .where(RuleConditionState.subject == f"device:{sensor.id}")
        )
    restarted = Ingestor(db.session, clock=lambda: NOW, rules=judge_readings)
    send(restarted, sensor, [-17.0] * 15, START + timedelta(minutes=20))

    (alert,) = alerts_on(db, f"device:{sensor.id}")
    assert alert.severity == "major"
    assert alert.status == "open"


def test_a_reading_delivered_twice_is_judged_once(db: Transaction, world: World) -> None:
    sensor = probe(db, world)
    ingestor = Ingestor(db.session, clock=lambda: NOW, rules=judge_readings)
    raw = sensor.raw([reading(START, -14.0)], sent_at=NOW)
    ingestor.ingest([Incoming(raw, "mqtt", sensor.topic)])
    with db.reader() as session:
        before = session.scalars(select(RuleConditionState.state)).all()
    ingestor.ingest([Incoming(raw, "mqtt", sensor.topic)])
    with db.reader() as session:
        after = session.scalars(select(RuleConditionState.state)).all()
    assert before == after


def test_readings_are_stored_and_acknowledged_even_when_the_rules_fail(db: Transaction, world: World) -> None:
    sensor = probe(db, world)

    def broken(uow: UnitOfWork, rows: list[Any]) -> None:
        judge_readings(uow, rows)
        raise RuntimeError("a bug in a rule")

    ingestor = Ingestor(db.session, clock=lambda: NOW, rules=broken)
    send(ingestor, sensor, [-14.0] * 3, START)

    with db.reader() as session:
        stored = session.scalar(
            select(func.count()).select_from(Reading).where(Reading.device_id == sensor.id)
        )
        states = session.scalar(
            select(func.count())
            .select_from(RuleConditionState)
            .where(RuleConditionState.subject == f"device:{sensor.id}")
        )
    assert stored == 3
    assert states == 0, "what the failing rules wrote was rolled back with them"
    assert ingestor.metrics.snapshot()["rules_failed"] == 1


def test_a_silent_device_and_a_calibration_due_raise_alerts_from_the_scheduler(
    db: Transaction, world: World
) -> None:
    sensor = probe(db, world)
    ingestor = Ingestor(db.session, clock=lambda: NOW - timedelta(minutes=30), rules=judge_readings)
    send(ingestor, sensor, [-20.0] * 3, NOW - timedelta(minutes=33))
    with db.session() as session:
        session.get_one(Device, sensor.id).calibration_due = NOW.date() + timedelta(days=3)
        session.commit()

    report = scheduler.judge_devices(UnitOfWork(db.session, clock=lambda: NOW))

    assert report["alerts"] >= 2
    rules = {alert.rule: alert for alert in alerts_on(db, f"device:{sensor.id}")}
    assert rules["device_offline"].status == "open"
    assert rules["expiry"].severity == "minor"
    # It speaks again, and keeps speaking for the policy's clear_minutes (5): resolved.
    for minute in (0, 5):
        at = NOW + timedelta(minutes=minute)
        send(Ingestor(db.session, clock=fixed(at), rules=judge_readings), sensor, [-20.0], at)
        scheduler.judge_devices(UnitOfWork(db.session, clock=fixed(at + timedelta(minutes=1))))
    rules = {alert.rule: alert for alert in alerts_on(db, f"device:{sensor.id}")}
    assert rules["device_offline"].condition == "resolved"


def test_the_rules_see_only_the_new_readings_of_a_message_that_repeats_some(
    db: Transaction, world: World
) -> None:
    """A gateway replaying part of a batch: on PostgreSQL only the server knows which readings
    were new (``ingest_sql.new_rows_of``), and the rules must see those and no others."""
    room = world.rooms["DJ-F18"]
    gateway = new_device(db.uow(), world.who("admin"), room, DeviceKind.GATEWAY)
    sensor = new_device(db.uow(), world.who("admin"), room, signing=False, gateway=gateway)
    seen: list[list[Any]] = []

    def recording(uow: UnitOfWork, rows: list[Any]) -> None:
        seen.append([(row[0], row[2]) for row in rows])
        judge_readings(uow, rows)

    ingestor = Ingestor(db.session, clock=lambda: NOW, rules=recording)
    at = [START + timedelta(minutes=i) for i in range(3)]
    first = gateway.raw(
        [reading(at[0], -20.0, device=sensor.code), reading(at[1], -20.1, device=sensor.code)], sent_at=NOW
    )
    again = gateway.raw(
        [reading(at[1], -20.1, device=sensor.code), reading(at[2], -20.2, device=sensor.code)], sent_at=NOW
    )
    ingestor.ingest([Incoming(first, "mqtt", gateway.topic)])
    ingestor.ingest([Incoming(again, "mqtt", gateway.topic)])

    assert seen == [[(sensor.id, at[0]), (sensor.id, at[1])], [(sensor.id, at[2])]]
