"""Use cases of work orders: open, assign, acknowledge, comment, attach, check in, start, resolve,
close, cancel (DESIGN §5).

Every step: load the order (locked), check the state machine and that the caller is the person the
step belongs to, change it, record it, commit. ``open_work_order`` also runs inside the rules'
transaction, for the response to an alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.alerts.errors import illegal_for_work_order
from coldpledge.alerts.geo import distance_m
from coldpledge.alerts.lifecycle import (
    FINISHED,
    AlertAction,
    AlertStatus,
    Severity,
    WorkOrderAction,
    WorkOrderStatus,
    WorkOrderType,
    deadlines,
    is_allowed,
    next_alert_status,
    next_work_order_status,
)
from coldpledge.alerts.models import Alert, WorkOrder, WorkOrderCheckIn, WorkOrderComment
from coldpledge.alerts.people import AlertScope, assignee_for, chain, complete, evidence_refs
from coldpledge.alerts.schemas import (
    AssignIn,
    CheckInIn,
    CloseIn,
    CommentIn,
    ReasonIn,
    ResolveIn,
    WorkOrderCreateIn,
)
from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, InvalidInput, PermissionDenied
from coldpledge.inventory.files import FileStore
from coldpledge.inventory.models import Attachment
from coldpledge.notify.service import notify
from coldpledge.parties.access import obtain, require
from coldpledge.parties.models import User
from coldpledge.parties.policy import Principal, Role
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room, VirtualWarehouse, Warehouse

A = WorkOrderAction
S = WorkOrderStatus


def place_of(order: WorkOrder) -> AlertScope:
    return AlertScope(order.room_id, order.warehouse_id, order.virtual_warehouse_id)


def related(session: Session, order: WorkOrder) -> list[str]:
    refs = [f"room:{order.room_id}"] if order.room_id is not None else []
    if order.virtual_warehouse_id is not None:
        refs.append(session.get_one(VirtualWarehouse, order.virtual_warehouse_id).subject_ref)
    if order.warehouse_id is not None:
        refs.append(session.get_one(Warehouse, order.warehouse_id).subject_ref)
    if order.alert_id is not None:
        refs.append(f"alert:{order.alert_id}")
    if order.subject:
        refs.append(order.subject)
    return refs


def live_response(session: Session, alert_id: int) -> WorkOrder | None:
    return session.scalars(
        select(WorkOrder)
        .where(WorkOrder.alert_id == alert_id, WorkOrder.status.not_in(FINISHED))
        .with_for_update()
    ).first()


def open_work_order(
    uow: UnitOfWork,
    principal: Principal,
    *,
    kind: WorkOrderType,
    severity: Severity,
    title: str,
    description: str | None,
    place: AlertScope,
    subject: str | None,
    alert: Alert | None = None,
    assignee_user_id: int | None = None,
) -> WorkOrder:
    """A new work order, assigned (by default to the virtual warehouse's inspector) and with its
    deadlines set; the assignee is told. In the caller's unit of work: no commit."""
    place = complete(uow.session, place)
    now = uow.now()
    due = deadlines(severity, now)
    assignee = assignee_user_id if assignee_user_id is not None else assignee_for(uow.session, place)
    order = WorkOrder(
        kind=kind,
        status=S.ASSIGNED if assignee is not None else S.OPEN,
        severity=severity,
        title=title,
        description=description,
        alert_id=alert.id if alert is not None else None,
        subject=subject,
        room_id=place.room_id,
        warehouse_id=place.warehouse_id,
        virtual_warehouse_id=place.virtual_warehouse_id,
        assignee_user_id=assignee,
        escalation_level=0,
        next_escalation_at=due.acknowledge_by,
        opened_at=now,
        acknowledge_by=due.acknowledge_by,
        resolve_by=due.resolve_by,
        created_by_user_id=principal.user_id,
        created_at=now,
    )
    uow.session.add(order)
    uow.session.flush()
    uow.record(principal, "work_order.opened", order, before=None, related=related(uow.session, order))
    _tell_assignee(uow, order)
    return order


def raise_severity(uow: UnitOfWork, principal: Principal, order: WorkOrder, severity: Severity) -> None:
    """The alert behind the order got worse: the tighter SLA runs from the order's opening."""
    before = snapshot(order)
    due = deadlines(severity, order.opened_at)
    order.severity = severity
    order.acknowledge_by, order.resolve_by = due.acknowledge_by, due.resolve_by
    if order.acknowledged_at is None:
        order.next_escalation_at = min(order.next_escalation_at or due.acknowledge_by, due.acknowledge_by)
    uow.record(
        principal, "work_order.severity_raised", order, before=before, related=related(uow.session, order)
    )


def _tell_assignee(uow: UnitOfWork, order: WorkOrder) -> None:
    if order.assignee_user_id is None:
        return
    notify(
        uow,
        user_ids=[order.assignee_user_id],
        kind="work_order.assigned",
        subject_ref=order.subject_ref,
        title=order.title,
        body=order.description or order.title,
        severity=order.severity.value,
        at=uow.now(),
    )


def create(uow: UnitOfWork, principal: Principal, data: WorkOrderCreateIn) -> WorkOrder:
    """A supervision manager raises a work order on a room or a virtual warehouse it supervises."""
    with uow:
        require(principal, "work_order:create")
        if data.room_id is not None:
            room = obtain(uow.session, principal, Room, data.room_id, field="room_id")
            place = AlertScope(room_id=room.id)
        elif data.virtual_warehouse_id is not None:
            vw = obtain(
                uow.session,
                principal,
                VirtualWarehouse,
                data.virtual_warehouse_id,
                field="virtual_warehouse_id",
            )
            place = AlertScope(virtual_warehouse_id=vw.id)
        else:
            raise InvalidInput(N_("Name the room or the virtual warehouse the work is in."), field="room_id")
        place = complete(uow.session, place)
        _supervises(uow, principal, place)
        if data.assignee_user_id is not None:
            _check_assignee(uow, place, data.assignee_user_id)
        order = open_work_order(
            uow,
            principal,
            kind=data.kind,
            severity=data.severity,
            title=data.title,
            description=data.description,
            place=place,
            subject=data.subject,
            assignee_user_id=data.assignee_user_id,
        )
        uow.commit()
        return order


# --- one step on an existing order --------------------------------------------------------------


@dataclass
class Step:
    order: WorkOrder
    before: dict[str, Any]
    action: WorkOrderAction


def _begin(uow: UnitOfWork, principal: Principal, order_id: int, action: WorkOrderAction) -> Step:
    order = obtain(uow.session, principal, WorkOrder, order_id, action.value, for_update=True)
    if not is_allowed(order.status, action):
        raise illegal_for_work_order(order.status, action, acknowledged=order.acknowledged_at is not None)
    return Step(order, snapshot(order), action)


def _finish(
    uow: UnitOfWork,
    principal: Principal,
    step: Step,
    *,
    reason: str | None = None,
    data: dict[str, Any] | None = None,
) -> WorkOrder:
    order = step.order
    order.status = next_work_order_status(order.status, step.action)
    uow.record(
        principal,
        f"work_order.{step.action.value}",
        order,
        before=step.before,
        reason=reason,
        related=related(uow.session, order),
        data=data,
    )
    return order


def _supervisor_org(uow: UnitOfWork, place: AlertScope) -> int | None:
    if place.virtual_warehouse_id is None:
        return None
    return uow.session.get_one(VirtualWarehouse, place.virtual_warehouse_id).supervisor_org_id


def _supervises(uow: UnitOfWork, principal: Principal, place: AlertScope) -> None:
    org = _supervisor_org(uow, place)
    if org is None or principal.org_id != org:
        raise PermissionDenied(N_("Only the supervisor of this warehouse may do this."))


def _assignee_only(principal: Principal, order: WorkOrder) -> None:
    if order.assignee_user_id is None or principal.user_id != order.assignee_user_id:
        raise PermissionDenied(N_("Only the person this work order is assigned to may do this."))


def _check_assignee(uow: UnitOfWork, place: AlertScope, user_id: int) -> User:
    user = uow.session.get(User, user_id)
    if (
        user is None
        or not user.is_active
        or user.organisation_id != _supervisor_org(uow, place)
        or user.role not in (Role.SUPERVISION_MANAGER, Role.INSPECTOR)
    ):
        raise InvalidInput(
            N_("User {ident} is not an inspector or manager of this warehouse's supervisor."),
            field="user_id",
            ident=user_id,
        )
    return user


def acknowledge(uow: UnitOfWork, principal: Principal, order_id: int, note: str | None) -> WorkOrder:
    """The assignee, or anyone the order has escalated to, takes it in hand: escalation stops."""
    with uow:
        step = _begin(uow, principal, order_id, A.ACKNOWLEDGE)
        order = step.order
        if order.acknowledged_at is not None:
            raise Conflict(N_("This work order has already been acknowledged."))
        told = chain(uow.session, place_of(order), order.assignee_user_id, max(order.escalation_level, 1))
        if principal.user_id not in told:
            raise PermissionDenied(N_("Only the assignee or someone it has escalated to may acknowledge it."))
        _acknowledged(uow, principal, order)
        _finish(uow, principal, step, reason=note)
        uow.commit()
        return order


def _acknowledged(uow: UnitOfWork, principal: Principal, order: WorkOrder) -> None:
    order.acknowledged_at = uow.now()
    order.acknowledged_by_user_id = principal.user_id
    order.next_escalation_at = None


def assign(uow: UnitOfWork, principal: Principal, order_id: int, data: AssignIn) -> WorkOrder:
    """The supervision manager hands the order to an inspector (or to itself); the new assignee
    has the acknowledgement deadline that is left, and is told."""
    with uow:
        step = _begin(uow, principal, order_id, A.ASSIGN)
        order = step.order
        _supervises(uow, principal, place_of(order))
        _check_assignee(uow, place_of(order), data.user_id)
        order.assignee_user_id = data.user_id
        order.acknowledged_at = None
        order.acknowledged_by_user_id = None
        order.escalation_level = 0
        order.next_escalation_at = max(order.acknowledge_by, uow.now())
        _finish(uow, principal, step, reason=data.note, data={"assignee_user_id": data.user_id})
        _tell_assignee(uow, order)
        uow.commit()
        return order


def comment(uow: UnitOfWork, principal: Principal, order_id: int, data: CommentIn) -> WorkOrderComment:
    """A note on the order, with photos already uploaded to it (named by their SHA-256)."""
    with uow:
        step = _begin(uow, principal, order_id, A.COMMENT)
        if data.attachments:
            known = uow.session.scalar(
                select(func.count()).select_from(Attachment).where(Attachment.sha256.in_(data.attachments))
            )
            if known != len(data.attachments):
                raise InvalidInput(N_("Upload the photos before referring to them."), field="attachments")
        note = _add_comment(uow, principal, step, data.text, data.attachments)
        uow.commit()
        return note


def attach(
    uow: UnitOfWork,
    principal: Principal,
    store: FileStore,
    order_id: int,
    stream: BinaryIO,
    *,
    note: str | None,
) -> WorkOrderComment:
    """Store a photo by its content hash and add it to the order as a comment."""
    with uow:
        step = _begin(uow, principal, order_id, A.COMMENT)
        stored = store.put(stream)
        if uow.session.get(Attachment, stored.sha256) is None:
            uow.session.add(
                Attachment(
                    sha256=stored.sha256,
                    size_bytes=stored.size_bytes,
                    content_type=stored.content_type,
                    uploaded_by_user_id=principal.user_id,
                    uploaded_at=uow.now(),
                )
            )
        added = _add_comment(uow, principal, step, note or "", [stored.sha256])
        uow.commit()
        return added


def _add_comment(
    uow: UnitOfWork, principal: Principal, step: Step, text: str, attachments: list[str]
) -> WorkOrderComment:
    note = WorkOrderComment(
        work_order_id=step.order.id,
        author_user_id=principal.user_id,
        text=text,
        attachments=attachments,
        at=uow.now(),
    )
    uow.session.add(note)
    uow.session.flush()
    _finish(
        uow,
        principal,
        step,
        data={"comment_id": note.id, "text": text, "attachments": attachments},
    )
    return note


def check_in(uow: UnitOfWork, principal: Principal, order_id: int, data: CheckInIn) -> WorkOrderCheckIn:
    """Where the inspector is, and how far from the warehouse (when its coordinates are known)."""
    with uow:
        step = _begin(uow, principal, order_id, A.CHECK_IN)
        order = step.order
        distance = None
        if order.warehouse_id is not None:
            warehouse = uow.session.get_one(Warehouse, order.warehouse_id)
            if warehouse.latitude_e6 is not None and warehouse.longitude_e6 is not None:
                distance = distance_m(
                    data.latitude_e6, data.longitude_e6, warehouse.latitude_e6, warehouse.longitude_e6
                )
        visit = WorkOrderCheckIn(
            work_order_id=order.id,
            user_id=principal.user_id,
            latitude_e6=data.latitude_e6,
            longitude_e6=data.longitude_e6,
            accuracy_m=data.accuracy_m,
            distance_m=distance,
            at=uow.now(),
        )
        uow.session.add(visit)
        uow.session.flush()
        _finish(
            uow,
            principal,
            step,
            data={
                "check_in_id": visit.id,
                "latitude_e6": data.latitude_e6,
                "longitude_e6": data.longitude_e6,
                "accuracy_m": data.accuracy_m,
                "distance_m": distance,
            },
        )
        uow.commit()
        return visit


def start(uow: UnitOfWork, principal: Principal, order_id: int, note: str | None) -> WorkOrder:
    """The assignee starts the work; starting acknowledges an order not yet acknowledged."""
    with uow:
        step = _begin(uow, principal, order_id, A.START)
        order = step.order
        _assignee_only(principal, order)
        if order.acknowledged_at is None:
            _acknowledged(uow, principal, order)
        order.started_at = uow.now()
        _finish(uow, principal, step, reason=note)
        uow.commit()
        return order


def resolve(uow: UnitOfWork, principal: Principal, order_id: int, data: ResolveIn) -> WorkOrder:
    """The assignee says what was found and done; the order waits for a reviewer."""
    with uow:
        step = _begin(uow, principal, order_id, A.RESOLVE)
        order = step.order
        _assignee_only(principal, order)
        order.resolved_at = uow.now()
        order.resolved_by_user_id = principal.user_id
        order.resolution = data.resolution
        _finish(uow, principal, step, reason=data.resolution)
        uow.commit()
        return order


def close(uow: UnitOfWork, principal: Principal, order_id: int, data: CloseIn) -> WorkOrder:
    """A reviewer of the supervisor closes the order: never the person it is about (its assignee
    or resolver), and for a critical order only with a written finding. A resolved alert behind
    it is closed with it."""
    with uow:
        step = _begin(uow, principal, order_id, A.CLOSE)
        order = step.order
        _supervises(uow, principal, place_of(order))
        if principal.user_id in (order.assignee_user_id, order.resolved_by_user_id):
            raise PermissionDenied(
                N_("A work order is closed by a reviewer, not by the person who handled it.")
            )
        if order.severity is Severity.CRITICAL and not (data.review_note or "").strip():
            raise InvalidInput(N_("A critical work order needs the reviewer's finding."), field="review_note")
        order.reviewer_user_id = principal.user_id
        order.review_note = data.review_note
        order.closed_at = uow.now()
        _finish(uow, principal, step, reason=data.review_note)
        if order.alert_id is not None:
            alert = uow.session.get_one(Alert, order.alert_id, with_for_update=True)
            if alert.status is AlertStatus.RESOLVED:
                before = snapshot(alert)
                alert.status = next_alert_status(alert.status, AlertAction.CLOSE)
                alert.closed_at = uow.now()
                alert.closed_by_user_id = principal.user_id
                refs = [*evidence_refs(uow.session, place_of(order)), alert.subject, order.subject_ref]
                uow.record(
                    principal, "alert.closed", alert, before=before, reason=data.review_note, related=refs
                )
        uow.commit()
        return order


def cancel(uow: UnitOfWork, principal: Principal, order_id: int, data: ReasonIn) -> WorkOrder:
    """The supervision manager withdraws an order that is not needed (a false alarm, say)."""
    with uow:
        step = _begin(uow, principal, order_id, A.CANCEL)
        order = step.order
        _supervises(uow, principal, place_of(order))
        order.cancelled_at = uow.now()
        order.cancel_reason = data.reason
        order.next_escalation_at = None
        _finish(uow, principal, step, reason=data.reason)
        uow.commit()
        return order
