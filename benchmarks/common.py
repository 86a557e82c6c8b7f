"""Shared set-up for benchmarks: a scratch database (SQLite file or a fresh PostgreSQL database),
migrated, and timing helpers. Benchmarks print one JSON object each."""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from coldpledge.db import Database, scratch_database
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
def migrated_database(target: str) -> Iterator[Database]:
    with scratch_database(None if target == "sqlite" else target, prefix="coldpledge_bench") as url:
        database = Database(url)
        try:
            upgrade(database.engine)
            yield database
        finally:
            database.dispose()


def median_ms(action: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(samples), 3)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p99 (nearest rank) and the maximum of millisecond samples."""
    ordered = sorted(samples_ms)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 3)

    return {"p50": rank(0.50), "p99": rank(0.99), "max": round(ordered[-1], 3)}
