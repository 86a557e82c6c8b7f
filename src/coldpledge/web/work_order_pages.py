"""Work orders on the desktop: the viewer's work orders by SLA, where a supervision manager raises
one, assigns one and cancels one; and a work order's own page with its comments, check-ins and
history, where the assignee acknowledges, starts, comments (with a photo) and resolves it (with a
photo) and a reviewer of the supervisor closes it. Each step calls the service the API calls
(``/api/v1/work-orders/...``) with the API's own input model; the phone app (/m/) offers the same
steps to people in the field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from sqlalchemy.orm import Session

from coldpledge.alerts import queries as alerts
from coldpledge.alerts import workorders
from coldpledge.alerts.lifecycle import (
    Severity,
    WorkOrderStatus,
    WorkOrderType,
    work_order_actions,
)
from coldpledge.alerts.models import WorkOrder
from coldpledge.alerts.schemas import (
    AssignIn,
    CloseIn,
    CommentIn,
    NoteIn,
    ReasonIn,
    ResolveIn,
    WorkOrderCreateIn,
)
from coldpledge.alerts.steps import history_label, offered_steps
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import Principal, Role
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.web.deps import (
    PageUser,
    PageUserDep,
    ReadSession,
    Runtime,
    RuntimeDep,
    Uow,
    within_upload_limit,
)
from coldpledge.web.forms import chosen_file, form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)

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


# The list swaps the order's row in place; the order's own page (``answer=page``) shows itself afresh.
Answer = Annotated[str, Form(max_length=8)]


def _row_or_page(
    request: Request, user: PageUserDep, session: Session, order: WorkOrder, now: datetime, answer: str
) -> Response:
    if answer == "page":
        return _refreshed()
    return _row(request, user, session, order, now)


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
    answer: Answer = "",
) -> Response:
    data = form_model(AssignIn, user_id=_number(user_id), note=optional(note))
    order = workorders.assign(uow, user.principal, work_order_id, data)
    return _row_or_page(request, user, session, order, rt.now(), answer)


@router.post("/work-orders/{work_order_id}/cancel")
def work_order_cancel(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    reason: Annotated[str, Form(max_length=1000)] = "",
    answer: Answer = "",
) -> Response:
    data = form_model(ReasonIn, reason=reason)
    order = workorders.cancel(uow, user.principal, work_order_id, data)
    return _row_or_page(request, user, session, order, rt.now(), answer)


# --- a work order's own page -----------------------------------------------------------------------

FIELD = ("acknowledge", "start", "comment", "resolve", "close")
Note = Annotated[str, Form(max_length=2000)]


def field_steps(principal: Principal, order: WorkOrder) -> list[str]:
    """The steps of the work itself this viewer is offered now (``alerts.steps``)."""
    return [step for step in offered_steps(order, principal) if step in FIELD]


@router.get("/work-orders/{work_order_id}")
def work_order_page(
    work_order_id: int, request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    principal = user.principal
    order = alerts.get_work_order(session, principal, work_order_id)
    people = assignees(session, principal)
    names = {person.id: person.display_name for person in parties.list_users(session, principal)}
    return render(
        request,
        "alerts/work_order.html",
        user=user,
        order=order,
        sla=alerts.sla_of(order, rt.now()),
        offered=field_steps(principal, order),
        steps=work_order_steps(principal, order),
        people=people,
        names=names,
        comments=alerts.comments(session, order.id),
        check_ins=alerts.check_ins(session, order.id),
        history=alerts.history(session, "work_order", order.id),
        history_label=history_label,
    )


def _refreshed(status_code: int = 200) -> Response:
    # State, deadlines, the timeline and the steps offered all change: show the page afresh.
    return Response(status_code=status_code, headers={"HX-Refresh": "true"})


@router.post("/work-orders/{work_order_id}/acknowledge")
def work_order_acknowledge(work_order_id: int, user: PageUserDep, uow: Uow, note: Note = "") -> Response:
    workorders.acknowledge(uow, user.principal, work_order_id, form_model(NoteIn, note=optional(note)).note)
    return _refreshed()


@router.post("/work-orders/{work_order_id}/start")
def work_order_start(work_order_id: int, user: PageUserDep, uow: Uow, note: Note = "") -> Response:
    workorders.start(uow, user.principal, work_order_id, form_model(NoteIn, note=optional(note)).note)
    return _refreshed()


@router.post("/work-orders/{work_order_id}/comments")
def work_order_comment(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    rt: RuntimeDep,
    text: Note = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    add_comment(request, user, uow, rt, work_order_id, text, photo)
    return _refreshed(201)


def add_comment(
    request: Request,
    user: PageUser,
    uow: UnitOfWork,
    rt: Runtime,
    work_order_id: int,
    text: str,
    photo: UploadFile | None,
) -> None:
    """A comment (``POST .../comments``), or with a photo the upload (``POST .../attachments``)
    that stores it by its SHA-256 and adds it as a comment with the text as its note; for this
    page and the phone's."""
    chosen = chosen_file(photo)
    if chosen is not None:
        within_upload_limit(request, rt)
        workorders.attach(uow, user.principal, rt.files, work_order_id, chosen.file, note=optional(text))
    else:
        workorders.comment(uow, user.principal, work_order_id, form_model(CommentIn, text=text))


@router.post("/work-orders/{work_order_id}/resolve")
def work_order_resolve(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    rt: RuntimeDep,
    resolution: Note = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Resolve with what was found and done; a photo, when one is chosen, is added to the order
    first, so a refused file leaves the order as it was."""
    data = form_model(ResolveIn, resolution=resolution)
    chosen = chosen_file(photo)
    if chosen is not None:
        within_upload_limit(request, rt)
        workorders.attach(uow, user.principal, rt.files, work_order_id, chosen.file, note=None)
    workorders.resolve(uow, user.principal, work_order_id, data)
    return _refreshed()


@router.post("/work-orders/{work_order_id}/close")
def work_order_close(work_order_id: int, user: PageUserDep, uow: Uow, review_note: Note = "") -> Response:
    workorders.close(
        uow, user.principal, work_order_id, form_model(CloseIn, review_note=optional(review_note))
    )
    return _refreshed()
