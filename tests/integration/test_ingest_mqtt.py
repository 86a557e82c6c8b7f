"""The ingest worker against a real Mosquitto: exactly-once effect through kills, broker restarts,
redeliveries and duplicates, and bad input that never stops it; with several writers storing chunks
at once, the same, and acknowledgements still in the order the messages arrived.

Most tests run a private broker (``tests/mqtt.py``) that they may stop and restart; the first one
uses the machine's broker on 127.0.0.1:1883 with the real ``mosquitto_pub`` client.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import Conflict
from coldpledge.iot.ingest import Incoming, Ingestor, Outcome
from coldpledge.iot.models import DeadLetter, Reading, RollupHour, RollupMinute, TelemetryMessage
from coldpledge.iot.payload import encode
from coldpledge.iot.worker import AckTurns, IngestWorker, _Delivery
from coldpledge.parties import service as parties
from coldpledge.parties.policy import SYSTEM, PartyType, Principal, Role
from coldpledge.parties.schemas import OrganisationIn
from coldpledge.rules.service import ReadingJudge, judge_readings
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import RoomIn, WarehouseIn
from tests.iot import WARMING, Sender, alerts_on, new_device, reading
from tests.mqtt import MosquittoBroker, mosquitto, system_broker
from tests.support import wait_for
from tests.world import World

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with mosquitto(tmp_path / "broker") as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def quiet_room(database: Database, world: World) -> None:
    """The room these tests' devices stand in: its own cold store with no goods and no
    supervision. The readings here commit, and some cross the frozen line: in a room of the test
    world they would raise alerts tied to the world's lots and receipts, which other tests read."""
    if "MQ-F18" in world.rooms:
        return
    keeper = parties.create_organisation(
        UnitOfWork(database.write_session),
        SYSTEM,
        OrganisationIn(name="接入测试冷库", party_type=PartyType.KEEPER),
    )
    warehouse = warehouses.create_warehouse(
        UnitOfWork(database.write_session),
        SYSTEM,
        WarehouseIn(
            code="MQ-TEST", name="接入测试冷库", address="宁波港区", city="宁波", keeper_org_id=keeper.id
        ),
    )
    staff = Principal(None, "mqtt-test-keeper", keeper.id, PartyType.KEEPER, Role.KEEPER_STAFF)
    # The last two for one test's twin runs alone: a room's rules judge in event time, and other
    # tests' newer readings in the room would make every reading of those runs late.
    for code in ("MQ-F18", "MQ-F18-A", "MQ-F18-B"):
        room = RoomIn(
            code=code,
            name="ingest test room",
            temperature_class=TemperatureClass.FROZEN,
            set_point_c=Decimal("-18"),
            band_low_c=Decimal("-22"),
            band_high_c=Decimal("-18"),
        )
        world.rooms[code] = warehouses.add_room(
            UnitOfWork(database.write_session), staff, warehouse.id, room
        ).id


def devices(
    database: Database, world: World, count: int, room: str = "MQ-F18", **options: object
) -> list[Sender]:
    return [
        new_device(UnitOfWork(database.write_session), world.who("admin"), world.rooms[room], **options)  # type: ignore[arg-type]
        for _ in range(count)
    ]


def count(database: Database, model: type, senders: list[Sender], column: str = "device_id") -> int:
    ids = [s.id for s in senders]
    with database.reading() as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(getattr(model, column).in_(ids)))
            or 0
        )


def rolled_up(database: Database, model: type[RollupMinute] | type[RollupHour], senders: list[Sender]) -> int:
    with database.reading() as session:
        return int(
            session.scalar(select(func.sum(model.count)).where(model.device_id.in_([s.id for s in senders])))
            or 0
        )


@contextmanager
def worker_thread(
    database: Database,
    settings: Settings,
    url: str,
    kind: type[IngestWorker] = IngestWorker,
    client_id: str | None = None,
    **options: object,
) -> Iterator[IngestWorker]:
    worker = kind(
        database,
        settings,
        mqtt_url=url,
        client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
        session_expiry=60,
        **options,  # type: ignore[arg-type]
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"maintenance": False}, daemon=True)
    thread.start()
    assert worker.subscribed.wait(10), "the worker did not subscribe"
    try:
        yield worker
    finally:
        stop.set()
        thread.join(timeout=30)


def worker_process(
    settings: Settings, url: str, client_id: str, log: Path, *, writers: int
) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "COLDPLEDGE_DATABASE_URL": settings.database_url,
        "COLDPLEDGE_ENV": "test",
        "COLDPLEDGE_LOG_KEY_FILE": str(settings.log_key_file),
    }
    with log.open("ab") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # noqa: S603 - our own command
            [
                *(sys.executable, "-m", "coldpledge.cli", "ingest"),
                *("--mqtt-url", url, "--client-id", client_id, "--writers", str(writers)),
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


class Publisher:
    """A device-side paho client publishing at QoS 1 and waiting for every PUBACK."""

    def __init__(self, host: str, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(200)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish_all(self, messages: list[tuple[str, bytes]]) -> None:
        infos = [self.client.publish(topic, body, qos=1) for topic, body in messages]
        for info in infos:
            info.wait_for_publish(timeout=120)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stream(senders: list[Sender], per_device: int, start: datetime) -> list[tuple[str, bytes]]:
    """One reading per message, interleaved across devices as they would arrive."""
    out = []
    for i in range(per_device):
        for sender in senders:
            ts = start + timedelta(seconds=i)
            out.append((sender.topic, sender.raw([reading(ts, -20 + (i % 30) / 10)], sent_at=ts)))
    return out


def test_a_message_published_with_mosquitto_pub_is_stored(
    database: Database, settings: Settings, world: World
) -> None:
    host, port = system_broker()
    mosquitto_pub = shutil.which("mosquitto_pub")
    assert mosquitto_pub, "mosquitto_pub (package mosquitto-clients) is needed"
    (probe,) = devices(database, world, 1)
    now = datetime.now(UTC)
    body = probe.raw([reading(now, -19.4), reading(now, 71.0, metric="humidity")], sent_at=now)
    with worker_thread(database, settings, f"mqtt://{host}:{port}"):
        subprocess.run(  # noqa: S603 - the real client, our arguments
            [mosquitto_pub, "-h", host, "-p", str(port), "-q", "1", "-t", probe.topic, "-m", body.decode()],
            check=True,
            timeout=10,
        )
        wait_for(lambda: count(database, Reading, [probe]) == 2, 20, "two readings")
    with database.reading() as session:
        values = dict(
            session.execute(
                select(Reading.metric, Reading.value_u).where(Reading.device_id == probe.id)
            ).all()
        )
    assert values == {1: -19_400_000, 2: 71_000_000}


@pytest.mark.parametrize("writers", [1, 3], ids=["one writer", "three writers"])
def test_killing_the_worker_mid_stream_loses_and_doubles_nothing(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker, writers: int
) -> None:
    senders = devices(database, world, 20)
    messages = stream(senders, 1_000, datetime.now(UTC) - timedelta(hours=2))
    assert len(messages) == 20_000
    client_id = f"kill-{uuid.uuid4().hex[:8]}"
    log = broker.folder / "ingest.log"
    first = worker_process(settings, broker.url, client_id, log, writers=writers)
    try:
        # Subscribed: from now on the broker keeps every message for the worker's session.
        wait_for(lambda: "subscribed to" in log.read_text(), 30, "the worker to subscribe")
        publisher = Publisher(broker.host, broker.port)
        sending = threading.Thread(target=publisher.publish_all, args=(messages,), daemon=True)
        sending.start()
        wait_for(lambda: count(database, Reading, senders) >= 3_000, 120, "3,000 readings before the kill")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    killed_at = count(database, Reading, senders)
    assert killed_at < 20_000, "the kill came too late to prove anything"
    second = worker_process(settings, broker.url, client_id, log, writers=writers)
    try:
        sending.join(timeout=180)
        publisher.close()
        wait_for(
            lambda: count(database, Reading, senders) >= 20_000,
            180,
            f"all 20,000 readings (killed at {killed_at}); worker log: {log.read_text()[-2000:]}",
        )
        time.sleep(2)  # anything redelivered twice would show up now
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert count(database, Reading, senders) == 20_000
    assert count(database, TelemetryMessage, senders) == 20_000
    assert rolled_up(database, RollupMinute, senders) == 20_000
    assert rolled_up(database, RollupHour, senders) == 20_000


def test_a_broker_restart_mid_stream_loses_nothing(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    senders = devices(database, world, 5)
    messages = stream(senders, 400, datetime.now(UTC) - timedelta(hours=1))
    with worker_thread(database, settings, broker.url) as worker:
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(messages[:1_000])
        publisher.close()
        broker.stop()  # graceful: Mosquitto saves the worker's queued session
        broker.start()
        wait_for(worker.subscribed.is_set, 30, "the worker to reconnect")
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(messages[1_000:])
        publisher.close()
        wait_for(lambda: count(database, Reading, senders) >= 2_000, 60, "2,000 readings")
        time.sleep(1)
    assert count(database, Reading, senders) == 2_000
    assert rolled_up(database, RollupMinute, senders) == 2_000


def test_redelivered_and_repeated_readings_are_stored_once(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    (probe,) = devices(database, world, 1)
    now = datetime.now(UTC)
    first = probe.raw([reading(now - timedelta(seconds=30), -19.0), reading(now, -19.1)], sent_at=now)
    # The same readings again under a new seq (a gateway replaying after a crash), plus one new.
    second = probe.raw(
        [
            reading(now - timedelta(seconds=30), -19.0),
            reading(now, -19.1),
            reading(now + timedelta(seconds=1), -19.2),
        ],
        sent_at=now,
    )
    with worker_thread(database, settings, broker.url):
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all([(probe.topic, first)] * 3 + [(probe.topic, second)] * 2)
        publisher.close()
        wait_for(lambda: count(database, Reading, [probe]) >= 3, 20, "three readings")
        time.sleep(1)
    assert count(database, Reading, [probe]) == 3
    assert count(database, TelemetryMessage, [probe]) == 2
    assert rolled_up(database, RollupMinute, [probe]) == 3


def test_bad_messages_become_dead_letters_and_the_worker_carries_on(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    probe, other = devices(database, world, 2)
    (simple,) = devices(database, world, 1, signing=False)
    now = datetime.now(UTC)
    tampered = probe.message([reading(now, -19.0)], sent_at=now)
    tampered["readings"][0]["value"] = -25.0
    unsigned = probe.message([reading(now, -19.0)], sent_at=now, sign=False)
    bad = [
        (probe.topic, b"{not json"),
        (probe.topic, encode({"device": probe.code, "seq": "one", "sent_at": "x", "readings": []})),
        ("coldpledge/v1/1/WH/NOPE-1/telemetry", encode({**unsigned, "device": "NOPE-1"})),
        (probe.topic, encode(tampered)),
        (probe.topic, encode(unsigned)),
        (other.topic, probe.raw([reading(now, -19.0)], sent_at=now)),  # another device's topic
    ]
    mixed = probe.raw(
        [
            reading(now + timedelta(minutes=10), -19.0),  # from the future
            {"ts": now.isoformat(), "metric": "temperature", "value": "cold", "unit": "Cel"},  # wrong type
            reading(now - timedelta(seconds=3), 85.0),  # DS18B20 power-on sentinel
            reading(now - timedelta(seconds=2), -127.0),  # probe disconnected
            reading(now - timedelta(seconds=1), 99.0),  # outside the physical range
            reading(now, -18.7),  # a good one
        ],
        sent_at=now,
    )
    good = simple.raw([reading(now, -18.5)], sent_at=now, sign=False)
    with worker_thread(database, settings, broker.url) as worker:
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all([*bad, (probe.topic, mixed), (simple.topic, good)])
        publisher.close()
        wait_for(lambda: count(database, Reading, [simple]) == 1, 20, "the good message after the bad ones")
        time.sleep(0.5)
        metrics = worker.metrics.snapshot()
    with database.reading() as session:
        reasons = sorted(
            session.scalars(
                select(DeadLetter.reason)
                .where(
                    (DeadLetter.device_code.in_([probe.code, "NOPE-1", other.code]))
                    | (DeadLetter.device_code.is_(None))
                )
                .where(DeadLetter.received_at >= now - timedelta(minutes=1))
            )
        )
        faults = dict(
            session.execute(select(Reading.value_u, Reading.fault).where(Reading.device_id == probe.id)).all()
        )
        signed = session.scalar(select(Reading.signed).where(Reading.device_id == simple.id))
    for reason in (
        "malformed_json",
        "malformed",
        "unknown_device",
        "bad_signature",
        "missing_signature",
        "topic_mismatch",
        "future_timestamp",
        "wrong_type",
    ):
        assert reason in reasons, (reason, reasons)
    # Sensor faults are stored, flagged, and kept out of the rollups.
    assert faults == {85_000_000: 1, -127_000_000: 1, 99_000_000: 2, -18_700_000: 0}
    assert rolled_up(database, RollupMinute, [probe]) == 1
    assert signed is False
    assert metrics["dead_letters"]["bad_signature"] >= 1


def test_two_workers_sharing_the_stream_store_each_reading_once(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    """DESIGN §10: several ingest workers on one shared subscription, with redeliveries, produce
    exactly the unique rows, and the rollups agree (per-device locks serialise their updates)."""
    senders = devices(database, world, 4)
    messages = stream(senders, 250, datetime.now(UTC) - timedelta(hours=3))
    group = f"g{uuid.uuid4().hex[:6]}"
    with (
        worker_thread(database, settings, broker.url, shared_group=group) as first,
        worker_thread(database, settings, broker.url, shared_group=group) as second,
    ):
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(messages + messages[::7])  # every seventh message twice
        publisher.close()
        wait_for(lambda: count(database, Reading, senders) >= 1_000, 60, "1,000 readings")
        time.sleep(1)
        shares = (first.metrics.snapshot()["messages"], second.metrics.snapshot()["messages"])
    assert count(database, Reading, senders) == 1_000
    assert count(database, TelemetryMessage, senders) == 1_000
    assert rolled_up(database, RollupMinute, senders) == 1_000
    assert rolled_up(database, RollupHour, senders) == 1_000
    assert min(shares) > 0, shares  # both took part


def test_three_writers_with_small_chunks_store_each_reading_once(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    """Chunks of 20 stored three at a time: every chunk names all ten devices, so concurrent
    transactions merge into the same rollups, and redeliveries land in neighbouring chunks."""
    senders = devices(database, world, 10)
    start = datetime.now(UTC) - timedelta(hours=4)
    messages = stream(senders, 300, start)
    redelivered = []
    for position, message in enumerate(messages):
        redelivered.append(message)
        if position % 5 == 0:
            redelivered.append(messages[max(0, position - 30)])
    # Each gateway replays its first ten readings under a new seq after a crash.
    replays = [
        (
            s.topic,
            s.raw([reading(start + timedelta(seconds=i), -20 + i / 10) for i in range(10)], sent_at=start),
        )
        for s in senders
    ]
    small_chunks = settings.model_copy(update={"ingest_chunk_messages": 20})
    with worker_thread(database, small_chunks, broker.url, writers=3):
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(redelivered + replays)
        publisher.close()
        wait_for(lambda: count(database, TelemetryMessage, senders) >= 3_010, 60, "3,010 messages")
        time.sleep(1)
    assert count(database, Reading, senders) == 3_000
    assert count(database, TelemetryMessage, senders) == 3_010
    assert rolled_up(database, RollupMinute, senders) == 3_000
    assert rolled_up(database, RollupHour, senders) == 3_000


class RecordingWorker(IngestWorker):
    """Writes down the order in which messages arrive, chunks commit and messages are acknowledged,
    and takes a random while before storing each chunk, as a busy database would, so that later
    chunks often commit first."""

    def __init__(self, *args: object, **options: object) -> None:
        super().__init__(*args, **options)  # type: ignore[arg-type]
        self.arrived: list[bytes] = []
        self.committed: list[bytes] = []
        self.acknowledged: list[bytes] = []
        self.delays = random.Random(20261129)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.arrived.append(bytes(message.payload))
        super()._on_message(client, userdata, message)

    def _store(self, chunk: list[_Delivery], stop: threading.Event, ticket: int) -> bool:
        time.sleep(self.delays.uniform(0, 0.05))
        stored = super()._store(chunk, stop, ticket)
        self.committed.append(chunk[0].payload)
        return stored

    def _acknowledge(self, chunk: list[_Delivery]) -> None:
        for delivery in chunk:  # one by one, so acknowledgements of two chunks could not hide in one
            self.acknowledged.append(delivery.payload)
            super()._acknowledge([delivery])


def test_acknowledgements_go_out_in_the_order_the_messages_arrived_whichever_chunk_commits_first(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    senders = devices(database, world, 10)
    messages = stream(senders, 60, datetime.now(UTC) - timedelta(hours=5))
    small_chunks = settings.model_copy(update={"ingest_chunk_messages": 20})
    with worker_thread(database, small_chunks, broker.url, RecordingWorker, writers=3) as worker:
        assert isinstance(worker, RecordingWorker)
        # Chunks not held to take their last step in turn, so that later ones can commit first.
        worker.last_step_patience_s = 0.0
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(messages)
        publisher.close()
        wait_for(lambda: len(worker.acknowledged) >= len(messages), 60, "every message acknowledged")
    assert worker.acknowledged == worker.arrived
    arrival = {body: position for position, body in enumerate(worker.arrived)}
    assert worker.committed != sorted(worker.committed, key=arrival.__getitem__), (
        "every chunk committed in turn: the test proved nothing"
    )
    assert count(database, Reading, senders) == 600


class RecordingTurns(AckTurns):
    """Writes down the order in which chunks come to their last step and the order they take it."""

    def __init__(self) -> None:
        super().__init__()
        self.came: list[int] = []
        self.took: list[tuple[int, bool]] = []

    def wait_turn(self, ticket: int, stop: threading.Event, timeout: float | None = None) -> bool:
        self.came.append(ticket)
        turn = super().wait_turn(ticket, stop, timeout)
        self.took.append((ticket, turn))
        return turn


def test_chunks_take_their_last_step_in_the_order_they_were_taken_whichever_is_ready_first(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    # The rules judge the readings in that step: a later chunk's first would make every reading
    # of the earlier one late (and every rule state replay). The random wait before each chunk
    # gets later chunks there first.
    if database.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite a transaction holds the only write lock from its first write on")
    senders = devices(database, world, 10)
    messages = stream(senders, 60, datetime.now(UTC) - timedelta(hours=5))
    small_chunks = settings.model_copy(update={"ingest_chunk_messages": 20})
    with worker_thread(database, small_chunks, broker.url, RecordingWorker, writers=3) as worker:
        turns = worker.last_steps = RecordingTurns()
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(messages)
        publisher.close()
        wait_for(lambda: count(database, Reading, senders) >= 600, 60, "every reading")
    assert turns.came != sorted(turns.came), (
        "every chunk came to its last step in turn: the test proved nothing"
    )
    assert turns.took == [(ticket, True) for ticket in sorted(turns.came)]


def alerts_of(database: Database, senders: list[Sender], start: datetime) -> list[tuple[Any, ...]]:
    with database.reading() as session:
        return alerts_on(session, senders, start)


def warming(senders: list[Sender], start: datetime) -> list[tuple[str, bytes]]:
    """A reading a minute; the first probe follows ``WARMING``, the others stay at -20 °C."""
    return [
        (
            sender.topic,
            sender.raw(
                [reading(start + timedelta(minutes=minute), value if index == 0 else -20.0)],
                sent_at=start + timedelta(minutes=minute),
            ),
        )
        for minute, value in enumerate(WARMING)
        for index, sender in enumerate(senders)
    ]


def test_three_writers_judging_chunks_ahead_of_their_locks_raise_the_alerts_of_one_chunk_at_a_time(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    # Each writer judges its chunk's readings on top of the chunk before it while that one is
    # still being written (``ReadingJudge.judge_ahead``); the reference stores the same readings
    # of twin probes a chunk at a time, in a room of its own. (A transition keeps the moment it
    # was told at, should a late reading move it: chunks judged out of turn could tell another.)
    if database.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite chunks are judged in the order they take the only write lock")
    start = (datetime.now(UTC) - timedelta(hours=3)).replace(second=0, microsecond=0)
    alone = devices(database, world, 4, room="MQ-F18-B", signing=False)
    one_at_a_time = Ingestor(database.write_session, rules=ReadingJudge())
    batch = [Incoming(body, "mqtt", topic) for topic, body in warming(alone, start)]
    for first in range(0, len(batch), 10):
        one_at_a_time.ingest(batch[first : first + 10])
    expected = alerts_of(database, alone, start)
    assert {(row[1], row[2]) for row in expected} >= {
        ("temperature_band", "critical"),
        ("sensor_disagreement", "critical"),
    }

    shared = devices(database, world, 4, room="MQ-F18-A", signing=False)
    small_chunks = settings.model_copy(update={"ingest_chunk_messages": 10})
    judged_again = judge_readings.judged_again
    with worker_thread(database, small_chunks, broker.url, writers=3) as worker:
        worker.last_step_patience_s = 60.0  # every chunk in turn, however slow the machine
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(warming(shared, start))
        publisher.close()
        wait_for(lambda: count(database, Reading, shared) >= len(batch), 60, "every reading")
    assert worker.metrics.snapshot()["rules_failed"] == 0
    # Judged on top of chunks not yet committed, which then committed: no room judged twice.
    assert judge_readings.judged_again == judged_again
    assert alerts_of(database, shared, start) == expected


class FailingOnceWorker(IngestWorker):
    """Its first chunk fails with an error nothing below the writer catches: a bug in the worker."""

    failed = False

    def _store(self, chunk: list[_Delivery], stop: threading.Event, ticket: int) -> bool:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug in the worker")
        return super()._store(chunk, stop, ticket)


def test_a_writer_that_fails_carries_on_and_the_failed_chunk_comes_back_after_a_restart(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    (probe,) = devices(database, world, 1)
    now = datetime.now(UTC)
    first = probe.raw([reading(now - timedelta(seconds=2), -19.0)], sent_at=now)
    second = probe.raw([reading(now - timedelta(seconds=1), -19.1)], sent_at=now)
    client_id = f"fail-{uuid.uuid4().hex[:8]}"
    publisher = Publisher(broker.host, broker.port)
    with worker_thread(
        database, settings, broker.url, FailingOnceWorker, client_id=client_id, writers=1
    ) as worker:
        assert isinstance(worker, FailingOnceWorker)
        publisher.publish_all([(probe.topic, first)])
        wait_for(lambda: worker.failed, 10, "the first chunk to fail")
        publisher.publish_all([(probe.topic, second)])
        wait_for(lambda: count(database, Reading, [probe]) == 1, 20, "the next chunk, by the same writer")
    publisher.close()
    # The failed chunk was never acknowledged: the broker sends it again when the session resumes.
    with worker_thread(database, settings, broker.url, client_id=client_id):
        wait_for(lambda: count(database, Reading, [probe]) == 2, 20, "the failed chunk, redelivered")
    assert rolled_up(database, RollupMinute, [probe]) == 2


class _Deadlock(Exception):
    sqlstate = "40P01"


class LosesARaceOnceWorker(IngestWorker):
    """Its first transaction is chosen as a deadlock victim, as PostgreSQL reports one."""

    lost = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.chunks: list[list[bytes]] = []
        ingest = self.ingestor.ingest

        def racing(chunk: Sequence[Incoming], **options: Any) -> list[Outcome]:
            self.chunks.append([incoming.raw for incoming in chunk])
            if not self.lost and len(chunk) > 1:
                self.lost = True
                cause = OperationalError("UPDATE ...", {}, _Deadlock("deadlock detected"))
                raise Conflict("Someone else changed this record at the same time.") from cause
            return ingest(chunk, **options)

        self.ingestor.ingest = racing  # type: ignore[method-assign]


def test_a_chunk_that_loses_a_deadlock_is_stored_whole_on_its_retry_not_set_aside(
    database: Database, settings: Settings, world: World, broker: MosquittoBroker
) -> None:
    probes = devices(database, world, 3)
    messages = stream(probes, 4, datetime.now(UTC) - timedelta(minutes=10))
    with worker_thread(database, settings, broker.url, LosesARaceOnceWorker, writers=2) as worker:
        assert isinstance(worker, LosesARaceOnceWorker)
        publisher = Publisher(broker.host, broker.port)
        publisher.publish_all(messages)
        wait_for(lambda: count(database, Reading, probes) == len(messages), 20, "every reading")
        publisher.close()
    assert worker.lost
    lost_at = next(n for n, chunk in enumerate(worker.chunks) if len(chunk) > 1)
    # Tried again as it was, not taken apart message by message as if it held a poisonous one.
    assert worker.chunks[lost_at + 1] == worker.chunks[lost_at]
    assert count(database, DeadLetter, probes, column="device_id") == 0
    assert rolled_up(database, RollupMinute, probes) == len(messages)


def test_the_inbox_holds_no_more_than_the_receive_maximum_whatever_the_broker_sends(
    database: Database, settings: Settings
) -> None:
    worker = IngestWorker(database, settings, mqtt_url="mqtt://127.0.0.1:1", writers=1)

    def delivered(mid: int) -> mqtt.MQTTMessage:
        message = mqtt.MQTTMessage(mid=mid, topic=b"coldpledge/v1/o/w/d/telemetry")
        message.payload, message.qos = b"{}", 1
        return message

    for mid in range(worker.receive_maximum):
        worker._on_message(worker.client, None, delivered(mid))
    one_more = threading.Thread(target=worker._on_message, args=(worker.client, None, delivered(0)))
    one_more.start()
    one_more.join(timeout=0.7)
    assert one_more.is_alive(), "paho's thread waits while the inbox is full"
    worker.inbox.get()
    one_more.join(timeout=5)
    assert not one_more.is_alive()
    assert worker.inbox.qsize() == worker.receive_maximum

    # Stopping releases a wait for room: that message is never acknowledged and comes back later.
    stuck = threading.Thread(target=worker._on_message, args=(worker.client, None, delivered(1)))
    stuck.start()
    worker._stopping.set()
    stuck.join(timeout=5)
    assert not stuck.is_alive()
