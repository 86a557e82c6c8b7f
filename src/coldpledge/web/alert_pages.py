"""Alerts and work orders on the desktop: the viewer's alerts by state and severity with the steps
its role may take (acknowledge, resolve with what was found, close), and its work orders by SLA,
where a supervision manager raises a work order, assigns one and cancels one. A work order's own
page is the phone app's (/m/work-orders/{id}): one page for desk and field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response
from sqlalchemy.orm import Session

from coldpledge.alerts import queries as alerts
from coldpledge.alerts import service, workorders
from coldpledge.alerts.lifecycle import (
    AlertStatus,
    Severity,
    WorkOrderStatus,
    WorkOrderType,
    work_order_actions,
)
from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.alerts.schemas import AssignIn, ReasonIn, ResolveIn, WorkOrderCreateIn
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import Principal, Role
from coldpledge.receipts.schemas import NoteIn
from coldpledge.warehouses import service as warehouses
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)

LIVE = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED)


def alert_actions(principal: Principal, alert: Alert) -> list[str]:
    """The steps this viewer may take on this alert now (the service checks again)."""
    possible = {
        AlertStatus.OPEN: ("acknowledge", "resolve"),
        AlertStatus.ACKNOWLEDGED: ("resolve",),
        AlertStatus.RESOLVED: ("close",),
    }.get(alert.status, ())
    return [step for step in possible if principal.can(f"alert:{step}")]


@router.get("/alerts")
def alert_list(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    status: Annotated[AlertStatus | None, Query()] = None,
    severity: Annotated[Severity | None, Query()] = None,
) -> Response:
    found = alerts.list_alerts(
        session, user.principal, alerts.AlertFilter(status=status, severity=severity, limit=200)
    )
    return render(
        request,
        "alerts/alerts.html",
        user=user,
        alerts=found,
        responses=alerts.responses_of(session, [alert.id for alert in found]),
        actions=lambda alert: alert_actions(user.principal, alert),
        counts=alerts.alert_counts(session, user.principal),
        statuses=list(AlertStatus),
        severities=list(Severity),
        status=status,
        severity=severity,
    )


@router.post("/alerts/{alert_id}/{step}")
def alert_step(
    alert_id: int,
    step: str,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    text: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if step == "acknowledge":
        alert = service.acknowledge(uow, user.principal, alert_id, form_model(NoteIn, note=text or None).note)
    elif step == "resolve":
        alert = service.resolve(
            uow, user.principal, alert_id, form_model(ResolveIn, resolution=text).resolution
        )
    elif step == "close":
        alert = service.close(uow, user.principal, alert_id, form_model(NoteIn, note=text or None).note)
    else:
        return render_fragment(request, "_error.html", status_code=404, message=step)
    return render_fragment(
        request,
        "alerts/_alert_row.html",
        alert=alert,
        response=alerts.response_of(session, alert.id),
        actions=alert_actions(user.principal, alert),
    )


# --- work orders -----------------------------------------------------------------------------------

MANAGED = ("assign", "cancel")
CREATABLE = [kind for kind in WorkOrderType if kind is not WorkOrderType.ALERT_RESPONSE]


def work_order_steps(principal: Principal, order: WorkOrder) -> list[str]:
    """The management steps this viewer may take on this order now (the service checks again,
    including that the viewer's organisation supervises the order's place)."""
    allowed = work_order_actions(order.status, acknowledged=order.acknowledged_at is not None)
    return [step for step in MANAGED if step in allowed and principal.can(f"work_order:{step}")]


def assignees(session: Session, principal: Principal) -> list[User]:
    """The people the API accepts as assignees of a manager's orders: the active inspectors and
    managers of its own (supervising) organisation."""
    if not principal.can("work_order:assign") and not principal.can("work_order:create"):
        return []
    return [
        user
        for user in parties.list_users(session, principal)
        if user.is_active
        and user.organisation_id == principal.org_id
        and user.role in (Role.SUPERVISION_MANAGER, Role.INSPECTOR)
    ]


def _number(text: str) -> int | str | None:
    """A select's value as the API's JSON would carry it: absent, a number, or (refused) text."""
    stripped = (text or "").strip()
    return int(stripped) if stripped.isdigit() else (stripped or None)


def _row(request: Request, user: PageUserDep, session: Session, order: WorkOrder, now: datetime) -> Response:
    people = assignees(session, user.principal)
    return render_fragment(
        request,
        "alerts/_work_order_row.html",
        order=order,
        sla=alerts.sla_of(order, now),
        steps=work_order_steps(user.principal, order),
        people=people,
        names={person.id: person.display_name for person in people},
    )


@router.get("/work-orders")
def work_order_list(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    rt: RuntimeDep,
    status: Annotated[WorkOrderStatus | None, Query()] = None,
) -> Response:
    now = rt.now()
    principal = user.principal
    found = alerts.list_work_orders(session, principal, alerts.WorkOrderFilter(status=status, limit=200))
    people = assignees(session, principal)
    places = (
        [
            warehouses.get_virtual_warehouse(session, principal, vw.id)
            for vw in warehouses.list_virtual_warehouses(session, principal)
            if vw.supervisor_org_id == principal.org_id
        ]
        if principal.can("work_order:create")
        else []
    )
    return render(
        request,
        "alerts/work_orders.html",
        user=user,
        orders=[(order, alerts.sla_of(order, now)) for order in found],
        steps=lambda order: work_order_steps(principal, order),
        people=people,
        names={person.id: person.display_name for person in people},
        places=places,
        kinds=CREATABLE,
        severities=list(Severity),
        counts=alerts.work_order_counts(session, principal, now),
        statuses=list(WorkOrderStatus),
        status=status,
    )


@router.post("/work-orders")
def work_order_create(
    user: PageUserDep,
    uow: Uow,
    kind: Annotated[str, Form(max_length=64)] = "",
    severity: Annotated[str, Form(max_length=16)] = "minor",
    title: Annotated[str, Form(max_length=400)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    room_id: Annotated[str, Form(max_length=20)] = "",
    virtual_warehouse_id: Annotated[str, Form(max_length=20)] = "",
    assignee_user_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    data = form_model(
        WorkOrderCreateIn,
        kind=kind,
        severity=severity,
        title=title,
        description=optional(description),
        room_id=_number(room_id),
        virtual_warehouse_id=_number(virtual_warehouse_id),
        assignee_user_id=_number(assignee_user_id),
    )
    workorders.create(uow, user.principal, data)
    return Response(status_code=200, headers={"HX-Refresh": "true"})


@router.post("/work-orders/{work_order_id}/assign")
def work_order_assign(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    user_id: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(AssignIn, user_id=_number(user_id), note=optional(note))
    order = workorders.assign(uow, user.principal, work_order_id, data)
    return _row(request, user, session, order, rt.now())


@router.post("/work-orders/{work_order_id}/cancel")
def work_order_cancel(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    reason: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(ReasonIn, reason=reason)
    order = workorders.cancel(uow, user.principal, work_order_id, data)
    return _row(request, user, session, order, rt.now())
