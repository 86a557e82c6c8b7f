"""The gateway's on-disk buffer: every reading lives here from capture until the broker acknowledges
the message that carries it.

Readings are first stored one by one with their capture time. ``seal`` then moves the oldest of them
into one message: it takes the next sequence number, signs, and stores the exact bytes to send, all in
one transaction. From then on the message is only ever re-sent, never rebuilt, so a copy sent before
a crash or a reconnect is byte-identical to the one sent after and the platform's (device, seq)
deduplication recognises it.

SQLite in WAL mode with ``synchronous=FULL``: once ``capture`` returns, a power cut loses nothing.
One connection, shared by the driver threads and the publisher under a lock.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coldpledge.iot.edge.driver import Measurement
from coldpledge.iot.payload import METRICS, encode, format_ts, sign

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,  -- capture order
    device TEXT,             -- NULL: the gateway's own reading
    ts TEXT NOT NULL,        -- capture time, exactly as it will be sent
    metric TEXT NOT NULL,
    value REAL NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    payload BLOB NOT NULL,   -- the signed bytes; re-sent as they are
    readings INTEGER NOT NULL,
    sealed_at TEXT NOT NULL
) STRICT;
"""


class ForeignBuffer(Exception):
    """The buffer file belongs to another gateway; its sequence numbers are not ours to continue."""


@dataclass(frozen=True)
class PendingMessage:
    seq: int
    payload: bytes


@dataclass(frozen=True)
class Backlog:
    readings: int  # captured and not yet acknowledged by the broker, sealed or not
    messages: int  # sealed and not yet acknowledged


class Buffer:
    def __init__(self, path: Path, *, gateway: str, first_seq: int | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.gateway = gateway
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        with self._transaction():
            owner = self._meta("gateway")
            if owner is None:
                # A new buffer numbers on from the clock, not from 1: a gateway whose buffer was
                # lost or replaced must not reuse numbers the platform already holds (it would
                # refuse the new messages as reused sequence numbers). Milliseconds since 1970,
                # times 1000, leave room for a thousand messages a millisecond and stay below
                # 2**53, the largest integer a JSON number carries exactly.
                first = int(time.time() * 1000) * 1000 if first_seq is None else first_seq
                self._db.execute(
                    "INSERT INTO meta VALUES ('gateway', ?), ('last_seq', ?), ('first_seq', ?)",
                    (gateway, str(first - 1), str(first)),
                )
            self._last_seq = int(self._meta("last_seq") or 0)
            self.first_seq = int(self._meta("first_seq") or 1)
        if owner not in (None, gateway):
            self._db.close()
            raise ForeignBuffer(f"{path} is the buffer of gateway {owner}, not {gateway}")
        self._unsealed: int = self._db.execute("SELECT count(*) FROM readings").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @property
    def last_seq(self) -> int:
        """The sequence number of the newest sealed message, acknowledged or not."""
        return self._last_seq

    @property
    def unsealed(self) -> int:
        return self._unsealed

    def capture(self, ts: datetime, measurements: Sequence[Measurement]) -> None:
        """Store readings taken at ``ts``; durable when this returns."""
        self.capture_many([(ts, measurements)])

    def capture_many(self, samples: Iterable[tuple[datetime, Sequence[Measurement]]]) -> None:
        """Store several moments' readings in one transaction (a history read from a logger)."""
        rows = []
        for ts, measurements in samples:
            stamp = format_ts(ts)
            for measurement in measurements:
                if measurement.metric not in METRICS:
                    raise ValueError(f"unknown metric {measurement.metric!r}")
                if not math.isfinite(measurement.value):
                    raise ValueError(
                        f"{measurement.device} {measurement.metric}: {measurement.value} is not a number"
                    )
                rows.append((measurement.device, stamp, measurement.metric, measurement.value))
        if not rows:
            return
        with self._lock:
            with self._transaction():
                self._db.executemany(
                    "INSERT INTO readings (device, ts, metric, value) VALUES (?, ?, ?, ?)", rows
                )
            self._unsealed += len(rows)

    def seal(self, *, key: Ed25519PrivateKey, sent_at: datetime, limit: int) -> PendingMessage | None:
        """Move up to ``limit`` oldest readings into the next message; None when there are none.

        ``sent_at`` is the moment of sealing: the bytes are fixed from here on, re-sends included."""
        with self._lock:
            with self._transaction():
                rows = self._db.execute(
                    "SELECT id, device, ts, metric, value FROM readings ORDER BY id LIMIT ?", (limit,)
                ).fetchall()
                if not rows:
                    return None
                seq = self._last_seq + 1
                document = {
                    "device": self.gateway,
                    "seq": seq,
                    "sent_at": format_ts(sent_at),
                    "readings": [
                        _reading(device, ts, metric, value) for _, device, ts, metric, value in rows
                    ],
                }
                payload = encode(sign(document, key))
                self._db.execute(
                    "INSERT INTO messages (seq, payload, readings, sealed_at) VALUES (?, ?, ?, ?)",
                    (seq, payload, len(rows), document["sent_at"]),
                )
                # The selected rows are exactly the lowest ids, so this deletes them and nothing else.
                self._db.execute("DELETE FROM readings WHERE id <= ?", (rows[-1][0],))
                self._db.execute("UPDATE meta SET value = ? WHERE key = 'last_seq'", (str(seq),))
            self._last_seq = seq
            self._unsealed -= len(rows)
        return PendingMessage(seq, payload)

    def pending(self, limit: int, *, after: int = 0) -> list[PendingMessage]:
        """Sealed messages not yet acknowledged, oldest first, with a sequence number above ``after``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, payload FROM messages WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
            ).fetchall()
        return [PendingMessage(seq, payload) for seq, payload in rows]

    def acknowledge(self, seqs: Iterable[int]) -> int:
        """Delete messages the broker has acknowledged; how many were still here."""
        batch = [(seq,) for seq in seqs]
        if not batch:
            return 0
        with self._lock, self._transaction():
            before = self._db.total_changes
            self._db.executemany("DELETE FROM messages WHERE seq = ?", batch)
            return self._db.total_changes - before

    def backlog(self) -> Backlog:
        with self._lock:
            messages, in_messages = self._db.execute(
                "SELECT count(*), coalesce(sum(readings), 0) FROM messages"
            ).fetchone()
        return Backlog(readings=int(in_messages) + self.unsealed, messages=int(messages))

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on an exception: the write lock is taken up front so two
    writers never deadlock upgrading from a read."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: type[BaseException] | None, *_: Any) -> None:
        self._db.execute("ROLLBACK" if kind is not None else "COMMIT")


def _reading(device: str | None, ts: str, metric: str, value: float) -> dict[str, Any]:
    # Whole numbers (door states, counts) are written as integers, the form the canonical bytes use.
    number: int | float = int(value) if value.is_integer() else value
    reading: dict[str, Any] = {"ts": ts, "metric": metric, "value": number, "unit": METRICS[metric].unit}
    if device is not None:
        reading = {"device": device, **reading}
    return reading
