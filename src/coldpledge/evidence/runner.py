"""The log's worker: sequence the outbox, sign a checkpoint when the tree grew, timestamp it.

Exactly one runs at a time: the leader holds a session-level advisory lock (PostgreSQL) or an
exclusive file lock next to the database (SQLite); the others wait their turn. Correctness does not
rest on this (each step takes the log's transaction lock); it keeps a second worker from spinning.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.keys import load_log_signer
from coldpledge.evidence.timestamps import stamp_latest

logger = logging.getLogger(__name__)
LEADER_KEY = 0x636F6C646C656164  # "coldlead"


@contextmanager
def leadership(
    database: Database, *, wait: threading.Event | None = None, poll: float = 1.0
) -> Iterator[bool]:
    """Become the one worker of this database; yields True once leader, False if told to stop first."""
    stop = wait or threading.Event()
    if database.dialect == "postgresql":
        with database.engine.connect() as connection:
            while not connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_KEY}).scalar():
                connection.rollback()
                if stop.wait(poll):
                    yield False
                    return
            connection.commit()
            try:
                yield True
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LEADER_KEY})
                connection.commit()
        return
    path = Path(str(database.engine.url.database) + ".evidence.lock")
    with path.open("a") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop.wait(poll):
                    yield False
                    return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def step(database: Database, settings: Settings, *, stamp: bool = True) -> int:
    """One round: sequence everything waiting, then sign (and, if ``stamp``, timestamp) a
    checkpoint if due."""
    signer = load_log_signer(settings)
    done = evidence_log.sequence_all(database.write_session, batch=settings.sequencer_batch)
    evidence_log.publish_checkpoint(
        database.write_session,
        signer,
        settings.origin,
        min_interval=timedelta(seconds=settings.checkpoint_interval_seconds),
    )
    if stamp and settings.tsa_url:
        stamp_latest(database, settings)
    return done


def _stamping(database: Database, settings: Settings, stop: threading.Event) -> None:
    """Timestamp checkpoints on a thread of their own: a slow or dead authority (up to its
    timeout per request) must never hold up sequencing and signing."""
    pause = min(30.0, max(1.0, settings.tsa_interval_seconds / 10))
    while not stop.is_set():
        try:
            stamp_latest(database, settings)
        except Exception:
            logger.exception("timestamping failed; retrying")
        stop.wait(pause)


def run(database: Database, settings: Settings, *, stop: threading.Event, interval: float = 0.25) -> None:
    """Run until ``stop`` is set."""
    with leadership(database, wait=stop) as leader:
        if not leader:
            return
        logger.info("evidence log worker is the leader for %s", settings.origin)
        if settings.tsa_url:
            threading.Thread(
                target=_stamping, args=(database, settings, stop), daemon=True, name="evidence-timestamps"
            ).start()
        while not stop.is_set():
            try:
                step(database, settings, stamp=False)
            except evidence_log.LogInconsistent:
                raise
            except Exception:
                # A failed round (a database restart) is retried next round; nothing is lost
                # because the outbox keeps every entry until it is sequenced.
                logger.exception("evidence log round failed; retrying")
            stop.wait(interval)


def start_in_background(database: Database, settings: Settings) -> tuple[threading.Thread, threading.Event]:
    """For ``coldpledge demo``: the worker as a daemon thread of the serving process."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(database, settings), kwargs={"stop": stop}, daemon=True, name="evidence-log"
    )
    thread.start()
    return thread, stop
