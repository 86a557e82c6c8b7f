"""The evidence log: sequencing the outbox into leaves, signing checkpoints, serving proofs and
collecting witnesses' cosignatures.

One transaction per step. Each step takes the log's lock (a transaction-scoped advisory lock on
PostgreSQL; SQLite has one writer at a time), so even two sequencers running by mistake hand out
every index once, in order.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, func, insert, literal, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from coldpledge.db import UTCDateTime
from coldpledge.evidence import merkle
from coldpledge.evidence.models import (
    EvidenceCheckpoint,
    EvidenceCosignature,
    EvidenceLeaf,
    EvidenceWitness,
)
from coldpledge.evidence.note import (
    COSIGNATURE_V1,
    Checkpoint,
    NoteError,
    Signer,
    Verifier,
    cosignature_time,
    open_note,
    parse_checkpoint,
    parse_vkey,
)
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.evidence.tiles import TileStore

log = logging.getLogger(__name__)

SessionFactory = Callable[[], Session]
LOG_LOCK_KEY = 0x636F6C646C6F6721  # "coldlog!"


class LogInconsistent(RuntimeError):
    """The stored tree no longer reproduces a checkpoint the log signed. The log refuses to sign
    anything until a person looks: signing on would contradict what it already promised."""


def _lock(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOG_LOCK_KEY})


def tree_size(session: Session) -> int:
    last = session.scalar(select(func.max(EvidenceLeaf.leaf_index)))
    return 0 if last is None else int(last) + 1


# --- sequencing -------------------------------------------------------------------------------


def sequence(sessions: SessionFactory, *, limit: int = 10_000, now: datetime | None = None) -> int:
    """Give the next outbox entries (in id order, which is commit order) the next leaf indices and
    add them to the tree. Returns how many were sequenced."""
    with sessions() as session:
        _lock(session)
        size = tree_size(session)
        last_outbox = session.scalar(select(func.max(EvidenceLeaf.outbox_id))) or 0
        # Core rows, not ORM ones: this runs for every entry of a busy log.
        rows = (
            session.connection()
            .execute(
                select(EvidenceOutbox.id, EvidenceOutbox.entry)
                .where(EvidenceOutbox.id > last_outbox)
                .order_by(EvidenceOutbox.id)
                .limit(limit)
            )
            .all()
        )
        if not rows:
            return 0
        _insert_leaves(session, size, [outbox_id for outbox_id, _entry in rows], now or datetime.now(UTC))
        TileStore(session).append(size, [merkle.leaf_hash(entry) for _id, entry in rows])
        session.commit()
        return len(rows)


def numbered_leaves(dialect: str, first: int, outbox_ids: list[int], moment: datetime) -> Select[Any]:
    """Rows (leaf index, outbox id, sequenced at) numbering these outbox ids from ``first`` in this
    order. The ids travel as one array parameter, not one row of parameters each (several times
    faster on PostgreSQL). The sequencing benchmark inserts its baseline with the same rows."""
    if dialect == "postgresql":
        ids = (
            func.unnest(bindparam("ids", outbox_ids, type_=postgresql.ARRAY(BigInteger)))
            .table_valued("value", with_ordinality="position")
            .render_derived(name="ids")
        )
        position = ids.c.position - 1
    else:
        ids = func.json_each(json.dumps(outbox_ids)).table_valued("key", "value")
        position = ids.c.key
    return select(literal(first, BigInteger) + position, ids.c.value, literal(moment, UTCDateTime))


def _insert_leaves(session: Session, first: int, outbox_ids: list[int], moment: datetime) -> None:
    """Leaves ``first``.. for these outbox ids, in this order, in one statement."""
    numbered = numbered_leaves(session.get_bind().dialect.name, first, outbox_ids, moment)
    inserted = (
        session.connection()
        .execute(
            insert(EvidenceLeaf).from_select(["leaf_index", "outbox_id", "sequenced_at"], numbered),
            execution_options={"preserve_rowcount": True},
        )
        .rowcount
    )
    if inserted != len(outbox_ids):
        raise RuntimeError(f"sequenced {inserted} leaves for {len(outbox_ids)} outbox entries")


def sequence_all(sessions: SessionFactory, *, batch: int = 10_000) -> int:
    total = 0
    while (done := sequence(sessions, limit=batch)) > 0:
        total += done
    return total


# --- checkpoints ------------------------------------------------------------------------------


def latest_checkpoint(session: Session) -> EvidenceCheckpoint | None:
    return session.scalars(
        select(EvidenceCheckpoint).order_by(EvidenceCheckpoint.tree_size.desc()).limit(1)
    ).first()


def checkpoint_of_size(session: Session, size: int) -> EvidenceCheckpoint | None:
    return session.scalars(select(EvidenceCheckpoint).where(EvidenceCheckpoint.tree_size == size)).first()


def publish_checkpoint(
    sessions: SessionFactory,
    signer: Signer,
    origin: str,
    *,
    now: datetime | None = None,
    min_interval: timedelta = timedelta(0),
) -> EvidenceCheckpoint | None:
    """Sign a checkpoint of the current tree if it has grown (and the last one is older than
    ``min_interval``). Before signing, the stored tree must still reproduce the last checkpoint's
    root: the log never signs two checkpoints that contradict each other."""
    moment = now or datetime.now(UTC)
    with sessions() as session:
        _lock(session)
        size = tree_size(session)
        last = latest_checkpoint(session)
        if size == 0 or (last is not None and last.tree_size >= size):
            return None
        if last is not None and moment - last.signed_at < min_interval:
            return None
        tiles = TileStore(session)
        if last is not None:
            again = tiles.root(last.tree_size)
            if again != last.root_hash:
                log.critical(
                    "evidence log inconsistent: tree of size %d now has root %s, signed root was %s",
                    last.tree_size,
                    again.hex(),
                    last.root_hash.hex(),
                )
                raise LogInconsistent(
                    f"the stored tree no longer gives the root signed for size {last.tree_size}; "
                    "refusing to sign a checkpoint that would contradict it"
                )
        checkpoint = Checkpoint(origin, size, tiles.root(size))
        signed = EvidenceCheckpoint(
            tree_size=size,
            root_hash=checkpoint.root,
            note=checkpoint.text + "\n" + signer.sign(checkpoint.text),
            signed_at=moment,
        )
        session.add(signed)
        session.commit()
        return signed


def rendered(session: Session, checkpoint: EvidenceCheckpoint) -> str:
    """The checkpoint note with the log's signature and every witness cosignature collected."""
    lines = session.scalars(
        select(EvidenceCosignature.line)
        .where(EvidenceCosignature.checkpoint_id == checkpoint.id)
        .order_by(EvidenceCosignature.id)
    ).all()
    return checkpoint.note + "".join(lines)


# --- entries and proofs -----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    index: int
    leaf_input: bytes

    @property
    def leaf_hash(self) -> bytes:
        return merkle.leaf_hash(self.leaf_input)


def entry_at(session: Session, index: int) -> Entry | None:
    found = session.scalar(
        select(EvidenceOutbox.entry)
        .join(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
        .where(EvidenceLeaf.leaf_index == index)
    )
    return None if found is None else Entry(index, bytes(found))


class ProofRequestError(ValueError):
    pass


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    current = tree_size(session)
    if not 0 < size <= current:
        raise ProofRequestError(f"tree_size must be between 1 and {current}")
    if not 0 <= index < size:
        raise ProofRequestError(f"index must be below tree_size {size}")
    return TileStore(session).inclusion(index, size)


def consistency_proof(session: Session, first: int, second: int) -> list[bytes]:
    current = tree_size(session)
    if not 0 < first <= second <= current:
        raise ProofRequestError(f"need 0 < first <= second <= {current}")
    return TileStore(session).consistency(first, second)


# --- witnesses --------------------------------------------------------------------------------


def register_witness(
    sessions: SessionFactory, vkey: str, *, organisation_id: int | None = None
) -> EvidenceWitness:
    verifier = parse_vkey(vkey)
    if verifier.key_type != COSIGNATURE_V1:
        raise NoteError("a witness key must be a cosignature key (type 0x04)")
    with sessions() as session:
        witness = EvidenceWitness(
            name=verifier.name,
            vkey=verifier.vkey,
            organisation_id=organisation_id,
            added_at=datetime.now(UTC),
        )
        session.add(witness)
        session.commit()
        return witness


def witnesses(session: Session) -> list[EvidenceWitness]:
    return list(session.scalars(select(EvidenceWitness).order_by(EvidenceWitness.id)))


def add_cosignature(
    sessions: SessionFactory, tree_size_: int, line: str, *, now: datetime | None = None
) -> EvidenceCosignature:
    """Keep a witness's cosignature of the checkpoint of ``tree_size_``, after checking it against
    the witness's registered key. A second cosignature by the same witness replaces nothing."""
    with sessions() as session:
        checkpoint = checkpoint_of_size(session, tree_size_)
        if checkpoint is None:
            raise ProofRequestError(f"the log signed no checkpoint of size {tree_size_}")
        known = {w.name: w for w in witnesses(session)}
        body = checkpoint.note.split("\n\n", 1)[0] + "\n"
        line = line if line.endswith("\n") else line + "\n"
        verifiers: list[Verifier] = [parse_vkey(w.vkey) for w in known.values()]
        try:
            note, signed_by = open_note(body + "\n" + line, verifiers)
        except NoteError as exc:
            raise ProofRequestError(f"the cosignature does not verify: {exc}") from exc
        # Exactly one line: extra lines by unknown keys would be stored and served with the note,
        # and one claiming the log's own name would make every verifier reject the checkpoint.
        if len(note.signatures) != 1:
            raise ProofRequestError("send exactly one cosignature line")
        witness = known[signed_by[0].name]
        existing = session.scalars(
            select(EvidenceCosignature).where(
                EvidenceCosignature.checkpoint_id == checkpoint.id,
                EvidenceCosignature.witness_id == witness.id,
            )
        ).first()
        if existing is not None:
            return existing
        try:
            cosigned_at = datetime.fromtimestamp(cosignature_time(note.signatures[0]), UTC)
        except (OverflowError, ValueError, OSError) as exc:
            raise ProofRequestError("the cosignature's time is not a date") from exc
        cosignature = EvidenceCosignature(
            checkpoint_id=checkpoint.id,
            witness_id=witness.id,
            line=line,
            cosigned_at=cosigned_at,
            received_at=now or datetime.now(UTC),
        )
        session.add(cosignature)
        session.commit()
        return cosignature


def checkpoint_body(checkpoint: EvidenceCheckpoint) -> Checkpoint:
    return parse_checkpoint(checkpoint.note.split("\n\n", 1)[0] + "\n")
