"""SLA escalation, run by ``coldpledge scheduler``: a work order nobody acknowledged in time goes
up the chain (assignee → supervision manager → bank risk officer), and everyone on the chain so
far is reminded every acknowledgement period until someone acknowledges."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from coldpledge.alerts.lifecycle import ESCALATION_CHAIN, WorkOrderStatus, next_escalation
from coldpledge.alerts.models import WorkOrder
from coldpledge.alerts.people import chain
from coldpledge.alerts.workorders import place_of, related
from coldpledge.audit.snapshot import snapshot
from coldpledge.notify.service import notify
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.uow import UnitOfWork

SCHEDULER = Principal(
    user_id=None, username="scheduler", org_id=None, party_type=PartyType.OPERATOR, role=Role.PLATFORM_ADMIN
)
# Orders handled per run; the next run takes the rest.
BATCH = 500
WAITING = (WorkOrderStatus.OPEN, WorkOrderStatus.ASSIGNED)


def escalate_due(uow: UnitOfWork, now: datetime) -> dict[str, int]:
    """Escalate or remind every unacknowledged work order whose time has come; one transaction,
    committed here. Rows another scheduler holds are skipped (PostgreSQL), so two runs at once
    never tell anyone twice. Returns how many orders were escalated and reminded."""
    escalated = reminded = 0
    with uow:
        due = uow.session.scalars(
            select(WorkOrder)
            .where(
                WorkOrder.status.in_(WAITING),
                WorkOrder.acknowledged_at.is_(None),
                WorkOrder.next_escalation_at <= now,
            )
            .order_by(WorkOrder.next_escalation_at, WorkOrder.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        for order in due:
            before = snapshot(order)
            level, again_at = next_escalation(order.severity, order.escalation_level, now)
            raised = level > order.escalation_level
            order.escalation_level = level
            order.next_escalation_at = again_at
            people = chain(uow.session, place_of(order), order.assignee_user_id, level)
            notify(
                uow,
                user_ids=people,
                kind="work_order.escalated" if raised else "work_order.reminder",
                subject_ref=order.subject_ref,
                title=order.title,
                body=order.description or order.title,
                severity=order.severity.value,
                at=now,
            )
            uow.record(
                SCHEDULER,
                "work_order.escalated" if raised else "work_order.reminded",
                order,
                before=before,
                related=related(uow.session, order),
                data={"level": ESCALATION_CHAIN[level], "notified_user_ids": people},
            )
            escalated += raised
            reminded += not raised
        uow.commit()
    return {"escalated": escalated, "reminded": reminded}
