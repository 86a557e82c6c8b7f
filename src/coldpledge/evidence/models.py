"""The log's tables: which outbox entry is which leaf, the tree as tiles, and what was signed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.db import Base, UTCDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class EvidenceRef(Base):
    """Every object an outbox entry is about (its subject and related refs), so the entries about
    a receipt or a lot are found without reading the whole log."""

    __tablename__ = "evidence_refs"

    outbox_id: Mapped[int] = mapped_column(ForeignKey("evidence_outbox.id"), primary_key=True)
    ref: Mapped[str] = mapped_column(String(120), primary_key=True, index=True)


class EvidenceLeaf(Base):
    """Leaf ``leaf_index`` of the log is outbox entry ``outbox_id``. Indices have no gaps; the
    sequencer gives them out in the outbox's (commit) order."""

    __tablename__ = "evidence_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("evidence_outbox.id"), unique=True)
    sequenced_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceTile(Base):
    """256 consecutive hashes of one level of the tree (C2SP tlog-tiles layout): level 0 holds leaf
    hashes, level L the roots of perfect subtrees of 256^L leaves. The rightmost tile of a level
    grows until full; full tiles never change."""

    __tablename__ = "evidence_tiles"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    tile_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class EvidenceCheckpoint(Base):
    """A checkpoint the log signed. Sizes only grow; each is consistent with all before it."""

    __tablename__ = "evidence_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)  # the checkpoint text with the log's signature line
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class EvidenceWitness(Base):
    """A party (a bank, an insurer, a 存证机构) whose cosignatures the log accepts and serves."""

    __tablename__ = "evidence_witnesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    vkey: Mapped[str] = mapped_column(String(400))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceCosignature(Base):
    __tablename__ = "evidence_cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "witness_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("evidence_checkpoints.id"), index=True)
    witness_id: Mapped[int] = mapped_column(ForeignKey("evidence_witnesses.id"))
    line: Mapped[str] = mapped_column(Text)  # the cosignature line, exactly as the witness made it
    cosigned_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the time inside the cosignature
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EvidenceTimestamp(Base):
    """An RFC 3161 timestamp token over a checkpoint's signed note, from a timestamp authority."""

    __tablename__ = "evidence_timestamps"

    id: Mapped[int] = mapped_column(primary_key=True)
    checkpoint_id: Mapped[int] = mapped_column(ForeignKey("evidence_checkpoints.id"), index=True)
    authority: Mapped[str] = mapped_column(String(300))
    token: Mapped[bytes] = mapped_column(LargeBinary)
    gen_time: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
