"""Reading alerts and work orders: lists, details with history, and counts for screens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.alerts.lifecycle import (
    FINISHED,
    AlertStatus,
    Severity,
    SlaState,
    WorkOrderStatus,
    WorkOrderType,
    sla_state,
)
from coldpledge.alerts.models import Alert, WorkOrder, WorkOrderCheckIn, WorkOrderComment
from coldpledge.audit.models import AuditEvent
from coldpledge.errors import N_, NotFound
from coldpledge.inventory.models import Attachment
from coldpledge.parties.access import obtain, restrict
from coldpledge.parties.models import User
from coldpledge.parties.policy import Principal


@dataclass(frozen=True)
class AlertFilter:
    status: AlertStatus | None = None
    severity: Severity | None = None
    rule: str | None = None
    room_id: int | None = None
    warehouse_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_alerts(session: Session, principal: Principal, where: AlertFilter) -> list[Alert]:
    query = restrict(principal, "view", Alert)
    for column, value in (
        (Alert.status, where.status),
        (Alert.severity, where.severity),
        (Alert.rule, where.rule),
        (Alert.room_id, where.room_id),
        (Alert.warehouse_id, where.warehouse_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(Alert.triggered_at >= where.since)
    if where.until is not None:
        query = query.where(Alert.triggered_at < where.until)
    query = query.order_by(Alert.triggered_at.desc(), Alert.id.desc()).limit(where.limit).offset(where.offset)
    return list(session.scalars(query))


def get_alert(session: Session, principal: Principal, alert_id: int) -> Alert:
    return obtain(session, principal, Alert, alert_id)


def response_of(session: Session, alert_id: int) -> int | None:
    """The alert's work order: the live one, else the latest."""
    return session.scalar(
        select(WorkOrder.id)
        .where(WorkOrder.alert_id == alert_id)
        .order_by(WorkOrder.status.in_(FINISHED), WorkOrder.id.desc())
        .limit(1)
    )


def responses_of(session: Session, alert_ids: list[int]) -> dict[int, int]:
    """``response_of`` for many alerts in one query (a list page of alerts)."""
    found: dict[int, int] = {}
    if not alert_ids:
        return found
    rows = session.execute(
        select(WorkOrder.alert_id, WorkOrder.id, WorkOrder.status.in_(FINISHED))
        .where(WorkOrder.alert_id.in_(alert_ids))
        .order_by(WorkOrder.alert_id, WorkOrder.status.in_(FINISHED), WorkOrder.id.desc())
    )
    for alert_id, order_id, _finished in rows:
        if alert_id is not None:
            found.setdefault(alert_id, order_id)  # the first by that order is the one response_of picks
    return found


@dataclass(frozen=True)
class HistoryEntry:
    event: AuditEvent
    actor_name: str


def history(session: Session, subject_type: str, subject_id: int) -> list[HistoryEntry]:
    rows = session.execute(
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(AuditEvent.subject_type == subject_type, AuditEvent.subject_id == subject_id)
        .order_by(AuditEvent.id)
    )
    return [HistoryEntry(event, name or event.actor) for event, name in rows]


@dataclass(frozen=True)
class WorkOrderFilter:
    status: WorkOrderStatus | None = None
    severity: Severity | None = None
    kind: WorkOrderType | None = None
    room_id: int | None = None
    warehouse_id: int | None = None
    assignee_user_id: int | None = None
    alert_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


def list_work_orders(session: Session, principal: Principal, where: WorkOrderFilter) -> list[WorkOrder]:
    query = restrict(principal, "view", WorkOrder)
    for column, value in (
        (WorkOrder.status, where.status),
        (WorkOrder.severity, where.severity),
        (WorkOrder.kind, where.kind),
        (WorkOrder.room_id, where.room_id),
        (WorkOrder.warehouse_id, where.warehouse_id),
        (WorkOrder.assignee_user_id, where.assignee_user_id),
        (WorkOrder.alert_id, where.alert_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.since is not None:
        query = query.where(WorkOrder.opened_at >= where.since)
    if where.until is not None:
        query = query.where(WorkOrder.opened_at < where.until)
    query = (
        query.order_by(WorkOrder.opened_at.desc(), WorkOrder.id.desc())
        .limit(where.limit)
        .offset(where.offset)
    )
    return list(session.scalars(query))


def get_work_order(session: Session, principal: Principal, order_id: int) -> WorkOrder:
    return obtain(session, principal, WorkOrder, order_id)


def comments(session: Session, order_id: int) -> list[WorkOrderComment]:
    return list(
        session.scalars(
            select(WorkOrderComment)
            .where(WorkOrderComment.work_order_id == order_id)
            .order_by(WorkOrderComment.id)
        )
    )


def check_ins(session: Session, order_id: int) -> list[WorkOrderCheckIn]:
    return list(
        session.scalars(
            select(WorkOrderCheckIn)
            .where(WorkOrderCheckIn.work_order_id == order_id)
            .order_by(WorkOrderCheckIn.id)
        )
    )


def attachment_of(session: Session, principal: Principal, order_id: int, sha256: str) -> Attachment:
    """A photo added to a work order the principal sees."""
    order = obtain(session, principal, WorkOrder, order_id)
    attachment = None
    if any(sha256 in note.attachments for note in comments(session, order.id)):
        attachment = session.get(Attachment, sha256)
    if attachment is None:
        raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("attachment"), ident=sha256)
    return attachment


def sla_of(order: WorkOrder, now: datetime) -> SlaState | None:
    if order.status in FINISHED:
        return None
    return sla_state(
        order.opened_at,
        order.resolve_by,
        now,
        acknowledge_by=order.acknowledge_by,
        acknowledged=order.acknowledged_at is not None,
    )


def alert_counts(session: Session, principal: Principal) -> dict[str, int]:
    """Live alerts (open or acknowledged) the principal sees, by severity."""
    visible = restrict(principal, "view", Alert)
    live = visible.where(Alert.status.in_((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED))).subquery()
    rows = session.execute(select(live.c.severity, func.count()).group_by(live.c.severity))
    counts = {severity.value: 0 for severity in Severity}
    for severity, count in rows:
        counts[Severity(severity).value] = count
    return {**counts, "total": sum(counts.values())}


def work_order_counts(session: Session, principal: Principal, now: datetime) -> dict[str, int]:
    """Unfinished work orders the principal sees, by where they stand against their SLA."""
    visible = restrict(principal, "view", WorkOrder).where(WorkOrder.status.not_in(FINISHED))
    counts = {state.value: 0 for state in SlaState}
    for order in session.scalars(visible):
        state = sla_of(order, now)
        if state is not None:
            counts[state.value] += 1
    return {**counts, "total": sum(counts.values())}


def live_alerts_by_room(session: Session, principal: Principal) -> dict[int, dict[str, int]]:
    """Live alerts (open or acknowledged) the principal sees, per room and severity: what colours
    a room on the inventory screen. Alerts on no room (a facility's, a warehouse's) are left out."""
    visible = restrict(principal, "view", Alert)
    live = (
        visible.where(
            Alert.status.in_((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)), Alert.room_id.is_not(None)
        )
    ).subquery()
    rows = session.execute(
        select(live.c.room_id, live.c.severity, func.count()).group_by(live.c.room_id, live.c.severity)
    )
    found: dict[int, dict[str, int]] = {}
    for room_id, severity, count in rows:
        found.setdefault(room_id, {})[Severity(severity).value] = count
    return found


def alerts_resolved_between(
    session: Session, principal: Principal, warehouse_id: int, since: datetime, until: datetime
) -> list[Alert]:
    """Alerts of a warehouse the principal sees that were resolved in [since, until), oldest first."""
    query = restrict(principal, "view", Alert).where(
        Alert.warehouse_id == warehouse_id, Alert.resolved_at >= since, Alert.resolved_at < until
    )
    return list(session.scalars(query.order_by(Alert.resolved_at, Alert.id)))


def work_orders_during(
    session: Session, principal: Principal, warehouse_id: int, since: datetime, until: datetime
) -> list[WorkOrder]:
    """Work orders of a warehouse the principal sees that were open at some time in [since,
    until): opened before ``until`` and not closed or cancelled before ``since``; oldest first."""
    query = restrict(principal, "view", WorkOrder).where(
        WorkOrder.warehouse_id == warehouse_id,
        WorkOrder.opened_at < until,
        (WorkOrder.closed_at.is_(None) | (WorkOrder.closed_at >= since)),
        (WorkOrder.cancelled_at.is_(None) | (WorkOrder.cancelled_at >= since)),
    )
    return list(session.scalars(query.order_by(WorkOrder.opened_at, WorkOrder.id)))
