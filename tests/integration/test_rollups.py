"""Rollups stay equal to what the raw readings say, whatever order and grouping readings arrive in;
partitions and retention keep the raw table in shape."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from coldpledge.config import Settings
from coldpledge.db import Database, scratch_database
from coldpledge.iot import timeweight
from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.models import LatestReading, Reading, RollupHour, RollupMinute
from coldpledge.iot.partitions import ensure_partitions, existing_partitions, partition_name
from coldpledge.iot.retention import maintain
from coldpledge.iot.rollups import HOUR_MS, MINUTE_MS, to_ms
from coldpledge.migrate import upgrade
from tests.conftest import POSTGRES_URL
from tests.conftest import TestDB as Transaction
from tests.iot import new_device, reading
from tests.world import World

NOW = datetime.now(UTC).replace(microsecond=0)
INSERT_READING = (
    "INSERT INTO readings (device_id, metric, ts, value_u, fault, signed, sender_id, seq, received_at)"
    " VALUES (1, 1, :ts, -18000000, 0, true, 1, 1, :ts)"
)


def expected(points: list[tuple[int, int]], width: int) -> dict[int, timeweight.TimeWeighted]:
    return {
        bucket: timeweight.of_points(chunk)
        for bucket, chunk in timeweight.split_by_bucket(sorted(points), width).items()
    }


def stored(
    session: object, model: type[RollupMinute] | type[RollupHour], device_id: int
) -> dict[int, timeweight.TimeWeighted]:
    rows = session.execute(  # type: ignore[attr-defined]
        select(model).where(model.device_id == device_id, model.metric == 1)
    ).scalars()
    return {
        to_ms(row.bucket): timeweight.TimeWeighted(
            row.count,
            row.min_u,
            row.max_u,
            row.sum_u,
            row.area2,
            row.first_ms,
            row.first_u,
            row.last_ms,
            row.last_u,
        )
        for row in rows
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=3 * 3600), min_size=1, max_size=60, unique=True),
    seed=st.integers(min_value=0, max_value=1_000),
    chunk=st.integers(min_value=1, max_value=10),
)
def test_rollups_equal_the_raw_readings_whatever_the_arrival_order(
    db: Transaction, world: World, offsets: list[int], seed: int, chunk: int
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"], signing=False)
    start = NOW - timedelta(hours=4)
    rng = random.Random(seed)
    values = {offset: rng.randint(-25_000, -15_000) / 1000 for offset in offsets}
    arrival = list(offsets)
    rng.shuffle(arrival)
    messages = [
        probe.raw(
            [reading(start + timedelta(seconds=o), values[o]) for o in arrival[i : i + chunk]], sent_at=NOW
        )
        for i in range(0, len(arrival), chunk)
    ]
    ingestor = Ingestor(db.session, clock=lambda: NOW)
    # Some messages arrive twice (redelivery), in chunks of varying size.
    deliveries = messages + messages[: len(messages) // 3]
    for i in range(0, len(deliveries), 3):
        ingestor.ingest([Incoming(raw, "mqtt", probe.topic) for raw in deliveries[i : i + 3]])

    points = [(to_ms(start + timedelta(seconds=o)), round(values[o] * 1_000_000)) for o in offsets]
    with db.reader() as session:
        assert stored(session, RollupMinute, probe.id) == expected(points, MINUTE_MS)
        assert stored(session, RollupHour, probe.id) == expected(points, HOUR_MS)
        latest = session.scalar(select(LatestReading.value_u).where(LatestReading.device_id == probe.id))
        assert latest == max(points)[1]
        assert session.scalar(
            select(func.count()).select_from(Reading).where(Reading.device_id == probe.id)
        ) == len(offsets)


@pytest.mark.postgres
def test_a_day_s_rows_in_the_default_partition_move_into_that_day_s_new_partition(settings: Settings) -> None:
    with scratch_database(POSTGRES_URL, prefix="coldpledge_partitions") as url:
        database = Database(url)
        try:
            upgrade(database.engine)
            far = NOW + timedelta(days=30)
            with database.engine.begin() as connection:
                connection.execute(
                    text(INSERT_READING),
                    {"ts": far},
                )
                assert connection.execute(text("SELECT count(*) FROM readings_default")).scalar() == 1
                created = ensure_partitions(connection, now=far, days_ahead=0, days_behind=0)
            assert created == [partition_name(far.date())]
            with database.engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM readings_default")).scalar() == 0
                assert connection.execute(text(f"SELECT count(*) FROM {created[0]}")).scalar() == 1  # noqa: S608
                assert connection.execute(text("SELECT count(*) FROM readings")).scalar() == 1
        finally:
            database.dispose()


def test_retention_removes_raw_readings_and_rollups_older_than_their_settings(settings: Settings) -> None:
    with scratch_database(POSTGRES_URL, prefix="coldpledge_retention") as url:
        database = Database(url)
        try:
            upgrade(database.engine)
            old = NOW - timedelta(days=500)
            with database.engine.begin() as connection:
                ensure_partitions(connection, now=old, days_ahead=0, days_behind=0)
                for ts in (old, NOW):
                    connection.execute(
                        text(INSERT_READING),
                        {"ts": ts},
                    )
            done = maintain(database, settings.model_copy(update={"retention_raw_days": 400}), now=NOW)
            with database.engine.connect() as connection:
                assert connection.execute(text("SELECT count(*) FROM readings")).scalar() == 1
                if database.dialect == "postgresql":
                    assert done["partitions_dropped"] == [partition_name(old.date())]
                    assert partition_name(old.date()) not in existing_partitions(connection).values()
                else:
                    assert done["raw_deleted"] == 1
        finally:
            database.dispose()
