"""Tamper detection: recompute the evidence log from the database and say what no longer agrees.

Anyone with write access to the database (an administrator, an intruder, a buggy script) can drop
the append-only triggers and edit, delete or reorder rows. Witnesses would notice the tree changing
under a checkpoint they hold; this audit finds the row. It checks, reading in batches so that a log
of millions of entries never sits in memory:

- leaves: indices 0..n-1 without a gap, each naming a distinct outbox entry, in outbox (commit) order;
- contents: every logged entry still hashes to its leaf hash in the level-0 tiles, every higher tile
  entry is the root of the full tile below it, and the tiles give the root of every checkpoint;
- the outbox: each entry matches its own sha256, its audit event (type, subject, actor, times) and
  the salted hash of that event's before, after and reason; one entry per event and one event per
  entry; entries still waiting for the sequencer are counted, not blamed;
- business rows: each evidenced row still looks like the ``after`` of its latest audit event;
- checkpoints: each signed note verifies with the log's key, says what its row says, and sizes grow.

Run it inside one snapshot (``audit_database`` does) so concurrent writers cannot cause a false alarm.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

import coldpledge.models  # noqa: F401 - registers every model, so no evidenced type is skipped
from coldpledge.db import Database
from coldpledge.evidence.audit_records import check_business_rows, check_outbox
from coldpledge.evidence.audit_report import Report
from coldpledge.evidence.audit_tree import check_checkpoints, check_leaves, check_tiles
from coldpledge.evidence.note import Verifier


def audit_database(database: Database, verifier: Verifier, *, batch: int = 2_000) -> Report:
    """Audit the whole database in one read-only snapshot (REPEATABLE READ on PostgreSQL; a SQLite
    read transaction is a snapshot already)."""
    engine = database.engine
    if database.dialect == "postgresql":
        engine = engine.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with Session(bind=engine) as session:
        try:
            return audit(session, verifier, batch=batch)
        finally:
            session.rollback()


def audit(session: Session, verifier: Verifier, *, batch: int = 2_000, limit: int = 100) -> Report:
    """Every check, in one session. Give it a session of its own: it empties it as it goes."""
    report = Report(limit=limit)
    size = check_leaves(session, report, batch)
    check_tiles(session, report, size)
    check_checkpoints(session, report, verifier, size, batch)
    check_outbox(session, report, batch)
    check_business_rows(session, report, batch)
    return report
