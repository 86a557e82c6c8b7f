"""Daily partitions of ``readings`` on PostgreSQL, created ahead of time, and retention.

Partitions are named ``readings_pYYYYMMDD`` and hold one UTC day. Rows that arrive for a day with
no partition land in ``readings_default`` (nothing is ever refused for want of a partition); when
that day's partition is created later, its rows are moved out of the default first, in the same
transaction, because PostgreSQL refuses a partition whose range the default already holds.
On SQLite there is one plain table and retention deletes rows.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, text

from coldpledge.db import utcnow

_NAME = re.compile(r"^readings_p(\d{8})$")


def partition_name(day: date) -> str:
    return f"readings_p{day:%Y%m%d}"


def _bounds(day: date) -> tuple[str, str]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start.isoformat(), (start + timedelta(days=1)).isoformat()


def existing_partitions(connection: Connection) -> dict[date, str]:
    rows = connection.execute(
        text(
            "SELECT child.relname FROM pg_inherits "
            "JOIN pg_class parent ON parent.oid = pg_inherits.inhparent "
            "JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE parent.relname = 'readings'"
        )
    ).scalars()
    found: dict[date, str] = {}
    for name in rows:
        match = _NAME.match(name)
        if match:
            found[datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()] = name
    return found


def ensure_partitions(
    connection: Connection, *, now: datetime | None = None, days_ahead: int = 7, days_behind: int = 1
) -> list[str]:
    """Create the daily partitions from ``days_behind`` days ago to ``days_ahead`` days ahead.
    Returns the names created. Does nothing on SQLite."""
    if connection.dialect.name != "postgresql":
        return []
    today = (now or utcnow()).astimezone(UTC).date()
    have = existing_partitions(connection)
    created = []
    for offset in range(-days_behind, days_ahead + 1):
        day = today + timedelta(days=offset)
        if day not in have:
            _create(connection, day)
            created.append(partition_name(day))
    return created


def _create(connection: Connection, day: date) -> None:
    name = partition_name(day)
    low, high = _bounds(day)
    # Serialise partition maintenance between processes; ingest keeps inserting meanwhile.
    connection.execute(text("SELECT pg_advisory_xact_lock(7301)"))
    if name in existing_partitions(connection).values():
        return
    strays = connection.execute(
        text("SELECT count(*) FROM readings_default WHERE ts >= :low AND ts < :high"),
        {"low": low, "high": high},
    ).scalar_one()
    if strays:
        connection.execute(text("ALTER TABLE readings DETACH PARTITION readings_default"))
        connection.execute(
            text(f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM ('{low}') TO ('{high}')")
        )
        connection.execute(
            text(f"INSERT INTO {name} SELECT * FROM readings_default WHERE ts >= :low AND ts < :high"),  # noqa: S608
            {"low": low, "high": high},
        )
        connection.execute(
            text("DELETE FROM readings_default WHERE ts >= :low AND ts < :high"), {"low": low, "high": high}
        )
        connection.execute(text("ALTER TABLE readings ATTACH PARTITION readings_default DEFAULT"))
    else:
        connection.execute(
            text(f"CREATE TABLE {name} PARTITION OF readings FOR VALUES FROM ('{low}') TO ('{high}')")
        )


def drop_partitions_before(connection: Connection, cutoff: datetime) -> list[str]:
    """Drop whole daily partitions that end at or before ``cutoff`` (retention on PostgreSQL)."""
    if connection.dialect.name != "postgresql":
        return []
    dropped = []
    for day, name in sorted(existing_partitions(connection).items()):
        if datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1) <= cutoff:
            connection.execute(text(f"DROP TABLE {name}"))
            dropped.append(name)
    return dropped
