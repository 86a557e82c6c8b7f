"""Unit of work: one use case, one transaction, with who is acting and what time it is.

Services open a unit of work, change objects, call ``record`` for every state change and then
``commit``. ``record`` writes the audit event at once; ``commit`` appends the matching evidence
entries to the outbox in commit order and commits everything together, or nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from coldpledge.audit.models import AuditEvent
from coldpledge.audit.snapshot import jsonable, snapshot
from coldpledge.db import utcnow
from coldpledge.errors import N_, Conflict
from coldpledge.evidence.models import EvidenceRef
from coldpledge.evidence.outbox import OUTBOX_LOCK_KEY, EvidenceOutbox, build_entry, salted_hash
from coldpledge.parties.policy import Principal

Clock = Callable[[], datetime]

# Constraint and trigger names the database may report, and what they mean to a user. Contexts add
# their own at import time.
CONSTRAINT_MESSAGES: dict[str, str] = {
    "audit_events_is_append_only": N_("The audit trail is append-only; recorded events never change."),
    "evidence_outbox_is_append_only": N_("Evidence entries are append-only; they never change."),
}


class Evidenced(Protocol):
    """A model whose changes are evidenced: it names itself in the log as ``type:ref``."""

    __subject_type__: str
    id: int

    @property
    def subject_ref(self) -> str: ...


class UnitOfWork:
    def __init__(self, session_factory: Callable[[], Session], *, clock: Clock = utcnow) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._pending: list[tuple[AuditEvent, list[str]]] = []
        self._committed = False

    def __enter__(self) -> Self:
        self.session = self._session_factory()
        self._pending = []
        self._committed = False
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self._committed:
            self.session.rollback()
        self.session.close()
        if isinstance(exc, IntegrityError):
            raise conflict_from(exc) from exc
        if isinstance(exc, StaleDataError) or (isinstance(exc, OperationalError) and _is_contention(exc)):
            raise Conflict(
                N_("Someone else changed this record at the same time; reload and try again.")
            ) from exc

    def now(self) -> datetime:
        return self._clock()

    def record(
        self,
        principal: Principal,
        action: str,
        subject: Evidenced,
        *,
        before: dict[str, Any] | None,
        reason: str | None = None,
        related: Iterable[str] = (),
        data: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Write the audit event for one state change; its evidence entry follows at commit."""
        self.session.flush()
        after = snapshot(subject)
        if data:
            after = {**after, "_data": jsonable(data)}
        event = AuditEvent(
            at=self.now(),
            recorded_at=utcnow(),
            actor_user_id=principal.user_id,
            actor_org_id=principal.org_id,
            actor=principal.actor,
            action=action,
            subject_type=subject.__subject_type__,
            subject_id=subject.id,
            subject_ref=subject.subject_ref,
            before=before,
            after=after,
            reason=reason,
            salt=secrets.token_hex(16),
        )
        self.session.add(event)
        self._pending.append((event, list(related)))
        return event

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the unit that may fail on its own: if it raises, its changes and the events it
        recorded are undone (the rest of the unit stands) and the exception goes on."""
        recorded = len(self._pending)
        try:
            with self.session.begin_nested():
                yield
        except BaseException:
            del self._pending[recorded:]
            raise

    def commit(self) -> None:
        try:
            self.session.flush()
            if self._pending:
                self._append_evidence()
            self.session.commit()
        except IntegrityError as exc:
            self.session.rollback()
            raise conflict_from(exc) from exc
        self._committed = True
        self._pending = []

    def _append_evidence(self) -> None:
        if self.session.get_bind().dialect.name == "postgresql":
            # Held until COMMIT: no other writer can insert outbox rows in between, so outbox ids
            # are handed out in commit order.
            self.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTBOX_LOCK_KEY})
        written = []
        for event, related in self._pending:
            payload = {"before": event.before, "after": event.after, "reason": event.reason}
            entry = build_entry(
                action=event.action,
                subject=event.subject_ref,
                related=related,
                at=event.at,
                recorded_at=event.recorded_at,
                actor=event.actor,
                payload_sha256=salted_hash(bytes.fromhex(event.salt), payload),
            )
            outbox = EvidenceOutbox(
                audit_event_id=event.id,
                entry=entry,
                entry_sha256=hashlib.sha256(entry).hexdigest(),
                recorded_at=event.recorded_at,
            )
            self.session.add(outbox)
            written.append((outbox, {event.subject_ref, *related}))
        self.session.flush()
        self.session.add_all(
            EvidenceRef(outbox_id=outbox.id, ref=ref) for outbox, refs in written for ref in sorted(refs)
        )
        self.session.flush()


def _is_contention(exc: OperationalError) -> bool:
    """A deadlock or serialization failure: the other transaction won; trying again is safe."""
    return getattr(exc.orig, "sqlstate", None) in {"40001", "40P01"}


def conflict_from(exc: IntegrityError) -> Conflict:
    """Name the broken invariant in words; never show raw SQL to a user."""
    text_of_error = str(exc.orig)
    for marker, message in CONSTRAINT_MESSAGES.items():
        if marker in text_of_error:
            return Conflict(message, constraint=marker)
    return Conflict(N_("The change conflicts with existing data."))
