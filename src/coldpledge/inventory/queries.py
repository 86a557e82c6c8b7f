"""Reading operations in bulk: counts by kind over a period (the inventory risk screen), and a
warehouse's operations of a day (its daily supervision report)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.inventory.models import Lot, Operation, OperationKind
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


def operations_between(
    session: Session, principal: Principal, warehouse_id: int, since: datetime, until: datetime
) -> list[tuple[Operation, str | None]]:
    """Operations of a warehouse the principal sees performed in [since, until), in order, each
    with its lot's code (None for an operation on a room)."""
    query = (
        restrict(principal, "view", Operation)
        .add_columns(Lot.code)
        .outerjoin(Lot, Lot.id == Operation.lot_id)
        .where(
            Operation.warehouse_id == warehouse_id,
            Operation.performed_at >= since,
            Operation.performed_at < until,
        )
        .order_by(Operation.performed_at, Operation.id)
    )
    return [(operation, code) for operation, code in session.execute(query)]
