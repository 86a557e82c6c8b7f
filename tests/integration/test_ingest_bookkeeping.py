"""What an ingest chunk records besides the readings: per-message counts, the latest values, and
when each device was last seen. On PostgreSQL the server works these out from the new rows
(``iot/ingest_sql.py``), on SQLite the service does; both must say the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.models import Device, DeviceKind, LatestReading, Reading, RollupMinute
from tests.conftest import TestDB as Transaction
from tests.iot import Sender, new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(microsecond=0)


def gateway_with_sensors(db: Transaction, world: World, sensors: int) -> tuple[Sender, list[Sender]]:
    room = world.rooms["YS-F18"]
    gateway = new_device(db.uow(), world.who("admin"), room, DeviceKind.GATEWAY)
    wired = [
        new_device(db.uow(), world.who("admin"), room, signing=False, gateway=gateway) for _ in range(sensors)
    ]
    return gateway, wired


def test_each_message_counts_its_new_duplicate_and_faulty_readings(db: Transaction, world: World) -> None:
    gateway, (first, second) = gateway_with_sensors(db, world, 2)
    ingestor = Ingestor(db.session, clock=lambda: NOW)
    at = NOW - timedelta(minutes=5)
    one = gateway.raw(
        [
            reading(at, -19.0, device=first.code),
            reading(at, -19.5, device=second.code),
            reading(at + timedelta(seconds=30), 85.0, device=first.code),  # a probe's power-on value
        ],
        sent_at=NOW,
    )
    # Another message repeating one of those readings, and a reading repeated within itself.
    two = gateway.raw(
        [
            reading(at, -19.0, device=first.code),
            reading(at + timedelta(seconds=60), -18.0, device=second.code),
            reading(at + timedelta(seconds=60), -18.0, device=second.code),
        ],
        sent_at=NOW,
    )

    outcomes = ingestor.ingest([Incoming(one, "mqtt", gateway.topic), Incoming(two, "mqtt", gateway.topic)])
    again = ingestor.ingest([Incoming(one, "mqtt", gateway.topic)])

    assert [(o.status, o.stored, o.duplicates, o.faults) for o in outcomes] == [
        ("stored", 3, 0, 1),
        ("stored", 1, 2, 0),
    ]
    assert [(o.status, o.stored) for o in again] == [("duplicate", 0)]
    with db.reader() as session:
        stored = session.scalars(select(Reading.device_id).where(Reading.sender_id == gateway.id)).all()
        minutes = session.scalars(select(RollupMinute.count).where(RollupMinute.device_id == first.id)).all()
    assert len(stored) == 4
    assert sum(minutes) == 1, "the sentinel is stored flagged and kept out of the rollups"


def test_sensors_are_last_seen_when_they_last_measured_and_their_gateway_when_it_sent(
    db: Transaction, world: World
) -> None:
    gateway, (first, second) = gateway_with_sensors(db, world, 2)
    ingestor = Ingestor(db.session, clock=lambda: NOW)
    sent_at = NOW - timedelta(seconds=2)
    ingestor.ingest(
        [
            Incoming(
                gateway.raw(
                    [
                        reading(NOW - timedelta(seconds=60), -19.0, device=first.code),
                        reading(NOW - timedelta(seconds=30), -19.2, device=first.code),
                        reading(NOW - timedelta(seconds=50), -19.5, device=second.code),
                    ],
                    sent_at=sent_at,
                    seq=10,
                ),
                "mqtt",
                gateway.topic,
            )
        ]
    )
    # Then a late reading of the first sensor, replayed from the gateway's buffer under a lower seq.
    ingestor.ingest(
        [
            Incoming(
                gateway.raw(
                    [reading(NOW - timedelta(seconds=90), -18.8, device=first.code)], sent_at=NOW, seq=7
                ),
                "mqtt",
                gateway.topic,
            )
        ]
    )

    with db.reader() as session:
        devices = {
            row.id: row
            for row in session.scalars(select(Device).where(Device.id.in_([gateway.id, first.id, second.id])))
        }
        latest = session.scalar(select(LatestReading.value_u).where(LatestReading.device_id == first.id))
    assert devices[gateway.id].last_seen_at == NOW
    assert devices[gateway.id].last_seq == 10, "a replayed older seq does not move it back"
    assert devices[first.id].last_seen_at == NOW - timedelta(seconds=30), "nor does a late reading"
    assert devices[second.id].last_seen_at == NOW - timedelta(seconds=50)
    assert latest == -19_200_000, "the latest value is the newest by time, not by arrival"
