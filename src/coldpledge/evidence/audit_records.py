"""Audit of the records behind the log: every outbox entry against its audit event, and every
evidenced business row against the ``after`` of its latest audit event."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy import inspect as inspect_model
from sqlalchemy.orm import Session

import coldpledge.models  # noqa: F401 - registers every model, so no evidenced type is skipped
from coldpledge.audit.models import AuditEvent
from coldpledge.audit.snapshot import snapshot
from coldpledge.db import Base
from coldpledge.evidence.audit_report import Report, keyset, pages, raw
from coldpledge.evidence.models import EvidenceLeaf
from coldpledge.evidence.outbox import EvidenceOutbox, build_entry, salted_hash

# The business rows whose current state must match their latest evidence.
EVIDENCED_SUBJECTS = (
    "receipt",
    "lot",
    "warehouse",
    "room",
    "virtual_warehouse",
    "organisation",
    "user",
    "release",
    "seal",
    "supervision_policy",
)
# Columns that change in the ordinary course of things without a state change to evidence.
UNEVIDENCED_COLUMNS: dict[str, frozenset[str]] = {
    # A sign-in is not a change to the user; recording every one would flood the log.
    "user": frozenset({"last_login_at"}),
}
PRIVATE_DATA_KEY = "_data"


# --- the outbox against the audit trail -------------------------------------------------------


def check_outbox(session: Session, report: Report, batch: int) -> None:
    query = select(
        EvidenceOutbox.id,
        EvidenceOutbox.audit_event_id,
        EvidenceOutbox.entry,
        EvidenceOutbox.entry_sha256,
        EvidenceOutbox.recorded_at.label("outbox_recorded_at"),
        AuditEvent.id.label("event_id"),
        AuditEvent.action,
        AuditEvent.subject_ref,
        AuditEvent.at,
        AuditEvent.recorded_at,
        AuditEvent.actor,
        AuditEvent.before,
        AuditEvent.after,
        AuditEvent.reason,
        AuditEvent.salt,
    ).outerjoin(AuditEvent, AuditEvent.id == EvidenceOutbox.audit_event_id)
    for row in keyset(session, query, EvidenceOutbox.id, batch):
        report.checked["outbox entries"] += 1
        entry = raw(row.entry)
        entry_intact = hashlib.sha256(entry).hexdigest() == row.entry_sha256
        if not entry_intact:
            report.add(
                "entry_hash",
                [f"outbox:{row.id}"],
                f"Outbox entry {row.id} no longer matches its own sha256: its bytes were edited. "
                "The copy in the log (and at the witnesses) is the original.",
            )
        if row.event_id is None:
            report.add(
                "entry_without_event",
                [f"outbox:{row.id}", f"audit_event:{row.audit_event_id}"],
                f"Outbox entry {row.id} is the evidence of audit event {row.audit_event_id}, which no "
                "longer exists: the audit row was deleted. Restore it from a backup.",
            )
            continue
        _compare_with_event(report, row, entry, entry_intact)
    duplicates = session.execute(
        select(EvidenceOutbox.audit_event_id, func.count())
        .group_by(EvidenceOutbox.audit_event_id)
        .having(func.count() > 1)
    )
    for event_id, count in duplicates:
        report.add(
            "event_with_two_entries",
            [f"audit_event:{event_id}"],
            f"Audit event {event_id} has {count} outbox entries instead of one: entries were inserted "
            "behind the platform's back. Find the extra ones in the log and explain them.",
        )
    orphans = select(AuditEvent.id, AuditEvent.action, AuditEvent.subject_ref).where(
        ~select(EvidenceOutbox.id).where(EvidenceOutbox.audit_event_id == AuditEvent.id).exists()
    )
    for event_id, action, subject_ref in keyset(session, orphans, AuditEvent.id, batch):
        report.add(
            "event_without_entry",
            [f"audit_event:{event_id}", subject_ref],
            f"Audit event {event_id} ({action} on {subject_ref}) has no evidence entry: its entry was "
            "deleted, or the event was inserted without the platform. Treat the change as unproven.",
        )
    report.checked["audit events"] = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    _count_unsequenced(session, report)


def _compare_with_event(report: Report, row: Any, entry: bytes, entry_intact: bool) -> None:
    """Rebuild the entry from the audit row; any field that differs was edited on one side."""
    refs = [f"outbox:{row.id}", f"audit_event:{row.event_id}", row.subject_ref]
    try:
        document = json.loads(entry)
        related = [str(ref) for ref in document["related"]]
    except (ValueError, KeyError, TypeError):
        report.add(
            "entry_mismatch",
            refs,
            f"Outbox entry {row.id} is no longer a readable evidence record: its bytes were edited. "
            "The copy in the log (and at the witnesses) is the original.",
        )
        return
    try:
        salt = bytes.fromhex(row.salt)
    except (ValueError, TypeError):
        salt = b""  # an edited salt: the hash cannot match, and that is the finding
    payload = {"before": row.before, "after": row.after, "reason": row.reason}
    expected = build_entry(
        action=row.action,
        subject=row.subject_ref,
        related=related,
        at=row.at,
        recorded_at=row.recorded_at,
        actor=row.actor,
        payload_sha256=salted_hash(salt, payload),
    )
    if expected == entry and row.outbox_recorded_at == row.recorded_at:
        return
    wanted = json.loads(expected)
    differing = sorted(key for key in wanted.keys() | document.keys() if wanted.get(key) != document.get(key))
    if row.outbox_recorded_at != row.recorded_at:
        differing.append("outbox recorded_at")
    if differing == ["payload_sha256"] and entry_intact:
        report.add(
            "payload_mismatch",
            refs,
            f"The before, after and reason of audit event {row.event_id} ({row.action} on "
            f"{row.subject_ref}) no longer give the salted hash in outbox entry {row.id}: the audit "
            f"row was edited after the fact (or entry {row.id} was, if it also fails its leaf check). "
            "The logged hash is the original; restore the row from a backup.",
        )
    else:
        report.add(
            "entry_mismatch",
            refs,
            f"Outbox entry {row.id} and audit event {row.event_id} disagree on "
            f"{', '.join(differing) or 'their bytes'}: one of them was edited. The entry in the log is "
            "what witnesses hold; restore the other to match it.",
        )


def _count_unsequenced(session: Session, report: Report) -> None:
    last_sequenced = session.scalar(select(func.max(EvidenceLeaf.outbox_id))) or 0
    waiting = session.scalar(select(func.count()).where(EvidenceOutbox.id > last_sequenced)) or 0
    report.unsequenced = int(waiting)
    if waiting:
        report.add(
            "unsequenced",
            [f"outbox:>{last_sequenced}"],
            f"{waiting} outbox entries are waiting for the sequencer; they are checked against their "
            "audit events but are in no checkpoint yet. Make sure `coldpledge evidence run` is running.",
            problem=False,
        )
    skipped = select(EvidenceOutbox.id).where(
        EvidenceOutbox.id < last_sequenced,
        ~select(EvidenceLeaf.leaf_index).where(EvidenceLeaf.outbox_id == EvidenceOutbox.id).exists(),
    )
    for (outbox_id,) in keyset(session, skipped, EvidenceOutbox.id, 2_000):
        report.add(
            "entry_skipped",
            [f"outbox:{outbox_id}"],
            f"Outbox entry {outbox_id} has no leaf although later entries do: its leaf was deleted, or "
            "the entry was inserted afterwards with an old id. Find out which from a backup.",
        )


# --- business rows against their latest evidence ----------------------------------------------


def _evidenced_models() -> dict[str, type[Base]]:
    found = {
        mapper.class_.__subject_type__: mapper.class_
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__subject_type__", None) in EVIDENCED_SUBJECTS
    }
    # A renamed subject type must not quietly drop out of the audit.
    if missing := set(EVIDENCED_SUBJECTS) - found.keys():
        raise RuntimeError(f"no model for the evidenced subject types {sorted(missing)}")
    return found


def check_business_rows(session: Session, report: Report, batch: int) -> None:
    for subject_type, model in sorted(_evidenced_models().items()):
        latest = (
            select(AuditEvent.subject_id, func.max(AuditEvent.id))
            .where(AuditEvent.subject_type == subject_type)
            .group_by(AuditEvent.subject_id)
        )
        for page in pages(session, latest, AuditEvent.subject_id, batch):
            _check_rows(session, report, subject_type, model, {int(s): int(e) for s, e in page})


def _check_rows(
    session: Session, report: Report, subject_type: str, model: type[Base], latest: dict[int, int]
) -> None:
    objects, unreadable = _load(session, model, list(latest))
    events = session.execute(
        select(
            AuditEvent.id, AuditEvent.subject_id, AuditEvent.action, AuditEvent.subject_ref, AuditEvent.after
        )
        .where(AuditEvent.id.in_(latest.values()))
        .order_by(AuditEvent.subject_id)
    )
    ignored = UNEVIDENCED_COLUMNS.get(subject_type, frozenset())
    times = _time_columns(model)
    for event_id, subject_id, action, subject_ref, after in events:
        report.checked["business rows"] += 1
        if subject_id in unreadable:
            report.add(
                "row_changed",
                [subject_ref, f"audit_event:{event_id}"],
                f"{subject_ref} was changed without evidence: it holds a value the platform cannot read "
                f"({unreadable[subject_id]}). Restore the row from a backup.",
            )
            continue
        row = objects.get(subject_id)
        if row is None:
            report.add(
                "row_deleted",
                [subject_ref, f"audit_event:{event_id}"],
                f"{subject_ref} was deleted without evidence: its latest evidence (audit event "
                f"{event_id}, {action}) describes a row that no longer exists. Restore it from a backup.",
            )
            continue
        now = snapshot(row)
        written = after if isinstance(after, dict) else {}  # a mangled one fails its logged hash
        recorded = {k: v for k, v in written.items() if k != PRIVATE_DATA_KEY and k not in ignored}
        changed = sorted(k for k, v in recorded.items() if not _same(v, now.get(k), k in times))
        if changed:
            detail = "; ".join(
                f"{k} is {now.get(k)!r} but the evidence says {recorded[k]!r}" for k in changed
            )
            report.add(
                "row_changed",
                [subject_ref, f"audit_event:{event_id}"],
                f"{subject_ref} was changed without evidence: {detail} (latest evidence: audit event "
                f"{event_id}, {action}). Find who changed the row outside the platform and restore it, "
                "or make the change through the platform so that it is recorded.",
            )
    # The session would otherwise keep every row it ever loaded.
    session.expunge_all()


def _load(session: Session, model: type[Base], ids: list[int]) -> tuple[dict[int, Any], dict[int, str]]:
    """The rows by id, and why any could not be read (a value outside its type, written directly):
    one such row must not stop the audit of the rest."""
    mapper = inspect_model(model)
    key = mapper.primary_key[0]
    id_key = mapper.get_property_by_column(key).key
    try:
        return {getattr(obj, id_key): obj for obj in session.scalars(select(model).where(key.in_(ids)))}, {}
    except (LookupError, ValueError):
        session.expunge_all()
    objects: dict[int, Any] = {}
    unreadable: dict[int, str] = {}
    for ident in ids:
        try:
            found = session.scalars(select(model).where(key == ident)).first()
        except (LookupError, ValueError) as exc:
            unreadable[ident] = str(exc)
            session.expunge_all()
            continue
        if found is not None:
            objects[ident] = found
    return objects, unreadable


def _time_columns(model: type[Base]) -> frozenset[str]:
    found = set()
    for attribute in inspect_model(model).column_attrs:
        try:
            if attribute.columns[0].type.python_type is datetime:
                found.add(attribute.key)
        except NotImplementedError:
            continue
    return frozenset(found)


def _same(recorded: Any, now: Any, is_time: bool) -> bool:
    """Equal as the audit trail wrote them; times compare as instants (a zone is only notation)."""
    if recorded == now:
        return True
    if is_time and isinstance(recorded, str) and isinstance(now, str):
        try:
            return datetime.fromisoformat(recorded) == datetime.fromisoformat(now)
        except ValueError:
            return False
    return False
