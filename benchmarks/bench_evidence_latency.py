"""How long from a business commit to its evidence being in a signed checkpoint? The log's worker
(``coldpledge.evidence.runner.run``, its default round interval and the default checkpoint interval)
runs in a thread with its own engine while a writer makes real business commits through the
services: stocktakes by the inspector of the test world (``tests.world``), arriving at random
(Poisson) at ``--rate`` per second. For each commit: the wall time its COMMIT returned, its
outbox entry, that entry's leaf index, and the ``signed_at`` of the first checkpoint whose tree size
covers that leaf (``publish_checkpoint`` takes that time as it starts; the signed checkpoint is
committed a few milliseconds later).

    python -m benchmarks.bench_evidence_latency [--database sqlite|postgresql+psycopg://...]
        [--commits 600] [--rate 50]

The baseline is the worker's own rhythm: it wakes every round interval (0.25 s) and signs at most
one checkpoint per checkpoint interval (1 s by default), so a commit waits on average half of that
interval even with an infinitely fast sequencer. Prints JSON with p50/p99 of the latency and its
ratio to the intervals.
"""

from __future__ import annotations

import json
import os
import platform
import random
import tempfile
import threading
import time
from bisect import bisect_right
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from tests.world import World, build

from benchmarks.common import arguments, migrated_database, percentiles
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import runner
from coldpledge.evidence.models import EvidenceCheckpoint, EvidenceLeaf
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import StocktakeIn
from coldpledge.uow import UnitOfWork

ROUND_INTERVAL = 0.25  # runner.run's default


def settle(database: Database, timeout: float = 30.0) -> None:
    """Wait until every outbox entry is in a signed checkpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with database.reading() as session:
            entries = session.scalar(select(func.count()).select_from(EvidenceOutbox))
            latest = evidence_log.latest_checkpoint(session)
            if latest is not None and latest.tree_size == entries:
                return
        time.sleep(0.05)
    raise TimeoutError("the worker did not sign a checkpoint of the whole outbox in time")


def write(database: Database, world: World, commits: int, rate: float) -> list[tuple[datetime, int]]:
    """Stocktakes at random intervals; returns (time committed, its last outbox id) of each."""
    rng = random.Random(17)
    inspector = world.who("inspector")
    stamps: list[datetime] = []

    def stamped_session() -> Session:
        # The moment COMMIT returned, not when the service did: the worker thread may run first.
        session = database.write_session()
        event.listen(session, "after_commit", lambda _session: stamps.append(datetime.now(UTC)))
        return session

    done = []
    next_at = time.monotonic()
    for _ in range(commits):
        next_at += rng.expovariate(rate)
        time.sleep(max(0.0, next_at - time.monotonic()))
        inventory.stocktake(
            UnitOfWork(stamped_session),
            inspector,
            world.lots["free"],
            StocktakeIn(counted_g=10_000_000, counted_cartons=500),
        )
        committed = stamps[-1]
        with database.reading() as session:
            outbox_id = session.scalar(select(func.max(EvidenceOutbox.id)))
        assert outbox_id is not None
        done.append((committed, outbox_id))
    return done


def main() -> None:
    args = arguments(
        __doc__ or "",
        commits=(600, "business commits to time"),
        rate=(50.0, "mean commits per second (Poisson arrivals)"),
    )
    with migrated_database(args.database) as database, tempfile.TemporaryDirectory() as folder:
        defaults = Settings()
        settings = Settings(
            database_url=database.url,
            log_key_file=Path(folder) / "log.key",
            attachments_dir=Path(folder) / "attachments",
            # Only the world's fourteen sign-up passwords are hashed; the worker never hashes one.
            password_time_cost=1,
            password_memory_kib=8,
        )
        world = build(lambda: UnitOfWork(database.write_session), settings)
        worker_database = Database(database.url)
        stop = threading.Event()
        worker = threading.Thread(
            target=runner.run, args=(worker_database, settings), kwargs={"stop": stop}, name="evidence-log"
        )
        worker.start()
        try:
            settle(database)
            started = time.perf_counter()
            commits = write(database, world, args.commits, args.rate)
            writing_s = time.perf_counter() - started
            settle(database)
        finally:
            stop.set()
            worker.join()
            worker_database.dispose()

        with database.reading() as session:
            leaf_of = dict(session.execute(select(EvidenceLeaf.outbox_id, EvidenceLeaf.leaf_index)).all())
            signed = session.execute(
                select(EvidenceCheckpoint.tree_size, EvidenceCheckpoint.signed_at).order_by(
                    EvidenceCheckpoint.tree_size
                )
            ).all()
        sizes = [size for size, _at in signed]
        latencies = []
        for committed, outbox_id in commits:
            covering = bisect_right(sizes, leaf_of[outbox_id])  # first checkpoint with size > index
            latencies.append((signed[covering][1] - committed).total_seconds() * 1000)
        during = [size for size, at in signed if commits[0][0] <= at <= commits[-1][0]]
        figures = percentiles(latencies)
        interval_ms = defaults.checkpoint_interval_seconds * 1000
        print(
            json.dumps(
                {
                    "benchmark": "evidence_latency",
                    "database": database.dialect,
                    "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "commits": len(commits),
                    "commits_per_second": round(len(commits) / writing_s, 1),
                    "checkpoints_signed_while_writing": len(during),
                    "worker": {
                        "round_interval_s": ROUND_INTERVAL,
                        "checkpoint_interval_s": defaults.checkpoint_interval_seconds,
                        "sequencer_batch": defaults.sequencer_batch,
                    },
                    "baseline": "the worker's rhythm: a round every 0.25 s, a checkpoint at most every 1 s",
                    "latency_ms": {**figures, "min": round(min(latencies), 3)},
                    "ratio_to_checkpoint_interval": {
                        "p50": round(figures["p50"] / interval_ms, 2),
                        "p99": round(figures["p99"] / interval_ms, 2),
                    },
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
