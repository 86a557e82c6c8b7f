"""Reading operations in bulk: counts by kind over a period, for the inventory risk screen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.inventory.models import Operation, OperationKind
from coldpledge.parties.access import restrict
from coldpledge.parties.policy import Principal


def operation_counts(
    session: Session, principal: Principal, since: datetime, until: datetime
) -> dict[str, int]:
    """Operations the principal sees performed in [since, until), by kind (every kind, zero
    included)."""
    visible = (
        restrict(principal, "view", Operation)
        .where(Operation.performed_at >= since, Operation.performed_at < until)
        .subquery()
    )
    counts = {kind.value: 0 for kind in OperationKind}
    for kind, count in session.execute(select(visible.c.kind, func.count()).group_by(visible.c.kind)):
        counts[OperationKind(kind).value] = count
    return counts
