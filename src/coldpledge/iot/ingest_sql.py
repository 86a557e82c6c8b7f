"""The reading half of an ingest transaction on PostgreSQL, done by the server.

The worker sends the chunk's reading rows once, by binary COPY. Everything that follows from
which of them are new happens in SQL on the server's own core: inserting them (a duplicate key is
skipped), folding the new ones into the rollups, moving the latest values forward, marking when
each sensor behind a gateway was last seen, and counting per message what went in. The worker
gets back one small row per message instead of every new key, which it used to fetch, convert to
Python objects, match and send back in three more COPYs: that was a third of its time per reading.

SQLite keeps the same steps in Python (``ingest``), with the same results.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from coldpledge.iot import bulk, rollups

READING_COLUMNS = (
    "device_id",
    "metric",
    "ts",
    "value_u",
    "fault",
    "signed",
    "sender_id",
    "seq",
    "received_at",
)

# The new rows of this transaction, as the statements below read them.
_NEW = "(device_id int4, metric int2, ts timestamptz, value_u int8, fault int2, sender_id int4, seq int8)"

_INSERT = """
WITH inserted AS (
    INSERT INTO readings ({columns}) SELECT {columns} FROM {staging}
    ON CONFLICT DO NOTHING
    RETURNING device_id, metric, ts, value_u, fault, sender_id, seq
)
INSERT INTO new_readings SELECT * FROM inserted
"""

_PER_MESSAGE = """
SELECT sender_id, seq, count(*), count(*) FILTER (WHERE fault <> 0) FROM new_readings GROUP BY 1, 2
"""

_POINTS = """
INSERT INTO rollup_points (device_id, metric, ms, value_u)
SELECT device_id, metric, (extract(epoch FROM ts) * 1000)::int8, value_u FROM new_readings WHERE fault = 0
"""

_LATEST = """
INSERT INTO latest_readings AS l (device_id, metric, ts, value_u, fault, received_at)
SELECT DISTINCT ON (device_id, metric) device_id, metric, ts, value_u, fault, %(now)s
FROM new_readings ORDER BY device_id, metric, ts DESC
ON CONFLICT (device_id, metric) DO UPDATE SET
    ts = excluded.ts, value_u = excluded.value_u, fault = excluded.fault, received_at = excluded.received_at
WHERE excluded.ts > l.ts
"""

# Sensors behind a gateway were seen when they last measured. Senders are seen "now", which the
# caller writes afterwards (``senders_seen``), over this in the rare case of a device that is both.
_SENSORS_SEEN = """
UPDATE devices d SET last_seen_at = s.ts
FROM (SELECT device_id, max(ts) AS ts FROM new_readings WHERE device_id <> sender_id GROUP BY device_id) s
WHERE d.id = s.device_id AND (d.last_seen_at IS NULL OR d.last_seen_at < s.ts)
"""


def insert_readings(
    session: Session, rows: Sequence[tuple[Any, ...]]
) -> dict[tuple[int, int], tuple[int, int]]:
    """Insert ``rows`` (in ``READING_COLUMNS`` order), keeping the new ones in ``new_readings`` for
    ``fold_new_readings``; per (sender id, seq), how many readings went in and how many of those
    are sensor faults."""
    _dialect, raw = bulk.driver(session)
    with raw.cursor() as cursor:
        bulk.temp_table(cursor, "new_readings", _NEW)
        if not rows:
            return {}
        staging = bulk.stage(cursor, "incoming_readings", "readings", READING_COLUMNS, rows)
        cursor.execute(_INSERT.format(columns=", ".join(READING_COLUMNS), staging=staging))
        cursor.execute(_PER_MESSAGE)
        return {(int(s), int(q)): (int(n), int(f)) for s, q, n, f in cursor.fetchall()}


def new_rows_of(
    session: Session, messages: Sequence[tuple[int, int]], now: datetime
) -> list[tuple[Any, ...]]:
    """The new readings of these (sender id, seq) messages, as rows in ``READING_COLUMNS`` order."""
    _dialect, raw = bulk.driver(session)
    senders, seqs = (list(column) for column in zip(*messages, strict=True))
    with raw.cursor() as cursor:
        cursor.execute(
            "SELECT n.device_id, n.metric, n.ts, n.value_u, n.fault, r.signed, n.sender_id, n.seq"
            " FROM new_readings n JOIN unnest(%(senders)s::int4[], %(seqs)s::int8[]) AS m(sender_id, seq)"
            " USING (sender_id, seq)"
            " JOIN readings r ON (r.device_id, r.metric, r.ts) = (n.device_id, n.metric, n.ts)",
            {"senders": senders, "seqs": seqs},
        )
        return [(*row, now) for row in cursor.fetchall()]


def fold_new_readings(session: Session, now: datetime) -> None:
    """Fold what ``insert_readings`` kept into the rollups, the latest values and the sensors'
    last seen. The caller holds the devices' advisory locks."""
    _dialect, raw = bulk.driver(session)
    rollups.prepare_staged_points(session)
    with raw.cursor() as cursor:
        cursor.execute(_POINTS)
    rollups.apply_staged(session)
    with raw.cursor() as cursor:
        cursor.execute(_LATEST, {"now": now})
        cursor.execute(_SENSORS_SEEN)


_SENDERS_SEEN = """
UPDATE devices d SET last_seen_at = %(now)s,
    last_seq = greatest(coalesce(d.last_seq, -1), u.seq), clock_skew_ms = u.skew
FROM unnest(%(ids)s::int4[], %(seqs)s::int8[], %(skews)s::int8[]) AS u(id, seq, skew)
WHERE d.id = u.id
"""


def senders_seen(session: Session, seen: Sequence[tuple[int, int, int]], now: datetime) -> None:
    """One statement for every (device id, newest seq, clock skew ms) that sent in this chunk."""
    if not seen:
        return
    _dialect, raw = bulk.driver(session)
    ids, seqs, skews = (list(column) for column in zip(*seen, strict=True))
    with raw.cursor() as cursor:
        cursor.execute(_SENDERS_SEEN, {"now": now, "ids": ids, "seqs": seqs, "skews": skews})
