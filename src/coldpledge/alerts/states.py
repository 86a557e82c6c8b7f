"""The rules engine's per-(rule, subject) state, read and written inside the ingest transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from coldpledge.alerts.models import RuleConditionState
from coldpledge.db import utcnow

Key = tuple[str, str]  # (rule, subject)
# Keys per statement: well under SQLite's and PostgreSQL's limits on bound parameters.
BATCH = 400


def load_states(session: Session, keys: Iterable[Key]) -> dict[Key, dict[str, Any]]:
    """The stored state of each (rule, subject) that has one; keys without state are left out."""
    wanted = sorted(set(keys))
    found: dict[Key, dict[str, Any]] = {}
    table = RuleConditionState
    for start in range(0, len(wanted), BATCH):
        chunk = wanted[start : start + BATCH]
        condition: ColumnElement[bool]
        if session.get_bind().dialect.name == "postgresql":
            condition = tuple_(table.rule, table.subject).in_(chunk)
        else:
            condition = or_(*(and_(table.rule == rule, table.subject == subject) for rule, subject in chunk))
        for rule, subject, state in session.execute(
            select(table.rule, table.subject, table.state).where(condition)
        ):
            found[(rule, subject)] = state
    return found


def save_states(
    session: Session, states: Mapping[Key, dict[str, Any]], *, at: datetime | None = None
) -> None:
    """Insert or replace the state of each (rule, subject), in the caller's transaction. Keys are
    written in sorted order so two writers touching the same keys take their locks in the same
    order and cannot deadlock."""
    if not states:
        return
    moment = at or utcnow()
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [
        {"rule": rule, "subject": subject, "state": states[(rule, subject)], "updated_at": moment}
        for rule, subject in sorted(states)
    ]
    for start in range(0, len(rows), BATCH):
        statement = insert(RuleConditionState).values(rows[start : start + BATCH])
        statement = statement.on_conflict_do_update(
            index_elements=["rule", "subject"],
            set_={"state": statement.excluded.state, "updated_at": statement.excluded.updated_at},
        )
        session.execute(statement)
