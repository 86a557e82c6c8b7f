"""The big screens' data endpoints, and the room chart a screen user clicks through to, against a
month of one-minute telemetry from 500 probes in PostgreSQL (issue 7: p95 under 200 ms).

    python -m benchmarks.screens [--database postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--sensors 500] [--days 30] [--probes-per-room 10] [--requests 200] [--warmup 5]
        [--budget-s 120] [--explain]

The world, on a scratch PostgreSQL database:

- the demo scenario (``coldpledge.seed.demo``, through the real services): the parties and their
  people, two warehouses with six rooms under supervision, two months of lots, receipts, pledges,
  credit facilities, prices, marks to market, margin calls, alerts and work orders;
- more warehouses of the demo keeper, five frozen rooms each, every one under a virtual warehouse
  of the demo supervisor (warehouses service), until there is a room for every ``--probes-per-room``
  probes; the demo's own rooms are filled first, so the bank sees the probes of the rooms its
  collateral lies in and the operator sees them all;
- ``--sensors`` temperature probes registered through the registry service, ``--probes-per-room``
  to a room, one in 25 with its calibration overdue.

Then ``--days`` days of one reading a minute from every probe, up to now, loaded with set-based
SQL (``INSERT … SELECT … FROM generate_series``) one UTC day at a time, into the tables ingest
writes: ``readings`` (its daily partitions made by ``iot.partitions.ensure_partitions``, as the
worker's maintenance makes them), ``rollups_1m`` (one bucket per reading), ``rollups_1h`` (folded
from the minutes with the algebra of ``iot.timeweight``; a few buckets are checked against
``timeweight.of_points`` over the raw readings), ``latest_readings`` and the devices' last seen.
The loaded tables are then vacuumed and analysed, as autovacuum would have done to month-old days.
Values follow each room's set point with a daily swing and noise. ``telemetry_messages`` (one row
per message) is not loaded: no endpoint measured here reads it.

The app is served by uvicorn on a free port in this process; httpx signs in through the sign-in
form as ``admin`` (the operator: every room, the worst case) and as ``bank`` (浙商银行: its
collateral's rooms) and asks, one request at a time after ``--warmup`` unmeasured ones,
``--requests`` times (or until ``--budget-s`` seconds have gone by) each of:

- ``GET /screens/inventory/data`` and ``GET /screens/receipts/data`` (the screens' JSON snapshots);
- ``GET /api/v1/rooms/{id}/telemetry?from=…&to=…`` for the room chart's ranges: 6 h (raw
  readings), 24 h (minute buckets), 7 and 30 days (hour buckets), for a room with
  ``--probes-per-room`` probes that both viewers see, the window ending at the time of the request,
  each asked twice: with ``points=400`` as the page's script asks (buckets merged in the database)
  and, as the baseline in the same run, without (every bucket). Raw readings are never merged.

Prints JSON: load times, row counts, and per endpoint and viewer the p50/p95/p99/max latency in
milliseconds (nearest rank) measured by the client, the response size, the database's share (time
spent in the driver's execute, summed per request, and statements per request) and the three
slowest statements of the median request; each case passes when its p95 is under the goal. With
``--explain``, that request's slowest statement is run once more under ``EXPLAIN (ANALYZE, BUFFERS)``.
PostgreSQL only: SQLite has no partitions or ``generate_series``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.engine import Engine

from benchmarks.common import migrated_database
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.iot import registry, rollups, timeweight
from coldpledge.iot.models import Device, DeviceKind, LatestReading, Reading, RollupHour, RollupMinute
from coldpledge.iot.partitions import ensure_partitions
from coldpledge.iot.payload import METRICS
from coldpledge.iot.schemas import DeviceIn
from coldpledge.parties.access import restrict
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, Principal
from coldpledge.parties.service import principal_for
from coldpledge.seed.demo import DEMO_PASSWORD, seed_demo
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import Room, TemperatureClass
from coldpledge.warehouses.schemas import RoomIn, VirtualWarehouseIn, WarehouseIn
from coldpledge.web.app import freeze_startup_heap
from coldpledge.web.local_server import serving

GOAL_MS = 200.0
DEFAULT_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROOMS_PER_WAREHOUSE = 5
VIEWERS = ("admin", "bank")
# The room chart's ranges (``web.warehouse_pages.RANGES``).
CHART_HOURS = (("6h", 6), ("24h", 24), ("7d", 24 * 7), ("30d", 24 * 30))
CHART_POINTS = 400  # as static/js/room.js asks
TEMPERATURE = METRICS["temperature"].code
MINUTE = timedelta(minutes=1)


def log(message: str) -> None:
    print(f"[screens] {message}", file=sys.stderr, flush=True)


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    principals: dict[str, Principal]
    rooms: list[int]  # rooms with probes, in the order they were filled
    devices: list[int]
    chart_room: int  # a room with probes both viewers see
    seconds: dict[str, float] = field(default_factory=dict)


def _uow(database: Database) -> UnitOfWork:
    return UnitOfWork(database.write_session)


def build_world(database: Database, settings: Settings, *, sensors: int, probes_per_room: int) -> World:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    seed_demo(database, settings)
    seconds["demo_seed"] = time.perf_counter() - started
    with database.reading() as session:
        users = {user.username: user for user in session.scalars(select(User))}
        principals = {name: principal_for(user) for name, user in users.items()}
        demo_rooms = list(session.scalars(select(Room.id).order_by(Room.id)))
        keeper_org = users["keeper"].organisation_id
        supervisor_org = users["supervisor"].organisation_id

    started = time.perf_counter()
    needed = math.ceil(sensors / probes_per_room)
    rooms = demo_rooms[:needed]
    number = 0
    while len(rooms) < needed:
        number += 1
        rooms += _new_warehouse(
            database,
            principals["keeper"],
            number,
            keeper_org,
            supervisor_org,
            min(ROOMS_PER_WAREHOUSE, needed - len(rooms)),
        )
    seconds["warehouses"] = time.perf_counter() - started

    started = time.perf_counter()
    today = datetime.now(UTC).date()
    devices = []
    for index in range(sensors):
        due = today - timedelta(days=3) if index % 25 == 24 else today + timedelta(days=200)
        data = DeviceIn(
            room_id=rooms[index // probes_per_room],
            kind=DeviceKind.TEMPERATURE,
            signing=False,
            sampling_interval_s=60,
            calibration_certificate=f"CAL-{index:05d}",
            calibration_due=due,
        )
        devices.append(registry.register(_uow(database), SYSTEM, data).device.id)
    seconds["devices"] = time.perf_counter() - started

    with database.reading() as session:
        visible_to_bank = set(
            session.scalars(restrict(principals["bank"], "view", Room).with_only_columns(Room.id))
        )
    full = [room for position, room in enumerate(rooms) if (position + 1) * probes_per_room <= sensors]
    shared = [room for room in full if room in visible_to_bank]
    chart_room = shared[0] if shared else full[0] if full else rooms[0]
    return World(principals, rooms, devices, chart_room, seconds)


def _new_warehouse(
    database: Database, keeper: Principal, number: int, keeper_org: int, supervisor_org: int, rooms: int
) -> list[int]:
    """A warehouse of the demo keeper with ``rooms`` frozen rooms, all under one virtual warehouse
    of the demo supervisor."""
    warehouse = warehouses.create_warehouse(
        _uow(database),
        keeper,
        WarehouseIn(
            code=f"BENCH-{number:02d}",
            name=f"基准冷库 {number:02d}",
            address=f"上海市浦东新区芦潮港镇基准路 {number} 号",
            city="上海",
        ),
    )
    ids = [
        warehouses.add_room(
            _uow(database),
            keeper,
            warehouse.id,
            RoomIn(
                code=f"B{number:02d}-R{index}",
                name=f"{index + 1} 号冷冻间 -18 °C",
                temperature_class=TemperatureClass.FROZEN,
                set_point_c=Decimal(-20),
                band_low_c=Decimal(-23),
                band_high_c=Decimal(-18),
            ),
        ).id
        for index in range(rooms)
    ]
    warehouses.create_virtual_warehouse(
        _uow(database),
        SYSTEM,
        VirtualWarehouseIn(
            code=f"VW-BENCH-{number:02d}",
            name=f"基准监管仓 {number:02d}",
            warehouse_id=warehouse.id,
            supervisor_org_id=supervisor_org,
            room_ids=ids,
            agreement_no=f"ZCJG-BENCH-{number:02d}",
        ),
    )
    assert keeper.org_id == keeper_org
    return ids


# --- a month of telemetry ---------------------------------------------------------------------

# Every probe's reading of every minute of [low, high): the room's set point, a daily swing of
# ±0.8 °C, a per-probe offset and ±0.15 °C of noise, to the thousandth of a degree.
_READINGS = """
INSERT INTO readings (device_id, metric, ts, value_u, fault, signed, sender_id, seq, received_at)
SELECT d.id, :metric, t.ts,
       (r.set_point_mc + (d.id % 5) * 150 - 400
        + round(800 * sin(extract(epoch FROM t.ts) * pi() / 43200 + d.id))
        + round(300 * (random() - 0.5)))::int8 * 1000,
       0, false, d.id, (extract(epoch FROM t.ts) / 60)::int8, t.ts + interval '2 seconds'
FROM devices d
JOIN rooms r ON r.id = d.room_id
CROSS JOIN generate_series(CAST(:low AS timestamptz), CAST(:high AS timestamptz) - interval '1 minute',
                           interval '1 minute') AS t(ts)
WHERE d.id = ANY(CAST(:ids AS int4[]))
ORDER BY d.id, t.ts
"""

# One reading a minute, on the minute: each minute's aggregate is its one point.
_MINUTES = """
INSERT INTO rollups_1m (device_id, metric, bucket, count, min_u, max_u, sum_u, area2,
                        first_ms, first_u, last_ms, last_u)
SELECT device_id, metric, ts, 1, value_u, value_u, value_u, 0, ms, value_u, ms, value_u
FROM (SELECT device_id, metric, ts, value_u, (extract(epoch FROM ts) * 1000)::int8 AS ms
      FROM readings WHERE ts >= :low AND ts < :high AND fault = 0) p
ORDER BY device_id, metric, ts
"""

# An hour folded from its minutes as ``timeweight.fold`` does: the minutes' areas plus the
# trapezoid bridging each minute's last point to the next one's first.
_HOURS = """
INSERT INTO rollups_1h (device_id, metric, bucket, count, min_u, max_u, sum_u, area2,
                        first_ms, first_u, last_ms, last_u)
SELECT device_id, metric, to_timestamp(hour_ms / 1000.0), sum("count"), min(min_u), max(max_u), sum(sum_u),
       sum(area2) + coalesce(sum((previous_u + first_u) * (first_ms - previous_ms)), 0),
       min(first_ms), min(head_u), max(last_ms), min(tail_u)
FROM (
    SELECT m.*, lag(last_ms) OVER w AS previous_ms, lag(last_u) OVER w AS previous_u,
           first_value(first_u) OVER w AS head_u,
           last_value(last_u) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS tail_u
    FROM (SELECT *, first_ms - first_ms % 3600000 AS hour_ms
          FROM rollups_1m WHERE bucket >= :low AND bucket < :high) m
    WINDOW w AS (PARTITION BY device_id, metric, hour_ms ORDER BY bucket)
) s
GROUP BY device_id, metric, hour_ms
"""

_LATEST = """
INSERT INTO latest_readings (device_id, metric, ts, value_u, fault, received_at)
SELECT DISTINCT ON (device_id, metric) device_id, metric, ts, value_u, fault, received_at
FROM readings WHERE ts >= :low AND ts < :high AND device_id = ANY(CAST(:ids AS int4[]))
ORDER BY device_id, metric, ts DESC
"""

_SEEN = """
UPDATE devices d
SET last_seen_at = l.ts, last_seq = (extract(epoch FROM l.ts) / 60)::int8, clock_skew_ms = 2000
FROM latest_readings l WHERE l.device_id = d.id AND l.metric = :metric AND d.id = ANY(CAST(:ids AS int4[]))
"""


@contextmanager
def loading(database: Database) -> Iterator[Connection]:
    """A connection for bulk loading: no wait for the WAL flush, room to sort a day in memory."""
    with database.engine.connect() as connection:
        connection.exec_driver_sql("SET synchronous_commit = off")
        connection.exec_driver_sql("SET work_mem = '256MB'")
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        yield connection


def load_telemetry(
    database: Database, settings: Settings, devices: list[int], *, end: datetime, days: int
) -> dict[str, Any]:
    """``days`` days of one reading a minute for ``devices``, ending at ``end`` (a whole minute)."""
    start = end - timedelta(days=days)
    seconds = {"partitions": 0.0, "readings": 0.0, "rollups_1m": 0.0, "rollups_1h": 0.0, "latest": 0.0}
    with loading(database) as connection:
        began = time.perf_counter()
        ensure_partitions(connection, now=end, days_ahead=settings.partition_days_ahead, days_behind=days + 1)
        connection.commit()
        seconds["partitions"] = time.perf_counter() - began
        # Day by day, each day's steps in one transaction: a partition at a time, sorted by key.
        low = start
        while low < end:
            high = min(end, datetime.combine(low.date() + timedelta(days=1), datetime.min.time(), UTC))
            window: dict[str, Any] = {"low": low, "high": high}
            for name, statement, parameters in (
                ("readings", _READINGS, {**window, "ids": devices, "metric": TEMPERATURE}),
                ("rollups_1m", _MINUTES, window),
                ("rollups_1h", _HOURS, window),
            ):
                began = time.perf_counter()
                connection.execute(text(statement), parameters)
                seconds[name] += time.perf_counter() - began
            connection.commit()
            log(
                f"loaded {low:%Y-%m-%d %H:%M} .. {high:%Y-%m-%d %H:%M} ({sum(seconds.values()):.0f} s so far)"
            )
            low = high
        began = time.perf_counter()
        latest = {"low": end - timedelta(hours=1), "high": end, "ids": devices}
        connection.execute(text(_LATEST), latest)
        connection.execute(text(_SEEN), {"metric": TEMPERATURE, "ids": devices})
        connection.commit()
        seconds["latest"] = time.perf_counter() - began
    began = time.perf_counter()
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        for table in ("readings", "rollups_1m", "rollups_1h", "latest_readings", "devices"):
            connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    vacuum_s = time.perf_counter() - began
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "seconds": {name: round(value, 1) for name, value in seconds.items()},
        "load_s": round(sum(seconds.values()), 1),
        "vacuum_analyze_s": round(vacuum_s, 1),
    }


def counts(database: Database) -> dict[str, Any]:
    with database.reading() as session:
        found: dict[str, Any] = {
            model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (Reading, RollupMinute, RollupHour, LatestReading, Device)
        }
        found["readings_partitions"] = session.scalar(
            text(
                "SELECT count(*) FROM pg_inherits JOIN pg_class parent ON parent.oid = inhparent"
                " WHERE parent.relname = 'readings'"
            )
        )
        found["database_size"] = session.scalar(
            text("SELECT pg_size_pretty(pg_database_size(current_database()))")
        )
    return found


def check_rollups(database: Database, devices: list[int], end: datetime, samples: int = 3) -> int:
    """The stored minute and hour buckets of a few probes equal ``timeweight.of_points`` of their raw
    readings: the SQL above follows the product's algebra. How many buckets were compared."""
    compared = 0
    hour = end.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    with database.reading() as session:
        for device_id in devices[:: max(1, len(devices) // samples)][:samples]:
            points = [
                (rollups.to_ms(ts), value)
                for ts, value in session.execute(
                    select(Reading.ts, Reading.value_u)
                    .where(
                        Reading.device_id == device_id,
                        Reading.metric == TEMPERATURE,
                        Reading.ts >= hour,
                        Reading.ts < hour + timedelta(hours=1),
                    )
                    .order_by(Reading.ts)
                )
            ]
            expected = {"1h": timeweight.of_points(points), "1m": timeweight.of_points(points[:1])}
            for key, model, bucket in (("1h", RollupHour, hour), ("1m", RollupMinute, hour)):
                row = session.execute(
                    select(
                        model.count,
                        model.min_u,
                        model.max_u,
                        model.sum_u,
                        model.area2,
                        model.first_ms,
                        model.first_u,
                        model.last_ms,
                        model.last_u,
                    ).where(model.device_id == device_id, model.metric == TEMPERATURE, model.bucket == bucket)
                ).one()
                stored = timeweight.TimeWeighted(*row)
                if stored != expected[key]:
                    raise AssertionError(
                        f"{key} bucket of device {device_id} at {bucket}: {stored} != {expected[key]}"
                    )
                compared += 1
    return compared


# --- serving and measuring ---------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    parameters: Any
    ms: float


@dataclass
class DatabaseClock:
    """Time spent in the driver's execute, per request: requests are made one at a time."""

    statements: list[Statement] = field(default_factory=list)
    _started: float = 0.0

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        self.statements.append(Statement(statement, parameters, (time.perf_counter() - self._started) * 1000))

    def take(self) -> list[Statement]:
        taken, self.statements = self.statements, []
        return taken


def signed_in(base_url: str, username: str) -> httpx.Client:
    """A client signed in through the sign-in form, as a browser is."""
    client = httpx.Client(base_url=base_url, headers={"Accept-Language": "zh-CN"}, timeout=120)
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = client.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    return client


def rank(ordered: list[float], q: float) -> float:
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 1)


def measure(
    client: httpx.Client,
    url: Callable[[], str],
    clock: DatabaseClock,
    *,
    requests: int,
    warmup: int,
    budget_s: float,
) -> dict[str, Any]:
    for _ in range(warmup):
        client.get(url()).raise_for_status()
    clock.take()
    samples, database_ms, statements, size = [], [], [], 0
    ran_by_request: list[list[Statement]] = []
    deadline = time.monotonic() + budget_s
    for _ in range(requests):
        target = url()
        began = time.perf_counter()
        answer = client.get(target)
        elapsed = (time.perf_counter() - began) * 1000
        answer.raise_for_status()
        size = len(answer.content)
        ran = clock.take()
        samples.append(elapsed)
        database_ms.append(sum(item.ms for item in ran))
        statements.append(len(ran))
        ran_by_request.append(ran)
        if time.monotonic() > deadline:
            break
    ordered = sorted(samples)
    p95 = rank(ordered, 0.95)
    # The statements of the median request: what a typical answer spends its database time on.
    median = sorted(range(len(samples)), key=samples.__getitem__)[len(samples) // 2]
    top = sorted(ran_by_request[median], key=lambda item: item.ms, reverse=True)[:3]
    return {
        "requests": len(samples),
        "p50_ms": rank(ordered, 0.50),
        "p95_ms": p95,
        "p99_ms": rank(ordered, 0.99),
        "max_ms": round(ordered[-1], 1),
        "pass": p95 < GOAL_MS,
        "response_bytes": size,
        "database_ms_p50": rank(sorted(database_ms), 0.50),
        "statements_per_request": max(statements),
        "slowest_statements": [{"ms": round(item.ms, 1), "sql": _short(item.sql)} for item in top],
        "_top": top[0] if top else None,
    }


def _short(sql: str, limit: int = 240) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def explain(database: Database, statement: Statement) -> list[str]:
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.parameters)
        lines = [str(row[0]) for row in cursor.fetchall()]
        raw.rollback()
        return lines
    finally:
        raw.close()


@contextmanager
def full_collections() -> Iterator[list[float]]:
    """The milliseconds of each full (generation 2) garbage collection while measuring."""
    found: list[float] = []
    started: list[float] = []

    def note(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            found.append(round((time.perf_counter() - started[0]) * 1000, 1))

    gc.callbacks.append(note)
    try:
        yield found
    finally:
        gc.callbacks.remove(note)


def run_cases(
    base_url: str, database: Database, world: World, clock: DatabaseClock, args: argparse.Namespace
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for viewer in VIEWERS:
        client = signed_in(base_url, viewer)
        try:
            cases: list[tuple[str, Callable[[], str]]] = [
                ("screens/inventory/data", lambda: "/screens/inventory/data"),
                ("screens/receipts/data", lambda: "/screens/receipts/data"),
            ]
            for label, hours in CHART_HOURS:
                for merged in (False, True):

                    def chart(hours: int = hours, merged: bool = merged) -> str:
                        # As the room page asks (static/js/room.js): raw up to 6 h, minutes for a
                        # day, hours beyond, merged to 400 buckets; and, as the baseline in the
                        # same run, every bucket.
                        end = datetime.now(UTC)
                        start = end - timedelta(hours=hours)
                        resolution = "raw" if hours <= 6 else "1m" if hours <= 24 else "1h"
                        query = {"from": start.isoformat(), "to": end.isoformat(), "resolution": resolution}
                        if merged:
                            query["points"] = str(CHART_POINTS)
                        return f"/api/v1/rooms/{world.chart_room}/telemetry?" + str(httpx.QueryParams(query))

                    way = "raw" if hours <= 6 else f"merged to {CHART_POINTS}" if merged else "every bucket"
                    if hours > 6 or not merged:  # raw points are never merged
                        cases.append((f"rooms/telemetry {label} {way}", chart))
            for name, url in cases:
                log(f"measuring {name} as {viewer}")
                found = measure(
                    client, url, clock, requests=args.requests, warmup=args.warmup, budget_s=args.budget_s
                )
                top = found.pop("_top")
                if args.explain and top is not None:
                    found["explain_slowest"] = explain(database, top)
                results.setdefault(name, {})[viewer] = found
        finally:
            client.close()
    return results


# --- the benchmark -----------------------------------------------------------------------------


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--database",
        default=DEFAULT_SERVER,
        help="a PostgreSQL server URL; a scratch database is created on it and dropped afterwards",
    )
    parser.add_argument("--sensors", type=int, default=500, help="temperature probes (500)")
    parser.add_argument("--days", type=int, default=30, help="days of one-minute readings (30)")
    parser.add_argument("--probes-per-room", type=int, default=10, help="probes in each room (10)")
    parser.add_argument("--requests", type=int, default=200, help="measured requests per endpoint and viewer")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured requests first")
    parser.add_argument(
        "--budget-s", type=float, default=120.0, help="stop a case early after this many seconds"
    )
    parser.add_argument(
        "--no-freeze",
        action="store_true",
        help="leave the startup heap in full collections (the baseline before web.main froze it)",
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="EXPLAIN ANALYZE the slowest statement of each case's median request",
    )
    args = parser.parse_args()
    if not args.database.startswith("postgresql"):
        parser.error("this benchmark needs PostgreSQL (partitioned readings, generate_series)")
    return args


def main() -> None:
    args = options()
    load_average = os.getloadavg()
    with (
        migrated_database(args.database) as database,
        tempfile.TemporaryDirectory(prefix="coldpledge-screens-") as folder,
    ):
        settings = Settings(
            env="test",
            database_url=database.url,
            attachments_dir=Path(folder) / "attachments",
            log_key_file=Path(folder) / "evidence-log.key",
            password_time_cost=1,
            password_memory_kib=8,
        )
        log("seeding the demo and registering the probes")
        world = build_world(database, settings, sensors=args.sensors, probes_per_room=args.probes_per_room)
        end = datetime.now(UTC).replace(second=0, microsecond=0)
        log(f"loading {args.days} days of readings for {len(world.devices)} probes")
        began = time.perf_counter()
        loaded = load_telemetry(database, settings, world.devices, end=end, days=args.days)
        loaded["total_s"] = round(time.perf_counter() - began, 1)
        loaded["rows"] = counts(database)
        loaded["rollup_buckets_checked"] = check_rollups(database, world.devices, end)
        with database.reading() as session:
            seen = {
                viewer: {
                    "rooms": len(session.scalars(restrict(world.principals[viewer], "view", Room)).all()),
                    "devices": len(session.scalars(restrict(world.principals[viewer], "view", Device)).all()),
                }
                for viewer in VIEWERS
            }
            chart_probes = session.scalar(select(func.count()).where(Device.room_id == world.chart_room))
        clock = DatabaseClock()
        clock.attach(database.engine)
        with serving(settings, database) as base_url:
            # As the served entry point does (``web.main``): what the process holds before it
            # serves stays out of full collections. Here that is the loader's work too.
            if not args.no_freeze:
                freeze_startup_heap()
            with full_collections() as collections:
                results = run_cases(base_url, database, world, clock, args)
        print(
            json.dumps(
                {
                    "benchmark": "screens",
                    "database": database.dialect,
                    "goal_p95_ms": GOAL_MS,
                    "pass": all(row["pass"] for by_viewer in results.values() for row in by_viewer.values()),
                    "sensors": len(world.devices),
                    "rooms_with_probes": len(world.rooms),
                    "days": args.days,
                    "requests": args.requests,
                    "warmup": args.warmup,
                    "viewers": seen,
                    "chart_room": {"id": world.chart_room, "probes": chart_probes},
                    "setup_s": {name: round(value, 1) for name, value in world.seconds.items()},
                    "load": loaded,
                    "results": results,
                    "python": platform.python_version(),
                    "cores": os.cpu_count(),
                    "load_average_before": [round(value, 2) for value in load_average],
                    "startup_heap_frozen": not args.no_freeze,
                    "full_collections_ms": collections,
                },
                indent=2,
                ensure_ascii=False,
            )
        )


if __name__ == "__main__":
    main()
