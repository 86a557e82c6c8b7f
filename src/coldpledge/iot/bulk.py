"""Bulk inserts for the ingest hot path, below the ORM: ``INSERT ... ON CONFLICT DO NOTHING`` that
reports which rows went in.

SQLAlchemy's executemany builds and type-converts every row's parameters in Python, which costs
more than everything else ingestion does per reading. Here PostgreSQL gets the rows through COPY
into a transaction-local staging table and one ``INSERT ... SELECT``; SQLite gets multi-row
``VALUES`` statements. Both run on the session's own connection, inside its transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

# SQLite allows 32,766 parameters per statement; stay well below with a round number of rows.
_SQLITE_ROWS_PER_STATEMENT = 500
# PostgreSQL types of the columns that go through COPY: binary COPY converts them in C, several
# times faster than the text format's per-value Python formatting.
_POSTGRESQL_TYPES = {
    "device_id": "int4",
    "metric": "int2",
    "ts": "timestamptz",
    "value_u": "int8",
    "fault": "int2",
    "signed": "bool",
    "sender_id": "int4",
    "seq": "int8",
    "received_at": "timestamptz",
    "payload_sha256": "text",
    "readings": "int4",
    "sent_at": "timestamptz",
    "transport": "text",
    "chunk_id": "int8",
    "bucket": "timestamptz",
    "count": "int4",
    "min_u": "int8",
    "max_u": "int8",
    "sum_u": "int8",
    "area2": "int8",
    "first_ms": "int8",
    "first_u": "int8",
    "last_ms": "int8",
    "last_u": "int8",
    "ms": "int8",
}


def copy_rows(cursor: Any, staging: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {staging} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([_POSTGRESQL_TYPES[name] for name in columns])
        for row in rows:
            copy.write_row(row)


def insert_new(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    key: Sequence[str],
) -> list[tuple[Any, ...]]:
    """Insert ``rows`` (tuples in ``columns`` order; datetimes aware UTC) skipping those whose
    primary key exists; return the ``key`` columns of the rows that went in, with datetimes as
    aware UTC."""
    if not rows:
        return []
    dialect, raw = driver(session)
    if dialect == "postgresql":
        return _postgresql(raw, table, columns, rows, key)
    return _sqlite(raw, table, columns, rows, key)


def driver(session: Session) -> tuple[str, Any]:
    """The dialect name and the DBAPI connection under the session's current transaction."""
    connection = session.connection()
    return connection.dialect.name, connection.connection.driver_connection


def _postgresql(
    raw: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], key: Sequence[str]
) -> list[tuple[Any, ...]]:
    names = ", ".join(columns)
    with raw.cursor() as cursor:
        staging = stage(cursor, f"incoming_{table}", table, columns, rows)
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} "  # noqa: S608 - our own names
            f"ON CONFLICT DO NOTHING RETURNING {', '.join(key)}"
        )
        return [tuple(found) for found in cursor.fetchall()]


def stage(
    cursor: Any, staging: str, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> str:
    """Put ``rows`` into the session's temporary table ``staging`` (created once per connection
    with ``columns`` of ``table``, emptied at every commit) by binary COPY; returns its name."""
    names = ", ".join(columns)
    temp_table(cursor, staging, f"AS SELECT {names} FROM {table} WITH NO DATA")  # noqa: S608 - our own names
    copy_rows(cursor, staging, columns, rows)
    return staging


def temp_table(cursor: Any, name: str, definition: str) -> None:
    """An empty transaction-local table ``name`` (``definition`` is a column list in brackets or
    ``AS SELECT ...``), made the first time on this connection and emptied at every commit.

    One round trip: both statements go in one simple-protocol message. The table is not assumed
    to exist from an earlier transaction, since a rolled-back one takes its CREATE with it. DELETE,
    not TRUNCATE: the table is nearly always empty already, and TRUNCATE would give it new files
    every time."""
    # The grammar puts ON COMMIT after a column list but before AS.
    columns, query = ("", definition) if definition.startswith("AS ") else (definition, "")
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {name} {columns} ON COMMIT DELETE ROWS {query}; DELETE FROM {name}"  # noqa: S608 - our own names
    )


def _sqlite(
    raw: Any, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], key: Sequence[str]
) -> list[tuple[Any, ...]]:
    def statement(values: str) -> str:
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} "  # noqa: S608 - our own names
            f"ON CONFLICT DO NOTHING RETURNING {', '.join(key)}"
        )

    return _sqlite_in_parts(raw, rows, len(columns), statement)


def _sqlite_in_parts(
    raw: Any, rows: Sequence[tuple[Any, ...]], width: int, statement: Callable[[str], str]
) -> list[tuple[Any, ...]]:
    """Run ``statement(values)`` for slices of ``rows`` as multi-row VALUES lists; what they return."""
    placeholders = "(" + ", ".join("?" * width) + ")"
    found: list[tuple[Any, ...]] = []
    cursor = raw.cursor()
    try:
        for start in range(0, len(rows), _SQLITE_ROWS_PER_STATEMENT):
            part = rows[start : start + _SQLITE_ROWS_PER_STATEMENT]
            cursor.execute(
                statement(", ".join([placeholders] * len(part))),
                [_sqlite_value(value) for row in part for value in row],
            )
            found.extend(tuple(_from_sqlite(value) for value in row) for row in cursor.fetchall())
    finally:
        cursor.close()
    return found


def _sqlite_value(value: Any) -> Any:
    """As ``db.UTCDateTime`` stores it on SQLite: naive UTC text that sorts as time does."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def _from_sqlite(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 26 and value[10] == " ":
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value


def upsert(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    key: Sequence[str],
    *,
    only_if_newer: str | None = None,
) -> None:
    """Insert ``rows``, or overwrite the non-key columns of the rows with the same ``key``; with
    ``only_if_newer``, only where the incoming value of that column is greater."""
    if not rows:
        return
    updates = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in key)
    condition = f" WHERE excluded.{only_if_newer} > {table}.{only_if_newer}" if only_if_newer else ""
    conflict = f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}{condition}"
    dialect, raw = driver(session)
    names = ", ".join(columns)
    if dialect == "postgresql":
        with raw.cursor() as cursor:
            staging = stage(cursor, f"incoming_{table}", table, columns, rows)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging}{conflict}")  # noqa: S608
        return

    def statement(values: str) -> str:
        # "WHERE true" resolves SQLite's parsing ambiguity between VALUES and the upsert clause.
        return f"INSERT INTO {table} ({names}) SELECT * FROM (VALUES {values}) WHERE true{conflict}"  # noqa: S608

    _sqlite_in_parts(raw, rows, len(columns), statement)


def fetch_by_keys(
    session: Session,
    table: str,
    key: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    columns: Sequence[str],
) -> list[tuple[Any, ...]]:
    """The ``columns`` of the rows whose ``key`` is among ``keys``; datetimes come back aware UTC."""
    if not keys:
        return []
    dialect, raw = driver(session)
    names = ", ".join(f"t.{name}" for name in columns)
    if dialect == "postgresql":
        # The keys go in by binary COPY into a staging table: dumping tens of thousands of array
        # elements as query parameters costs several times more Python time.
        join = " AND ".join(f"t.{name} = k.{name}" for name in key)
        with raw.cursor() as cursor:
            staging = stage(cursor, f"wanted_{table}", table, key, keys)
            cursor.execute(f"SELECT {names} FROM {table} t JOIN {staging} k ON {join}")  # noqa: S608
            return [tuple(row) for row in cursor.fetchall()]

    def statement(values: str) -> str:
        return f"SELECT {names} FROM {table} t WHERE ({', '.join(key)}) IN (VALUES {values})"  # noqa: S608

    return _sqlite_in_parts(raw, keys, len(key), statement)
