"""How fast does the sequencer turn the evidence outbox into the log? ``sequence_all`` over N outbox
entries already committed (canonical RFC 8785 entries shaped like the ones ``uow.py`` writes), one
committed transaction per batch, against the bare database work any sequencer must do on the same
rows in the same run: read the entries in id order and insert one leaf row for each, in the same
batches, committed.

    python -m benchmarks.bench_evidence_sequencing [--database sqlite|postgresql+psycopg://...]
        [--entries 200000] [--batch 10000]

Durable means committed: on SQLite the benchmark sets ``PRAGMA synchronous=FULL`` (an fsync at
every commit; the app runs WAL with NORMAL); on PostgreSQL it reports the server's ``fsync`` and
``synchronous_commit``. Prints JSON: entries per second of each, and their ratio.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import random
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    ForeignKey,
    MetaData,
    Table,
    event,
    func,
    insert,
    select,
    text,
)

from benchmarks.common import arguments, migrated_database
from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.db import NAMING_CONVENTION, Database, UTCDateTime
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence import merkle
from coldpledge.evidence.outbox import EvidenceOutbox, build_entry
from coldpledge.evidence.tiles import TileStore

START = datetime(2026, 11, 1, tzinfo=UTC)
ACTIONS = (
    ("lot.stocktake", "lot"),
    ("lot.weigh", "lot"),
    ("lot.seal", "lot"),
    ("receipt.issue", "receipt"),
    ("receipt.pledge_accepted", "receipt"),
    ("release.approve", "release"),
    ("telemetry.batch", "room"),
)
CHUNK = 5_000


def entries_of(rng: random.Random, first: int, count: int) -> list[tuple[int, bytes, datetime]]:
    """``count`` outbox entries from id ``first``: (id, canonical entry, recorded_at)."""
    made = []
    for i in range(first, first + count):
        action, kind = rng.choice(ACTIONS)
        at = START + timedelta(milliseconds=i)
        code = f"{rng.randrange(36**10):010d}"
        related = [f"org:{rng.randrange(1, 80)}", f"warehouse:{rng.randrange(1, 40)}"]
        if kind != "lot":
            related.append(f"lot:LOT-SH-YS-261129-{code[:5]}")
        if kind != "receipt":
            related.append(f"room:{rng.randrange(1, 240)}")
        entry = build_entry(
            action=action,
            subject=f"{kind}:{kind.upper()[:3]}-SH-YS-{code}",
            related=related,
            at=at,
            recorded_at=at + timedelta(microseconds=rng.randrange(900)),
            actor=f"user:{rng.randrange(1, 400)}",
            payload_sha256=secrets.token_hex(32),
        )
        made.append((i, entry, at))
    return made


def load_outbox(database: Database, count: int, seed: int = 11) -> tuple[int, bytes]:
    """Commit ``count`` audit events and their outbox entries with Core inserts (not services: this
    measures the sequencer). Returns the mean entry size and the root of the tree they make."""
    rng = random.Random(seed)
    leaf_hashes: list[bytes] = []
    total_bytes = 0
    for first in range(1, count + 1, CHUNK):
        made = entries_of(rng, first, min(CHUNK, count + 1 - first))
        with database.engine.begin() as connection:
            connection.execute(
                insert(AuditEvent),
                [
                    {
                        "id": i,
                        "at": at,
                        "recorded_at": at,
                        "actor": "user:1",
                        "action": "bench",
                        "subject_type": "lot",
                        "subject_id": i,
                        "subject_ref": f"lot:{i}",
                        "salt": "00" * 16,
                    }
                    for i, _entry, at in made
                ],
            )
            connection.execute(
                insert(EvidenceOutbox),
                [
                    {
                        "id": i,
                        "audit_event_id": i,
                        "entry": entry,
                        "entry_sha256": hashlib.sha256(entry).hexdigest(),
                        "recorded_at": at,
                    }
                    for i, entry, at in made
                ],
            )
        leaf_hashes.extend(merkle.leaf_hash(entry) for _i, entry, _at in made)
        total_bytes += sum(len(entry) for _i, entry, _at in made)
    return total_bytes // count, merkle.root_of(leaf_hashes)


def bare_leaves() -> Table:
    """A table shaped like ``evidence_leaves`` (primary key, unique outbox id, foreign key)."""
    return Table(
        "bench_bare_leaves",
        MetaData(naming_convention=NAMING_CONVENTION),
        Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
        Column("outbox_id", ForeignKey(EvidenceOutbox.id), unique=True, nullable=False),
        Column("sequenced_at", UTCDateTime, nullable=False),
    )


def bare_sequencing(database: Database, leaves: Table, batch: int) -> int:
    """The baseline: the sequencer's reads and leaf inserts alone, with no tree. The leaf rows go
    in the way the sequencer inserts them (one statement per batch, the ids as one array), so the
    ratio is the price of the tree alone."""
    done = 0
    while True:
        with database.write_session() as session:
            connection = session.connection()
            last = connection.scalar(select(func.max(leaves.c.outbox_id))) or 0
            rows = connection.execute(
                select(EvidenceOutbox.id, EvidenceOutbox.entry)
                .where(EvidenceOutbox.id > last)
                .order_by(EvidenceOutbox.id)
                .limit(batch)
            ).all()
            if not rows:
                return done
            outbox_ids = [outbox_id for outbox_id, _entry in rows]
            numbered = evidence_log.numbered_leaves(database.dialect, done, outbox_ids, datetime.now(UTC))
            connection.execute(
                insert(leaves).from_select(["leaf_index", "outbox_id", "sequenced_at"], numbered)
            )
            session.commit()
            done += len(rows)


def durability(database: Database) -> dict[str, str]:
    with database.engine.connect() as connection:
        if database.dialect == "sqlite":
            modes = {0: "off", 1: "normal", 2: "full", 3: "extra"}
            return {
                "journal_mode": str(connection.exec_driver_sql("PRAGMA journal_mode").scalar()),
                "synchronous": modes[int(connection.exec_driver_sql("PRAGMA synchronous").scalar() or 0)],
            }
        return {
            name: str(connection.execute(text(f"SHOW {name}")).scalar())
            for name in ("fsync", "synchronous_commit", "wal_sync_method")
        }


def synchronous_full(engine: Engine) -> None:
    # Runs after the app's own connect hook (WAL, synchronous=NORMAL): every commit is fsynced.
    @event.listens_for(engine, "connect")
    def _full(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()


def main() -> None:
    batch = Settings().sequencer_batch
    args = arguments(
        __doc__ or "",
        entries=(200_000, "outbox entries to sequence"),
        batch=(batch, "entries per sequencer transaction (the worker's default)"),
    )
    with migrated_database(args.database) as database:
        if database.dialect == "sqlite":
            database.engine.dispose()
            synchronous_full(database.engine)
        mean_size, expected_root = load_outbox(database, args.entries)
        baseline_table = bare_leaves()
        baseline_table.create(database.engine)
        with database.engine.begin() as connection:
            if database.dialect == "postgresql":
                connection.exec_driver_sql("ANALYZE")
            # Both runs start with the outbox in the page cache.
            connection.execute(select(func.sum(func.length(EvidenceOutbox.entry)))).scalar()

        started = time.perf_counter()
        bare = bare_sequencing(database, baseline_table, args.batch)
        bare_s = time.perf_counter() - started

        started = time.perf_counter()
        sequenced = evidence_log.sequence_all(database.write_session, batch=args.batch)
        sequencer_s = time.perf_counter() - started

        with database.reading() as session:
            size = evidence_log.tree_size(session)
            root_matches = TileStore(session).root(size) == expected_root
        assert bare == sequenced == size == args.entries, (bare, sequenced, size)
        assert root_matches, "the sequenced tree does not have the root of the entries"

        hashing = [entry for _i, entry, _at in entries_of(random.Random(3), 1, 50_000)]
        started = time.perf_counter()
        for entry in hashing:
            merkle.leaf_hash(entry)
        hashing_per_s = len(hashing) / (time.perf_counter() - started)

        print(
            json.dumps(
                {
                    "benchmark": "evidence_sequencing",
                    "database": database.dialect,
                    "durability": durability(database),
                    "entries": args.entries,
                    "mean_entry_bytes": mean_size,
                    "batch": args.batch,
                    "python": platform.python_version(),
                    "load_average": [round(x, 2) for x in os.getloadavg()],
                    "baseline": "read the outbox rows and insert their leaf rows, same batches, committed",
                    "seconds": {"baseline": round(bare_s, 3), "sequencer": round(sequencer_s, 3)},
                    "entries_per_second": {
                        "baseline": round(bare / bare_s),
                        "sequencer": round(sequenced / sequencer_s),
                        "leaf_hashing_alone": round(hashing_per_s),
                    },
                    "ratio_sequencer_to_baseline_time": round(sequencer_s / bare_s, 2),
                    "root_matches_entries": root_matches,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
