"""What does an inclusion proof cost in a log of 10 million entries? ``TileStore.inclusion`` for a
random leaf, each in a fresh session (as a request of the API gets one: a pooled connection, no
tiles cached between proofs), and ``merkle.verify_inclusion`` of what it returns, against the same
on a log of 1,000 entries in the same run. The two logs are measured in alternating rounds so that
load on the machine falls on both alike.

    python -m benchmarks.bench_evidence_proofs [--database sqlite|postgresql+psycopg://...]
        [--leaves 10000000] [--baseline-leaves 1000] [--proofs 2000]

The trees are built directly with ``TileStore.append`` from synthetic leaf hashes (SHA-256 of the
index), 65,536 leaves per transaction; no outbox is needed to measure proofs. Prints JSON with the
p50/p99 of proving and verifying on each log and the ratios. Wall time is what a caller waits; the
CPU time of this process (on SQLite that is all the work, on PostgreSQL the client's share) shows
how much of a slow tail is the machine's other load rather than the proof.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from sqlalchemy import func, select

from benchmarks.common import arguments, migrated_database, percentiles
from coldpledge.db import Database
from coldpledge.evidence import merkle
from coldpledge.evidence.models import EvidenceTile
from coldpledge.evidence.tiles import TileStore

CHUNK = 1 << 16
ROUNDS = 10
WARMUP = 50


def synthetic_leaf(index: int) -> bytes:
    return hashlib.sha256(index.to_bytes(8, "big")).digest()


def build(database: Database, leaves: int) -> float:
    """Append ``leaves`` synthetic leaf hashes; returns the seconds it took."""
    started = time.perf_counter()
    size = 0
    while size < leaves:
        count = min(CHUNK, leaves - size)
        with database.write_session() as session:
            size = TileStore(session).append(size, [synthetic_leaf(i) for i in range(size, size + count)])
            session.commit()
        if size % (CHUNK * 16) == 0:
            print(f"{database.dialect}: {size:,} leaves", file=sys.stderr)
    return time.perf_counter() - started


@dataclass
class Log:
    name: str
    database: Database
    size: int
    root: bytes = b""
    prove_ms: list[float] = field(default_factory=list)
    prove_cpu_ms: list[float] = field(default_factory=list)
    verify_ms: list[float] = field(default_factory=list)
    path_lengths: set[int] = field(default_factory=set)

    def prove_and_verify(self, index: int, *, keep: bool = True) -> None:
        started, cpu = time.perf_counter(), time.thread_time()
        with self.database.reading() as session:
            path = TileStore(session).inclusion(index, self.size)
        proved, cpu = time.perf_counter(), time.thread_time() - cpu
        ok = merkle.verify_inclusion(index, self.size, synthetic_leaf(index), path, self.root)
        verified = time.perf_counter()
        assert ok, f"the proof for leaf {index} of {self.size} does not verify"
        if keep:
            self.prove_ms.append((proved - started) * 1000)
            self.prove_cpu_ms.append(cpu * 1000)
            self.verify_ms.append((verified - proved) * 1000)
            self.path_lengths.add(len(path))


def ratio(large: list[float], base: list[float], rank: str) -> float:
    return round(percentiles(large)[rank] / percentiles(base)[rank], 2)


def main() -> None:
    args = arguments(
        __doc__ or "",
        leaves=(10_000_000, "leaves in the large log"),
        baseline_leaves=(1_000, "leaves in the baseline log"),
        proofs=(2_000, "timed proofs per log"),
    )
    rng = random.Random(5)
    with ExitStack() as stack:
        logs = [
            Log("baseline", stack.enter_context(migrated_database(args.database)), args.baseline_leaves),
            Log("large", stack.enter_context(migrated_database(args.database)), args.leaves),
        ]
        build_s = {}
        for log in logs:
            build_s[log.name] = round(build(log.database, log.size), 1)
            if log.database.dialect == "postgresql":
                # What autovacuum would have done by now on a log that grew over months.
                with log.database.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT")
                    connection.exec_driver_sql("VACUUM ANALYZE evidence_tiles")
            with log.database.reading() as session:
                log.root = TileStore(session).root(log.size)
        small = logs[0]
        expected = merkle.root_of([synthetic_leaf(i) for i in range(small.size)])
        assert small.root == expected, "the baseline tree does not have the root of its leaves"
        with logs[1].database.reading() as session:
            tiles = session.scalar(select(func.count()).select_from(EvidenceTile))
            tile_bytes = session.scalar(select(func.sum(func.length(EvidenceTile.hashes))))

        for log in logs:
            for _ in range(WARMUP):
                log.prove_and_verify(rng.randrange(log.size), keep=False)
        for _round in range(ROUNDS):
            for log in logs:
                for _ in range(args.proofs // ROUNDS):
                    log.prove_and_verify(rng.randrange(log.size))

        results = {
            log.name: {
                "leaves": log.size,
                "path_lengths": sorted(log.path_lengths),
                "prove_ms": percentiles(log.prove_ms),
                "prove_cpu_ms_of_this_process": percentiles(log.prove_cpu_ms),
                "verify_ms": percentiles(log.verify_ms),
            }
            for log in logs
        }
        base, large = logs[0], logs[1]
        print(
            json.dumps(
                {
                    "benchmark": "evidence_proofs",
                    "database": logs[0].database.dialect,
                    "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "proofs_per_log": len(logs[0].prove_ms),
                    "build_seconds": build_s,
                    "large_log_tiles": {"rows": tiles, "bytes": tile_bytes},
                    "baseline": f"the same on a log of {args.baseline_leaves:,} leaves, alternating rounds",
                    "results": results,
                    "ratio_large_to_baseline": {
                        "prove_p50": ratio(large.prove_ms, base.prove_ms, "p50"),
                        "prove_p99": ratio(large.prove_ms, base.prove_ms, "p99"),
                        "verify_p99": ratio(large.verify_ms, base.verify_ms, "p99"),
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
