"""The evidence outbox: one canonical JSON entry (RFC 8785) per state change.

Entries are written in the same transaction as the change they describe, so a fact exists if and
only if its evidence does. Their ids follow commit order: on PostgreSQL the writer takes a
transaction-scoped advisory lock just before inserting them and holds it until commit; SQLite has a
single writer anyway.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.db import Base, UTCDateTime
from coldpledge.evidence import canonical as canonical_json

ENTRY_VERSION = 1
# Any fixed 64-bit number; it only has to be the same in every process.
OUTBOX_LOCK_KEY = 0x636F6C64706C6564  # "coldpled"


class EvidenceOutbox(Base):
    __tablename__ = "evidence_outbox"

    # SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    audit_event_id: Mapped[int] = mapped_column(ForeignKey("audit_events.id"), unique=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    entry_sha256: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


def canonical(document: Any) -> bytes:
    return canonical_json.dumps(document)


def salted_hash(salt: bytes, payload: Any) -> str:
    return hashlib.sha256(salt + canonical(payload)).hexdigest()


def build_entry(
    *,
    action: str,
    subject: str,
    related: list[str],
    at: datetime,
    recorded_at: datetime,
    actor: str,
    payload_sha256: str,
) -> bytes:
    """The public record of one change: what, about whom, when, by whom, and a salted hash of the
    private before/after payload."""
    return canonical(
        {
            "v": ENTRY_VERSION,
            "type": action,
            "subject": subject,
            "related": sorted(set(related)),
            "at": _iso(at),
            "recorded_at": _iso(recorded_at),
            "actor": actor,
            "payload_sha256": payload_sha256,
        }
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
