"""Telemetry end to end on one machine: publishers → a private Mosquitto → ``coldpledge ingest`` (its
own process) → committed readings, messages, rollups and latest values.

    python -m benchmarks.ingest [--quick] [--database sqlite|postgresql+psycopg://...]
        [--readings 200000] [--gateways 40] [--messages 50000] [--devices 500]
        [--chunk-messages 500] [--chunk-wait-ms 50] [--writers 2] [--workers 1]
        [--publishers 4] [--inflight 1000] [--scenarios gateway_batches,single_signed,single_unsigned]
        [--profile DIR --py-spy PATH]

Scenarios, each with its own freshly registered devices (through the registry service):

- ``gateway_batches``: gateways with 50 unsigned temperature sensors wired to each; every message
  carries one reading of each sensor and is signed by its gateway;
- ``single_signed``: one reading per message, signed by the device;
- ``single_unsigned``: one reading per message from sensors that cannot sign.

Readings are one a minute per sensor, sent in time order (every device's minute k before any
minute k+1), stamped in the recent past. Every message is built, signed and encoded before any
clock starts, and pickled for the publisher processes (``benchmarks/ingest_processes.py``): several
minimal MQTT 3.1.1 clients (``benchmarks/mqtt_wire.py``), each its own process, publishing at QoS 1
with a wide inflight window. Their packets are encoded before the clock starts, so they cost about
2 µs of CPU per message where paho cost 45: on two cores, the load generator must not eat the
capacity it measures (real devices are elsewhere).

Each scenario is measured three times on the same messages and the same broker:

- ``bare_json``: a bare subscriber process (MQTT 5, QoS 1, the worker's Receive Maximum) that only
  ``json.loads`` each message: what the machine can move through the broker at all;
- ``bare_parse``: the same subscriber running the ingest service's ``payload.parse`` and signature
  check: the CPU floor of the pure part of ingestion;
- ``ingest``: the ingest worker, started as ``python -m coldpledge.cli ingest`` with
  ``COLDPLEDGE_DATABASE_URL`` and the chunk settings in its environment. Progress is the sum of
  ``ingest_chunks.readings``, which commits with the rows, polled every 0.1 s; once every message
  is in, the rows, rollup counts and dead letters are counted to check nothing is missing.

Times run from the first publish to the last message received (baselines) or committed (ingest).
``sustained`` is the rate between 10 % and 90 % of the readings committed, which leaves out the
start-up and the last chunk. ``time_ratio`` is ingest time over baseline time, so 1.0 would be
free. The worker's resident memory is sampled from ``/proc/PID/status`` (VmRSS) with the
progress; its peak (VmHWM) is read before it stops. CPU seconds of the worker, broker and
subscriber come from ``/proc/PID/stat``, and on PostgreSQL those of the database server's
processes on this machine (``database_cpu_s``; with the worker's,
``worker_and_database_cpu_us_per_reading``: the server does the readings' inserts and rollups in
SQL); ``machine_busy_cores`` is how many of the cores were busy during the run (``/proc/stat``),
since the database server, publishers and any other work on the machine share them; CPU
microseconds per message or reading are the figures least disturbed by other work on the machine.
With ``--profile DIR`` py-spy samples the worker during each ingest run (``DIR/SCENARIO.txt``,
collapsed stacks) and the JSON lists the functions with the most samples.
``code`` names the commit measured and the product files that differed from it.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import json
import os
import pickle
import platform
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from tests.iot import Sender, new_device
from tests.mqtt import MosquittoBroker

from benchmarks.common import migrated_database, percentiles
from benchmarks.ingest_processes import (
    ROOT,
    Publishers,
    Watch,
    bare_subscriber,
    memory_mb,
    publishing,
    start_profile,
    summarise_profile,
)
from benchmarks.mqtt_wire import Outbox, WirePublisher
from coldpledge.alerts.models import Alert
from coldpledge.db import Database
from coldpledge.iot import payload
from coldpledge.iot.models import (
    DeadLetter,
    DeviceKind,
    IngestChunk,
    LatestReading,
    Reading,
    RollupHour,
    RollupMinute,
    TelemetryMessage,
)
from coldpledge.parties import service as parties
from coldpledge.parties.policy import SYSTEM, PartyType, Principal, Role
from coldpledge.parties.schemas import OrganisationIn
from coldpledge.rules.catalogue import CATALOGUE, PERIODIC_RULES
from coldpledge.rules.evaluators import TEMPERATURE
from coldpledge.rules.room import RoomContext, RoomRules
from coldpledge.rules.service import prune_settings_log
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import RoomIn, WarehouseIn

SENSORS_PER_GATEWAY = 50
SCENARIOS = ("gateway_batches", "single_signed", "single_unsigned")
TARGETS = {"gateway_readings_per_s": 50_000, "single_messages_per_s": 10_000, "rss_mb": 300}
POLL_SECONDS = 0.1
STALL_SECONDS = 60.0

Wire = tuple[str, bytes]  # topic, payload


# --- devices and messages ---------------------------------------------------------------------


def site(database: Database, rooms: int, label: str = "") -> list[int]:
    """A keeper with one warehouse of ``rooms`` frozen rooms, made through the services; ``label``
    tells sites apart. Each run with the rules on gets a site of its own: a room's rules judge in
    event time, and a run whose readings are older than the last run's in the same rooms would
    find them all too late for the room's rules."""

    def uow() -> UnitOfWork:
        return UnitOfWork(database.write_session)

    keeper = parties.create_organisation(
        uow(), SYSTEM, OrganisationIn(name=f"基准冷链仓储有限公司{label}", party_type=PartyType.KEEPER)
    )
    warehouse = warehouses.create_warehouse(
        uow(),
        SYSTEM,
        WarehouseIn(
            code=f"BENCH{label.upper()}",
            name=f"基准冷库{label}",
            address="上海港区",
            city="上海",
            keeper_org_id=keeper.id,
        ),
    )
    # Rooms are the keeper's to add; the platform only names the keeper of a new warehouse.
    staff = Principal(None, "bench-keeper", keeper.id, PartyType.KEEPER, Role.KEEPER_STAFF)
    room = RoomIn(
        code="R0",
        name="room",
        temperature_class=TemperatureClass.FROZEN,
        band_low_c=Decimal(-22),
        band_high_c=Decimal(-18),
        set_point_c=Decimal(-18),
    )
    return [
        warehouses.add_room(uow(), staff, warehouse.id, room.model_copy(update={"code": f"R{i}"})).id
        for i in range(rooms)
    ]


def register(database: Database, room: int, kind: DeviceKind, **options: Any) -> Sender:
    return new_device(UnitOfWork(database.write_session), SYSTEM, room, kind, **options)


def value(rng: random.Random) -> float:
    return round(rng.uniform(-19.5, -16.5), 2)


@dataclass
class Streams:
    """Per sending device, its messages in time order; and the signers' public keys (base64)."""

    messages: list[list[Wire]] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)

    def add(self, sender: Sender, stream: list[Wire]) -> None:
        self.messages.append(stream)
        key = sender.registered.device.public_key
        if key is not None:
            self.keys[sender.code] = base64.b64encode(key).decode()


def gateway_streams(
    database: Database,
    rooms: list[int],
    gateways: int,
    steps: int,
    interval: timedelta,
    seed: int,
    hot: int = 0,
    sensors_out: list[list[Sender]] | None = None,
) -> Streams:
    """Per gateway, its ``steps`` signed batches of one reading from each of its 50 sensors, around
    -20 °C (σ 0.3 °C). The first sensor of each of the first ``hot`` gateways jumps to -14 °C
    half-way through (its compressor failed): rate of rise fires at once, the band's critical line
    after 10 minutes, disagreement with its room after 15. The same seed gives the same values."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - (steps + 2) * interval
    streams = Streams()
    for g in range(gateways):
        room = rooms[g % len(rooms)]
        gateway = register(database, room, DeviceKind.GATEWAY)
        sensors = [
            register(database, room, DeviceKind.TEMPERATURE, signing=False, gateway=gateway)
            for _ in range(SENSORS_PER_GATEWAY)
        ]
        if sensors_out is not None:
            sensors_out.append(sensors)
        stream = []
        for step in range(steps):
            ts = payload.format_ts(start + step * interval)
            values = [round(rng.gauss(-20.0, 0.3), 2) for _ in sensors]
            if g < hot and step >= steps // 2:
                values[0] = -14.0
            readings = [
                {"device": s.code, "ts": ts, "metric": "temperature", "value": v, "unit": "Cel"}
                for s, v in zip(sensors, values, strict=True)
            ]
            sent_at = start + step * interval + timedelta(seconds=2)
            stream.append((gateway.topic, payload.encode(gateway.message(readings, sent_at=sent_at))))
        streams.add(gateway, stream)
    return streams


def single_streams(
    database: Database,
    rooms: list[int],
    devices: int,
    steps: int,
    interval: timedelta,
    signing: bool,
    seed: int,
) -> Streams:
    """Per device, ``steps`` messages of one reading each, signed or not."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - (steps + 2) * interval
    streams = Streams()
    for d in range(devices):
        device = register(database, rooms[d % len(rooms)], DeviceKind.TEMPERATURE, signing=signing)
        stream = []
        for step in range(steps):
            moment = start + step * interval
            reading = {
                "ts": payload.format_ts(moment),
                "metric": "temperature",
                "value": value(rng),
                "unit": "Cel",
            }
            document = device.message([reading], sent_at=moment + timedelta(milliseconds=300))
            stream.append((device.topic, payload.encode(document)))
        streams.add(device, stream)
    return streams


def slices(streams: list[list[Wire]], publishers: int, folder: Path, name: str) -> list[Path]:
    """Each publisher gets whole devices, their messages interleaved in time order."""
    files = []
    for index in range(publishers):
        mine = streams[index::publishers]
        ordered = [stream[step] for step in range(max(map(len, mine), default=0)) for stream in mine]
        path = folder / f"{name}-{index}.pickle"
        path.write_bytes(pickle.dumps(ordered))
        files.append(path)
    return files


# --- runs -------------------------------------------------------------------------------------


@dataclass
class Bench:
    database: Database
    broker: MosquittoBroker
    args: argparse.Namespace
    folder: Path
    rules: bool = True  # COLDPLEDGE_RULES_ON_INGEST of the workers started next

    @property
    def broker_pid(self) -> int:
        assert self.broker.process is not None
        return self.broker.process.pid

    @property
    def window(self) -> int:
        """The Receive Maximum ``IngestWorker.run`` asks the broker for; the baseline asks the same."""
        return min(65_535, max(100, int(self.args.chunk_messages) * (int(self.args.writers) + 3)))

    def publishers(self, files: list[Path]) -> Publishers:
        return Publishers(self.broker.port, files, self.args.inflight)


def start_worker(bench: Bench, log: IO[bytes], group: str | None) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "COLDPLEDGE_DATABASE_URL": bench.database.url,
        "COLDPLEDGE_INGEST_CHUNK_MESSAGES": str(bench.args.chunk_messages),
        "COLDPLEDGE_INGEST_CHUNK_WAIT_MS": str(bench.args.chunk_wait_ms),
        "COLDPLEDGE_INGEST_WRITERS": str(bench.args.writers),
        "COLDPLEDGE_LOG_KEY_FILE": str(bench.folder / "evidence-log.key"),
        "COLDPLEDGE_RULES_ON_INGEST": "true" if bench.rules else "false",
    }
    command = [sys.executable, "-m", "coldpledge.cli", "ingest", "--mqtt-url", bench.broker.url]
    # No session outlives the worker: later runs must not queue messages for it in the broker.
    command += ["--client-id", f"bench-ingest-{uuid.uuid4().hex[:8]}", "--session-expiry", "0"]
    if group:
        command += ["--shared-group", group]
    worker = subprocess.Popen(  # noqa: S603 - our own command
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=log
    )
    deadline = time.monotonic() + 60
    while "subscribed to" not in Path(log.name).read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the ingest worker did not subscribe: {Path(log.name).read_text()[-2000:]}")
        time.sleep(0.05)
    return worker


def totals(database: Database) -> dict[str, int]:
    with database.reading() as session:

        def scalar(query: Any) -> int:
            return int(session.scalar(query) or 0)

        return {
            "readings": scalar(select(func.count()).select_from(Reading)),
            "messages": scalar(select(func.count()).select_from(TelemetryMessage)),
            "rollup_1m_readings": scalar(select(func.sum(RollupMinute.count))),
            "rollup_1h_readings": scalar(select(func.sum(RollupHour.count))),
            "latest_values": scalar(select(func.count()).select_from(LatestReading)),
            "dead_letters": scalar(select(func.count()).select_from(DeadLetter)),
            "chunks": scalar(select(func.count()).select_from(IngestChunk)),
        }


def progress(database: Database) -> tuple[int, int]:
    """Readings, and messages stored or set aside, committed so far by ingest transactions."""
    with database.reading() as session:
        row = session.execute(
            select(
                func.coalesce(func.sum(IngestChunk.readings), 0),
                func.coalesce(func.sum(IngestChunk.messages + IngestChunk.rejected), 0),
            )
        ).one()
    return int(row[0]), int(row[1])


def sustained(samples: list[tuple[float, int]], total: int) -> tuple[float | None, float, float]:
    """Readings per second between 10 % and 90 % committed, and that window's start and end."""
    low = next((s for s in samples if s[1] >= 0.1 * total), None)
    high = next((s for s in samples if s[1] >= 0.9 * total), None)
    if low is None or high is None or high[0] <= low[0]:
        return None, 0.0, 0.0
    return (high[1] - low[1]) / (high[0] - low[0]), low[0], high[0]


def ingest(
    bench: Bench, files: list[Path], readings: int, messages: int, profile: Path | None
) -> dict[str, Any]:
    database = bench.database
    before, committed_before = totals(database), progress(database)
    samples: list[tuple[float, int, float]] = []  # (time, readings committed, worker VmRSS MB)
    group = f"bench-{uuid.uuid4().hex[:6]}" if bench.args.workers > 1 else None
    with contextlib.ExitStack() as logs:
        workers = [
            start_worker(
                bench,
                logs.enter_context((bench.folder / f"worker-{uuid.uuid4().hex[:6]}.log").open("wb")),
                group,
            )
            for _ in range(bench.args.workers)
        ]
        worker = workers[0]
        publishers = bench.publishers(files)
        watch = Watch(
            {f"worker{i}": w.pid for i, w in enumerate(workers)} | {"broker": bench.broker_pid},
            database=database.dialect == "postgresql",
        )
        publishers.go()
        spy = start_profile(bench.args.py_spy, worker.pid, profile) if profile else None
        changed, seen = time.monotonic(), (0, 0)
        while worker.poll() is None:
            current = progress(database)
            done = (current[0] - committed_before[0], current[1] - committed_before[1])
            now = time.monotonic()
            samples.append((now, done[0], max(memory_mb(w.pid) for w in workers)))
            if done[1] >= messages:
                break
            if done != seen:
                changed, seen = now, done
            elif now - changed > STALL_SECONDS:  # give up, and say so: "complete" will be false
                break
            time.sleep(POLL_SECONDS)
        figures = watch.stop()
        figures["worker_cpu_s"] = round(sum(figures.pop(f"worker{i}_cpu_s") for i in range(len(workers))), 2)
        rss_peak = max(memory_mb(w.pid, "VmHWM") for w in workers)
        found = publishers.results()
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        for other in workers:
            other.send_signal(signal.SIGTERM)
        outs = [w.communicate(timeout=60)[0] for w in workers]
    started = min(r["started"] for r in found)
    seconds = samples[-1][0] - started
    after = totals(database)
    stored = {name: after[name] - before[name] for name in after}
    rate, low, high = sustained([(t - started, r) for t, r, _ in samples], readings)
    steady = [m for t, _, m in samples if low <= t - started <= high] or [m for *_, m in samples]
    return {
        "seconds": round(seconds, 3),
        **figures,
        **publishing(found),
        "readings_per_s": round(stored["readings"] / seconds),
        "messages_per_s": round(stored["messages"] / seconds),
        "sustained_readings_per_s": round(rate) if rate else None,
        "sustained_window_s": [round(low, 2), round(high, 2)],
        "worker_rss_max_mb": round(max(m for *_, m in samples), 1),
        "worker_rss_steady_max_mb": round(max(steady), 1),
        "worker_rss_peak_mb": round(rss_peak, 1),
        "stored": stored,
        "complete": stored["readings"] == readings
        and stored["messages"] == messages
        and stored["rollup_1m_readings"] == readings
        and stored["rollup_1h_readings"] == readings
        and stored["dead_letters"] == 0,
        "worker_metrics": [
            json.loads(o.decode().strip().splitlines()[-1]) if o.strip() else None for o in outs
        ],
    }


def scenario(
    bench: Bench, name: str, streams: Streams, per_message: int, *, baselines: bool = True
) -> dict[str, Any]:
    """The two baselines and the ingest worker, on the same messages."""
    messages = sum(map(len, streams.messages))
    readings = messages * per_message
    keys = bench.folder / f"{name}-keys.json"
    keys.write_text(json.dumps(streams.keys))
    files = slices(streams.messages, bench.args.publishers, bench.folder, name)
    sizes = [len(body) for stream in streams.messages for _, body in stream]
    runs: dict[str, dict[str, Any]] = {}
    for work in ("json", "parse") if baselines else ():
        runs[f"bare_{work}"] = run = bare_subscriber(
            bench.broker.port, bench.broker_pid, bench.publishers(files), messages, work, keys, bench.window
        )
        run["readings_per_s"] = round(readings / run["seconds"])
        # CPU per unit does not depend on what else the machine is doing as much as rates do.
        run["subscriber_cpu_us_per_message"] = round(1e6 * run["subscriber_cpu_s"] / messages)
    profile = bench.args.profile / f"{name}.txt" if bench.args.profile else None
    alerts_before = alert_count(bench.database)
    stored = ingest(bench, files, readings, messages, profile)
    stored["worker_cpu_us_per_message"] = round(1e6 * stored["worker_cpu_s"] / messages)
    stored["worker_cpu_us_per_reading"] = round(1e6 * stored["worker_cpu_s"] / readings, 2)
    if "database_cpu_s" in stored:
        # What ingesting costs the machine: the worker and the database server doing its SQL.
        both = stored["worker_cpu_s"] + stored["database_cpu_s"]
        stored["worker_and_database_cpu_us_per_reading"] = round(1e6 * both / readings, 2)
    stored["rules_on_ingest"] = bench.rules
    stored["alerts_opened"] = alert_count(bench.database) - alerts_before
    for path in files:
        path.unlink()
    ratios = {f"time_ratio_to_{base}": round(stored["seconds"] / runs[base]["seconds"], 2) for base in runs}
    return {
        "messages": messages,
        "readings": readings,
        "payload_bytes_mean": round(sum(sizes) / len(sizes)),
        **runs,
        "ingest": stored,
        **({"ingest_profile": summarise_profile(profile)} if profile else {}),
        **ratios,
    }


def alert_count(database: Database) -> int:
    with database.reading() as session:
        return int(session.scalar(select(func.count()).select_from(Alert)) or 0)


def rules_per_reading() -> dict[str, Any]:
    """What judges each temperature reading on the ingest path, and what runs only periodically."""
    room = RoomRules(
        default_parameters(TemperatureClass.FROZEN),
        RoomContext(room_id=0, temperature_class=TemperatureClass.FROZEN),
    )
    on_reading = sorted(rule.rule for rule, _ in room.rules_for_metric(TEMPERATURE))
    periodic = sorted(code.value for code in PERIODIC_RULES if CATALOGUE[code].subject in ("device", "room"))
    return {
        "policy": "frozen template (DESIGN §5 defaults)",
        "judged_per_temperature_reading": on_reading,
        "periodic_per_device_or_room": periodic,
    }


def settled_log(database: Database) -> None:
    """The settings log cut as the scheduler's tick cuts it: registering the benchmark's devices
    wrote a row for each, which a worker would otherwise count for every chunk."""
    prune_settings_log(UnitOfWork(database.write_session))


def alert_latency(
    bench: Bench,
    rooms: list[int],
    seconds: float,
    rate: int,
    hot: int,
    *,
    rules: bool = True,
    warmup: float = 0.0,
) -> dict[str, Any]:
    """Reading to committed alert at a steady ``rate`` readings/s: gateway batches are published
    by one paced MQTT client in this process (the publish moment of each message recorded), the
    worker judges them with the rules on (``rules``), and the alerts table is polled every 10 ms.
    A hot sensor per gateway of the first ``hot`` jumps to -14 °C; latency is the moment its alert
    was first seen committed minus the moment the message holding the alert's trigger reading was
    published (an upper bound: it includes up to one poll). Every message's publish to commit is
    measured too (``message_to_committed_ms``): with the rules off, the baseline. The first
    ``warmup`` seconds of the stream go at a fifth of the rate, so that the new worker's first
    chunks (statements prepared, caches filled) do not leave a backlog the rest of the run works
    off; the hot sensors jump half-way, after it."""
    gateways = max(hot, 20)
    per_second = max(1, rate // SENSORS_PER_GATEWAY)
    steps = max(4, int(seconds * per_second / gateways))
    sensors: list[list[Sender]] = []
    streams = gateway_streams(
        bench.database, rooms, gateways, steps, timedelta(seconds=60), seed=3, hot=hot, sensors_out=sensors
    )
    settled_log(bench.database)
    ordered = [stream[step] for step in range(steps) for stream in streams.messages]
    # (sensor id, ts ms) -> index of the message carrying it
    carrying: dict[tuple[int, int], int] = {}
    for index, (_, body) in enumerate(ordered):
        document = json.loads(body)
        g = index % gateways
        for position, item in enumerate(document["readings"]):
            moment = datetime.fromisoformat(item["ts"].replace("Z", "+00:00"))
            carrying[(sensors[g][position].id, round(moment.timestamp() * 1000))] = index
    published: list[float] = [0.0] * len(ordered)
    bench.rules = rules
    slow = min(len(ordered) // 2, round(warmup * per_second / 5))  # messages sent at a fifth of the rate
    seen: dict[int, float] = {}  # alert id -> first seen committed
    committed: list[tuple[float, int]] = []  # (moment, messages committed by then)
    triggers: dict[int, tuple[str, dict[str, Any]]] = {}
    with (bench.folder / "worker-latency.log").open("wb") as log:
        worker = start_worker(bench, log, None)
        try:
            client = WirePublisher(
                "127.0.0.1", bench.broker.port, client_id=f"bench-paced-{uuid.uuid4().hex[:6]}"
            )
            tick = 0.01
            batch = max(1, round(per_second * tick))
            done = threading.Event()

            def pace() -> None:
                started = time.monotonic()
                for first in range(0, len(ordered), batch):
                    if first < slow:
                        due = started + (first // batch) * tick * 5
                    else:
                        due = started + (slow // batch) * tick * 5 + ((first - slow) // batch) * tick
                    if (wait := due - time.monotonic()) > 0:
                        time.sleep(wait)
                    now = time.monotonic()
                    for index in range(first, min(first + batch, len(ordered))):
                        published[index] = now
                    client.publish(Outbox.of(ordered[first : first + batch]), batch)
                done.set()

            with bench.database.reading() as session:
                chunks_before = session.scalar(select(func.coalesce(func.max(IngestChunk.id), 0)))
            thread = threading.Thread(target=pace)
            thread.start()
            deadline = None
            while True:
                with bench.database.reading() as session:
                    # Two writers may commit out of id order: ask for every alert not seen yet.
                    query = select(Alert.id, Alert.rule, Alert.trigger)
                    if seen:
                        query = query.where(Alert.id.not_in(list(seen)))
                    for alert_id, rule, trigger in session.execute(query):
                        seen[alert_id] = time.monotonic()
                        triggers[alert_id] = (rule, trigger or {})
                    stored = session.scalar(
                        select(func.coalesce(func.sum(IngestChunk.messages), 0)).where(
                            IngestChunk.id > chunks_before
                        )
                    )
                    committed.append((time.monotonic(), int(stored or 0)))
                if done.is_set():
                    deadline = deadline or time.monotonic() + 5
                    if time.monotonic() > deadline:
                        break
                time.sleep(0.01)
            thread.join()
            client.disconnect()
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.communicate(timeout=60)
    latencies: dict[str, list[float]] = {}
    unmatched = 0
    for alert_id, (rule, trigger) in triggers.items():
        if "device" not in trigger or "ts" not in trigger:
            unmatched += 1
            continue
        moment = datetime.fromisoformat(trigger["ts"])
        carrier = carrying.get((trigger["device"], round(moment.timestamp() * 1000)))
        if carrier is None or not published[carrier]:
            unmatched += 1
            continue
        latencies.setdefault(rule, []).append(1000 * (seen[alert_id] - published[carrier]))
    every = [value for values in latencies.values() for value in values]
    # Every message's: the first poll by which as many messages were committed as precede it and
    # itself. The writers commit chunks nearly in order (each takes its last step in turn), so
    # this is close, and it shows whether a backlog builds before the alerts.
    stored_ms: list[float] = []
    polls = iter(committed)
    moment, count = next(polls, (0.0, 0))
    for index in range(len(ordered)):
        while count < index + 1:
            found = next(polls, None)
            if found is None:
                break
            moment, count = found
        if count < index + 1:
            break
        stored_ms.append(1000 * (moment - published[index]))
    halves = len(ordered) // 2
    return {
        "rules_on_ingest": rules,
        "readings_per_s": rate,
        "seconds": round(len(ordered) / per_second, 1),
        "messages": len(ordered),
        "warmup": {"messages": slow, "readings_per_s": rate // 5},
        "alerts": len(triggers),
        "alerts_not_from_this_run": unmatched,
        "latency_ms": percentiles(every) if every else None,
        "latency_ms_by_rule": {rule: percentiles(values) for rule, values in latencies.items()},
        "how": "first seen committed (polled every 10 ms) minus publish of the trigger reading's message",
        "message_to_committed_ms": {
            "after_warmup": percentiles(stored_ms[slow:]) if stored_ms[slow:] else None,
            "second_half": percentiles(stored_ms[halves:]) if stored_ms[halves:] else None,
            "messages": len(stored_ms),
            "how": "the poll by which that many messages were committed (ingest chunks) minus publish",
        },
    }


# --- the benchmark ----------------------------------------------------------------------------


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--database",
        "--database-url",
        default="sqlite",
        help="sqlite, or a PostgreSQL server URL such as postgresql+psycopg://postgres@127.0.0.1/postgres "
        "(a scratch database is created on it and dropped afterwards)",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run with small counts")
    parser.add_argument("--readings", type=int, help="gateway scenario readings (200,000; quick 10,000)")
    parser.add_argument("--gateways", type=int, help="gateways of 50 sensors (40; quick 4)")
    parser.add_argument("--messages", type=int, help="messages per single-reading scenario (50,000; 2,000)")
    parser.add_argument("--devices", type=int, help="devices per single-reading scenario (500; quick 50)")
    parser.add_argument("--chunk-messages", type=int, default=500, help="COLDPLEDGE_INGEST_CHUNK_MESSAGES")
    parser.add_argument("--chunk-wait-ms", type=int, default=50, help="COLDPLEDGE_INGEST_CHUNK_WAIT_MS")
    parser.add_argument("--publishers", type=int, default=4, help="publisher processes, one client each")
    parser.add_argument("--inflight", type=int, default=1000, help="QoS 1 inflight window per publisher")
    parser.add_argument("--writers", type=int, default=2, help="COLDPLEDGE_INGEST_WRITERS of each worker")
    parser.add_argument("--workers", type=int, default=1, help="ingest processes on a shared subscription")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, of {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--skip-unsigned", action="store_true", help="leave out single_unsigned")
    parser.add_argument(
        "--rules",
        choices=("on", "off", "both"),
        default="on",
        help="COLDPLEDGE_RULES_ON_INGEST of the worker; both: the gateway scenario rules off, then on",
    )
    parser.add_argument("--hot-sensors", type=int, default=5, help="sensors that jump to -14 °C (rules on)")
    parser.add_argument(
        "--latency-seconds", type=float, default=20.0, help="paced reading-to-alert run (0: none)"
    )
    parser.add_argument("--latency-rate", type=int, default=50_000, help="readings/s of the paced run")
    parser.add_argument(
        "--latency-warmup-seconds",
        type=float,
        default=2.0,
        help="the paced run's first seconds at a fifth of the rate, while the new worker warms up",
    )
    parser.add_argument("--profile", type=Path, help="folder for py-spy profiles of the worker")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy executable")
    args = parser.parse_args()
    args.readings = args.readings or (10_000 if args.quick else 200_000)
    args.gateways = args.gateways or (4 if args.quick else 40)
    args.messages = args.messages or (2_000 if args.quick else 50_000)
    args.devices = args.devices or (50 if args.quick else 500)
    args.scenarios = [name for name in args.scenarios.split(",") if name]
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.skip_unsigned and "single_unsigned" in args.scenarios:
        args.scenarios.remove("single_unsigned")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    return args


def code_version() -> dict[str, Any]:
    """The commit measured, and which product files differed from it: the code moves quickly."""

    def git(*arguments: str) -> str:
        command = ["git", *arguments]
        found = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
        return found.stdout.strip()

    changes = git("diff", "HEAD", "--", "src")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "changed_files": git("diff", "HEAD", "--name-only", "--", "src").split(),
        "changes_sha256": hashlib.sha256(changes.encode()).hexdigest()[:12] if changes else None,
    }


def main() -> None:
    args = options()
    interval = timedelta(seconds=60)
    steps = max(1, args.readings // (SENSORS_PER_GATEWAY * args.gateways))
    single_steps = max(1, args.messages // args.devices)
    load = os.getloadavg()
    version = code_version()
    report: dict[str, Any] = {}
    setup: dict[str, float] = {}
    with (
        migrated_database(args.database) as database,
        tempfile.TemporaryDirectory(prefix="coldpledge-bench-ingest-") as name,
    ):
        broker = MosquittoBroker(Path(name) / "broker")
        broker.start()
        try:
            bench = Bench(database, broker, args, Path(name))
            rooms = site(database, 4)
            if "gateway_batches" in args.scenarios:
                hot = args.hot_sensors if args.rules != "off" else 0
                runs: dict[str, dict[str, Any]] = {}
                for mode in ("off", "on") if args.rules == "both" else (args.rules,):
                    # Rules off then on: the same readings from a twin set of devices (the same
                    # seed), each with its baselines only once.
                    bench.rules = mode == "on"
                    made = time.monotonic()
                    streams = gateway_streams(
                        database,
                        site(database, 4, f"-{mode}"),
                        args.gateways,
                        steps,
                        interval,
                        seed=1,
                        hot=hot,
                    )
                    settled_log(database)
                    setup[f"gateway_batches_rules_{mode}"] = round(time.monotonic() - made, 1)
                    runs[mode] = {
                        "gateways": args.gateways,
                        "sensors": args.gateways * SENSORS_PER_GATEWAY,
                        "hot_sensors": hot,
                        **scenario(
                            bench, "gateway_batches", streams, SENSORS_PER_GATEWAY, baselines=not runs
                        ),
                    }
                if args.rules == "both":
                    off, on = runs["off"]["ingest"], runs["on"]["ingest"]
                    report["gateway_batches"] = {
                        "rules_off": runs["off"],
                        "rules_on": runs["on"],
                        "rules_on_over_off": {
                            "ingest_seconds": round(on["seconds"] / off["seconds"], 3),
                            "worker_cpu_per_reading": round(
                                on["worker_cpu_us_per_reading"] / off["worker_cpu_us_per_reading"], 3
                            ),
                            **(
                                {
                                    "worker_and_database_cpu_per_reading": round(
                                        on["worker_and_database_cpu_us_per_reading"]
                                        / off["worker_and_database_cpu_us_per_reading"],
                                        3,
                                    )
                                }
                                if "worker_and_database_cpu_us_per_reading" in on
                                else {}
                            ),
                        },
                    }
                else:
                    report["gateway_batches"] = runs[args.rules]
                if args.rules != "off":
                    report["rules"] = rules_per_reading()
                    if args.latency_seconds > 0:
                        # With ``both``, first the same paced run with the rules off: its publish to
                        # commit is the baseline the rules' latency adds to.
                        for rules in (False, True) if args.rules == "both" else (True,):
                            name = "reading_to_alert" if rules else "reading_to_commit_rules_off"
                            report[name] = alert_latency(
                                bench,
                                site(database, 4, f"-latency-{'on' if rules else 'off'}"),
                                args.latency_seconds,
                                args.latency_rate,
                                max(hot, 1),
                                rules=rules,
                                warmup=args.latency_warmup_seconds,
                            )
            for variant, signing in (("single_signed", True), ("single_unsigned", False)):
                if variant not in args.scenarios:
                    continue
                made = time.monotonic()
                streams = single_streams(
                    database, rooms, args.devices, single_steps, interval, signing, seed=2
                )
                settled_log(database)
                setup[variant] = round(time.monotonic() - made, 1)
                report[variant] = {"devices": args.devices, **scenario(bench, variant, streams, 1)}
        finally:
            broker.kill()
        settings = {
            "chunk_messages": args.chunk_messages,
            "chunk_wait_ms": args.chunk_wait_ms,
            "publishers": args.publishers,
            "inflight": args.inflight,
            "writers": args.writers,
            "workers": args.workers,
            "receive_maximum": bench.window,
            "rules": args.rules,
        }
        summary = {
            "benchmark": "ingest",
            "code": version,
            "database": database.dialect,
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load],
            "settings": settings,
            "targets": TARGETS,
            "setup_seconds": setup,
            "scenarios": report,
        }
    print(json.dumps(summary, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
