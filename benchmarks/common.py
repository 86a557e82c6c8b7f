"""Shared set-up for benchmarks: a scratch database (SQLite file or a fresh PostgreSQL database),
migrated, and timing helpers. Benchmarks print one JSON object each."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from coldpledge.db import Database
from coldpledge.migrate import upgrade


def arguments(description: str, **extra: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite, or a PostgreSQL server URL such as postgresql+psycopg://postgres@127.0.0.1/postgres "
        "(a scratch database is created on it and dropped afterwards)",
    )
    parser.add_argument("--repeat", type=int, default=15, help="timed repetitions per measurement")
    for name, (default, help_text) in extra.items():
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=type(default), default=default, help=help_text
        )
    return parser.parse_args()


@contextmanager
def scratch_database(target: str) -> Iterator[Database]:
    if target == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            database = Database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
            upgrade(database.engine)
            try:
                yield database
            finally:
                database.dispose()
        return
    server = create_engine(target, isolation_level="AUTOCOMMIT")
    name = f"coldpledge_bench_{uuid.uuid4().hex[:10]}"
    with server.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database = Database(make_url(target).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()
        with server.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


def median_ms(action: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)
