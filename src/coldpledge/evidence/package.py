"""Evidence packages (证据包): what the log holds about one subject, for checking offline.

Which entries: every entry that names the subject (as its subject or among its related refs);
for a receipt also every entry about the lots it stands for (the lots its own entries name): the
weighing, inspection and seals that back it. Only entries in a signed checkpoint can be proved, so
the package is proved against one checkpoint (the latest, or the one asked for) and entries not
yet in it are left out and listed by type and time; the user exports again after the next
checkpoint, which the log worker signs within seconds. Refusing instead would make a package
impossible while a busy receipt keeps changing.

The package holds commitments only (salted hashes of the private before/after payloads; photos by
content hash). ``disclose=True`` adds each entry's payload and salt, for a court that asks to see
them: anyone can then check them against the entry. The export checks the finished package with
the offline verifier and refuses to write one that does not verify.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.audit.models import AuditEvent
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.models import EvidenceCheckpoint, EvidenceLeaf, EvidenceRef, EvidenceTimestamp
from coldpledge.evidence.note import Signer, parse_checkpoint, parse_note
from coldpledge.evidence.outbox import EvidenceOutbox, canonical
from coldpledge.evidence.package_format import (
    CHECKPOINT,
    FORMAT,
    LOG_KEY,
    MANIFEST,
    REPORTS,
    TSA_ROOTS,
    WITNESS_KEYS,
    entry_file,
    manifest_text,
    payload_file,
    proof_file,
    proof_text,
    salt_file,
    token_file,
    write_zip,
)
from coldpledge.evidence.package_report import render
from coldpledge.evidence.tiles import TileStore
from coldpledge.evidence.verify import Trust, Verification, check_contents, verify_package

SUBJECT = re.compile(r"^[a-z][a-z_]{0,31}:[^\s]{1,100}$")


class ExportError(Exception):
    """Why no package was written, and what to do about it."""


@dataclass(frozen=True)
class Contents:
    """What goes into a package, read from the log; ``assemble`` makes the zip of it."""

    subject: str
    refs: list[str]
    checkpoint_note: str
    log_vkey: str
    witness_vkeys: list[str]
    entries: list[tuple[int, bytes, list[bytes]]]  # leaf index, leaf input, inclusion proof
    created_at: datetime
    disclosures: dict[int, tuple[bytes, str]] | None = None  # index: canonical payload, salt (hex)
    tokens: list[tuple[str, bytes]] = field(default_factory=list)  # authority, RFC 3161 response
    tsa_roots: bytes | None = None
    not_in_checkpoint: list[dict[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Package:
    data: bytes
    contents: Contents
    verification: Verification
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        contents, checkpoint = self.contents, self.verification.checkpoint
        linked = [ref for ref in contents.refs if ref != contents.subject]
        return (
            f"{len(contents.entries)} entries about {contents.subject}"
            + (f" (and {', '.join(linked)})" if linked else "")
            + f", proved against the checkpoint of tree size {checkpoint.size if checkpoint else '?'}"
            + "; the package verifies"
        )


@dataclass(frozen=True)
class _Row:
    entry: bytes
    audit_event_id: int
    index: int | None

    @property
    def record(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.entry)
        return found


def export_package(
    session: Session,
    signer: Signer,
    subject: str,
    *,
    disclose: bool = False,
    checkpoint_size: int | None = None,
    tsa_roots: bytes | None = None,
    now: datetime | None = None,
) -> Package:
    """Build the package of ``subject`` (``receipt:CODE``, ``lot:CODE``, any ``type:ref``)."""
    if not SUBJECT.match(subject):
        raise ExportError(
            f"{subject!r} is not a subject: write it as type:ref, e.g. receipt:CODE or lot:CODE"
        )
    direct = _rows(session, {subject})
    if not direct:
        raise ExportError(f"nothing in the evidence log mentions {subject}; check the type and the code")
    checkpoint = _checkpoint(session, checkpoint_size)
    size = checkpoint.tree_size
    refs = {subject}
    if subject.startswith("receipt:"):
        # The lots a receipt stands for are those its own entries name. Entries that only mention
        # it (an alert in its room names every lot and receipt there) must not pull in the other
        # lots of that room, which belong to other holders.
        for row in direct:
            if row.index is not None and row.index < size and row.record["subject"] == subject:
                record = row.record
                refs |= {ref for ref in record["related"] if ref.startswith("lot:")}
    rows = _rows(session, refs) if len(refs) > 1 else direct
    included = sorted((row for row in rows if row.index is not None and row.index < size), key=_index)
    if not included:
        raise ExportError(
            f"none of the {len(rows)} entries about {subject} is in a signed checkpoint yet: start the log "
            "worker (`coldpledge evidence run`) or wait for its next checkpoint, then export again"
        )
    tiles = TileStore(session)
    warnings: list[str] = []
    tokens = _tokens(session, checkpoint)
    if tokens and tsa_roots is None:
        warnings.append(
            f"the checkpoint has {len(tokens)} timestamp token(s), left out: without the authority's root "
            "certificates (COLDPLEDGE_TSA_ROOTS_FILE) nobody could check them"
        )
        tokens = []
    left_out = [row.record for row in rows if row.index is None or row.index >= size]
    if left_out:
        warnings.append(
            f"{len(left_out)} newer entries are not in a signed checkpoint yet and were left out; "
            "export again after the next checkpoint"
        )
    contents = Contents(
        subject=subject,
        refs=sorted(refs),
        checkpoint_note=evidence_log.rendered(session, checkpoint),
        log_vkey=signer.verifier.vkey,
        witness_vkeys=[witness.vkey for witness in evidence_log.witnesses(session)],
        entries=[(_index(row), row.entry, tiles.inclusion(_index(row), size)) for row in included],
        created_at=now or datetime.now(UTC),
        disclosures=_disclosures(session, included) if disclose else None,
        tokens=tokens,
        tsa_roots=tsa_roots if tokens else None,
        not_in_checkpoint=[{"type": record["type"], "at": record["at"]} for record in left_out],
    )
    data, verification = assemble(contents, signer)
    return Package(data, contents, verification, warnings)


def assemble(contents: Contents, signer: Signer) -> tuple[bytes, Verification]:
    """The zip of ``contents``, its manifest signed by ``signer`` (the log's key), checked by the
    offline verifier before it is returned. Pure."""
    note = contents.checkpoint_note
    checkpoint = parse_checkpoint(parse_note(note).text)
    files: dict[str, bytes] = {
        CHECKPOINT: note.encode(),
        LOG_KEY: (contents.log_vkey + "\n").encode(),
        WITNESS_KEYS: "".join(vkey + "\n" for vkey in contents.witness_vkeys).encode(),
    }
    for index, leaf_input, proof in contents.entries:
        files[entry_file(index)] = leaf_input
        files[proof_file(index)] = proof_text(index, proof, note).encode()
    for index, (payload, salt) in (contents.disclosures or {}).items():
        files[payload_file(index)] = payload
        files[salt_file(index)] = (salt + "\n").encode()
    for number, (_authority, token) in enumerate(contents.tokens, start=1):
        files[token_file(number)] = token
    if contents.tsa_roots is not None:
        files[TSA_ROOTS] = contents.tsa_roots
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "origin": checkpoint.origin,
        "subject": contents.subject,
        "refs": contents.refs,
        "created_at": contents.created_at.isoformat().replace("+00:00", "Z"),
        "tree_size": checkpoint.size,
        "entries": [index for index, _leaf, _proof in contents.entries],
        "not_in_checkpoint": contents.not_in_checkpoint,
        "disclosed": contents.disclosures is not None,
        "timestamps": [
            {"file": token_file(number), "authority": authority}
            for number, (authority, _token) in enumerate(contents.tokens, start=1)
        ],
        "tsa_roots": contents.tsa_roots is not None,
        "files": {},
    }
    # The reports say what the package held when made and how it checked then; the manifest,
    # signed last, covers them too.
    checked = check_contents(files, manifest, Trust())
    if not checked.ok:
        raise ExportError(_refusal(contents.subject, checked))
    for lang, name in REPORTS.items():
        files[name] = render(checked, lang, at_export=True).encode()
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    # The log key signs this JSON as well as checkpoints; it can never pass for a checkpoint (its
    # second line is no tree size), so the two uses of the key cannot be confused.
    text = manifest_text(manifest)
    data = write_zip([(MANIFEST, (text + "\n" + signer.sign(text)).encode()), *files.items()])
    final = verify_package(data)
    if not final.ok:
        raise ExportError(_refusal(contents.subject, final))
    return data, final


def write_package(path: Path, data: bytes) -> None:
    """Write the package whole or not at all: never a half-written zip under the final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _rows(session: Session, refs: set[str]) -> list[_Row]:
    mentioning = select(EvidenceRef.outbox_id).where(EvidenceRef.ref.in_(sorted(refs)))
    found = session.execute(
        select(EvidenceOutbox.entry, EvidenceOutbox.audit_event_id, EvidenceLeaf.leaf_index)
        .outerjoin(EvidenceLeaf, EvidenceLeaf.outbox_id == EvidenceOutbox.id)
        .where(EvidenceOutbox.id.in_(mentioning))
        .order_by(EvidenceOutbox.id)
    ).all()
    return [_Row(bytes(entry), event, index) for entry, event, index in found]


@dataclass(frozen=True)
class TrailEntry:
    """One log entry about a subject, as a person reads the trail: where it sits in the log (None:
    not sequenced yet), what happened and when, and whether a signed checkpoint covers it."""

    index: int | None
    type: str
    at: str
    subject: str
    in_checkpoint: bool


def trail(session: Session, subject: str) -> list[TrailEntry]:
    """The entries that name ``subject`` (as subject or related), oldest first."""
    latest = evidence_log.latest_checkpoint(session)
    size = latest.tree_size if latest is not None else 0
    return [
        TrailEntry(
            index=row.index,
            type=row.record["type"],
            at=row.record["at"],
            subject=row.record["subject"],
            in_checkpoint=row.index is not None and row.index < size,
        )
        for row in _rows(session, {subject})
    ]


def _index(row: _Row) -> int:
    assert row.index is not None  # only sequenced rows reach here
    return row.index


def _checkpoint(session: Session, size: int | None) -> EvidenceCheckpoint:
    if size is None:
        latest = evidence_log.latest_checkpoint(session)
        if latest is None:
            raise ExportError(
                "the log has not signed a checkpoint yet: start the log worker (`coldpledge evidence run`)"
            )
        return latest
    chosen = evidence_log.checkpoint_of_size(session, size)
    if chosen is None:
        raise ExportError(f"the log signed no checkpoint of size {size}")
    return chosen


def _disclosures(session: Session, rows: list[_Row]) -> dict[int, tuple[bytes, str]]:
    wanted = [row.audit_event_id for row in rows]
    events = {
        event.id: event for event in session.scalars(select(AuditEvent).where(AuditEvent.id.in_(wanted)))
    }
    disclosures = {}
    for row in rows:
        event = events[row.audit_event_id]
        # The very bytes the salted hash was taken over when the change was made (UnitOfWork.commit).
        payload = canonical({"before": event.before, "after": event.after, "reason": event.reason})
        disclosures[_index(row)] = (payload, event.salt)
    return disclosures


def _tokens(session: Session, checkpoint: EvidenceCheckpoint) -> list[tuple[str, bytes]]:
    found = session.execute(
        select(EvidenceTimestamp.authority, EvidenceTimestamp.token)
        .where(EvidenceTimestamp.checkpoint_id == checkpoint.id)
        .order_by(EvidenceTimestamp.id)
    ).all()
    return [(authority, bytes(token)) for authority, token in found]


def _refusal(subject: str, result: Verification) -> str:
    problems = "; ".join(finding.text("en") for finding in result.failures) or "it holds no entry"
    return (
        f"the package of {subject} does not verify, so none was written: {problems}. "
        "Run `coldpledge evidence audit` to look for tampering in the log's database"
    )
