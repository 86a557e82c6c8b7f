"""HTTP routes of alerts and work orders: lists per role, details with history, the lifecycle
steps, and counts for screens."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from coldpledge.alerts import queries, service, workorders
from coldpledge.alerts.lifecycle import (
    AlertStatus,
    Severity,
    WorkOrderStatus,
    WorkOrderType,
    alert_actions,
    work_order_actions,
)
from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.alerts.schemas import (
    AlertCountsOut,
    AlertDetailOut,
    AlertOut,
    AssignIn,
    CheckInIn,
    CheckInOut,
    CloseIn,
    CommentIn,
    CommentOut,
    HistoryEntryOut,
    NoteIn,
    ReasonIn,
    ResolveIn,
    WorkOrderCountsOut,
    WorkOrderCreateIn,
    WorkOrderDetailOut,
    WorkOrderOut,
)
from coldpledge.inventory.schemas import aware_moment
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow, within_upload_limit
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["alerts"])
ACTION = errors(401, 403, 404, 409, 422)
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


def _moment(name: str, value: datetime | None) -> datetime | None:
    return None if value is None else aware_moment(name, value)


# --- alerts ----------------------------------------------------------------------------------------


@router.get("/alerts", response_model=list[AlertOut], responses=errors(401, 422))
def list_alerts(
    session: ReadSession,
    principal: CurrentPrincipal,
    alert_status: Annotated[AlertStatus | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    room_id: int | None = None,
    warehouse_id: int | None = None,
    since: Annotated[datetime | None, Query(alias="from", description="Triggered at or after")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Triggered before")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[AlertOut]:
    where = queries.AlertFilter(
        alert_status,
        severity,
        rule,
        room_id,
        warehouse_id,
        _moment("from", since),
        _moment("to", until),
        limit,
        offset,
    )
    return [_alert_out(session, alert) for alert in queries.list_alerts(session, principal, where)]


@router.get("/alerts/counts", response_model=AlertCountsOut, responses=errors(401))
def alert_counts(session: ReadSession, principal: CurrentPrincipal) -> AlertCountsOut:
    """Open and acknowledged alerts by severity, for screens."""
    return AlertCountsOut(**queries.alert_counts(session, principal))


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut, responses=errors(401, 404))
def get_alert(alert_id: int, session: ReadSession, principal: CurrentPrincipal) -> AlertDetailOut:
    alert = queries.get_alert(session, principal, alert_id)
    out = AlertDetailOut.model_validate({**_alert_out(session, alert).model_dump()})
    out.history = _history(session, "alert", alert.id)
    return out


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut, responses=ACTION)
def acknowledge_alert(
    alert_id: int, uow: Uow, session: ReadSession, principal: CurrentPrincipal, data: NoteIn | None = None
) -> AlertOut:
    return _alert_out(session, service.acknowledge(uow, principal, alert_id, (data or NoteIn()).note))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertOut, responses=ACTION)
def resolve_alert(
    alert_id: int, data: ResolveIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> AlertOut:
    return _alert_out(session, service.resolve(uow, principal, alert_id, data.resolution))


@router.post("/alerts/{alert_id}/close", response_model=AlertOut, responses=ACTION)
def close_alert(
    alert_id: int, uow: Uow, session: ReadSession, principal: CurrentPrincipal, data: NoteIn | None = None
) -> AlertOut:
    return _alert_out(session, service.close(uow, principal, alert_id, (data or NoteIn()).note))


# --- work orders -----------------------------------------------------------------------------------


@router.get("/work-orders", response_model=list[WorkOrderOut], responses=errors(401, 422))
def list_work_orders(
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    order_status: Annotated[WorkOrderStatus | None, Query(alias="status")] = None,
    severity: Severity | None = None,
    kind: WorkOrderType | None = None,
    room_id: int | None = None,
    warehouse_id: int | None = None,
    assignee_user_id: int | None = None,
    alert_id: int | None = None,
    since: Annotated[datetime | None, Query(alias="from", description="Opened at or after")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Opened before")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[WorkOrderOut]:
    where = queries.WorkOrderFilter(
        order_status,
        severity,
        kind,
        room_id,
        warehouse_id,
        assignee_user_id,
        alert_id,
        _moment("from", since),
        _moment("to", until),
        limit,
        offset,
    )
    now = rt.now()
    return [_order_out(order, now) for order in queries.list_work_orders(session, principal, where)]


@router.get("/work-orders/counts", response_model=WorkOrderCountsOut, responses=errors(401))
def work_order_counts(
    session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep
) -> WorkOrderCountsOut:
    """Unfinished work orders on time, at risk and overdue, for screens."""
    return WorkOrderCountsOut(**queries.work_order_counts(session, principal, rt.now()))


@router.post(
    "/work-orders", response_model=WorkOrderOut, status_code=status.HTTP_201_CREATED, responses=ACTION
)
def create_work_order(
    data: WorkOrderCreateIn, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep
) -> WorkOrderOut:
    """The supervision manager raises a stocktake, patrol or other work order."""
    return _order_out(workorders.create(uow, principal, data), rt.now())


@router.get("/work-orders/{work_order_id}", response_model=WorkOrderDetailOut, responses=errors(401, 404))
def get_work_order(
    work_order_id: int, session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep
) -> WorkOrderDetailOut:
    order = queries.get_work_order(session, principal, work_order_id)
    out = WorkOrderDetailOut.model_validate(_order_out(order, rt.now()).model_dump())
    out.comments = [CommentOut.model_validate(c) for c in queries.comments(session, order.id)]
    out.check_ins = [CheckInOut.model_validate(c) for c in queries.check_ins(session, order.id)]
    out.history = _history(session, "work_order", order.id)
    return out


@router.post("/work-orders/{work_order_id}/acknowledge", response_model=WorkOrderOut, responses=ACTION)
def acknowledge_work_order(
    work_order_id: int, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep, data: NoteIn | None = None
) -> WorkOrderOut:
    return _order_out(
        workorders.acknowledge(uow, principal, work_order_id, (data or NoteIn()).note), rt.now()
    )


@router.post("/work-orders/{work_order_id}/assign", response_model=WorkOrderOut, responses=ACTION)
def assign_work_order(
    work_order_id: int, data: AssignIn, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep
) -> WorkOrderOut:
    return _order_out(workorders.assign(uow, principal, work_order_id, data), rt.now())


@router.post(
    "/work-orders/{work_order_id}/comments",
    response_model=CommentOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def comment_work_order(
    work_order_id: int, data: CommentIn, uow: Uow, principal: CurrentPrincipal
) -> CommentOut:
    return CommentOut.model_validate(workorders.comment(uow, principal, work_order_id, data))


@router.post(
    "/work-orders/{work_order_id}/attachments",
    response_model=CommentOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 413, 415, 422),
)
def attach_to_work_order(
    work_order_id: int,
    request: Request,
    file: Annotated[UploadFile, File(description="A photo (JPEG, PNG, WebP, HEIC) or a PDF")],
    uow: Uow,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> CommentOut:
    """Upload a photo; it is stored by its SHA-256 and added to the order as a comment."""
    within_upload_limit(request, rt)
    added = workorders.attach(uow, principal, rt.files, work_order_id, file.file, note=note)
    return CommentOut.model_validate(added)


@router.get(
    "/work-orders/{work_order_id}/attachments/{sha256}",
    response_class=FileResponse,
    responses=errors(401, 404),
)
def download_work_order_attachment(
    work_order_id: int, sha256: str, session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep
) -> FileResponse:
    attachment = queries.attachment_of(session, principal, work_order_id, sha256.lower())
    return FileResponse(
        rt.files.path_of(attachment.sha256),
        media_type=attachment.content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


@router.post(
    "/work-orders/{work_order_id}/check-ins",
    response_model=CheckInOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def check_in(work_order_id: int, data: CheckInIn, uow: Uow, principal: CurrentPrincipal) -> CheckInOut:
    """GPS check-in on site; the distance to the warehouse is computed where its position is known."""
    return CheckInOut.model_validate(workorders.check_in(uow, principal, work_order_id, data))


@router.post("/work-orders/{work_order_id}/start", response_model=WorkOrderOut, responses=ACTION)
def start_work_order(
    work_order_id: int, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep, data: NoteIn | None = None
) -> WorkOrderOut:
    return _order_out(workorders.start(uow, principal, work_order_id, (data or NoteIn()).note), rt.now())


@router.post("/work-orders/{work_order_id}/resolve", response_model=WorkOrderOut, responses=ACTION)
def resolve_work_order(
    work_order_id: int, data: ResolveIn, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep
) -> WorkOrderOut:
    return _order_out(workorders.resolve(uow, principal, work_order_id, data), rt.now())


@router.post("/work-orders/{work_order_id}/close", response_model=WorkOrderOut, responses=ACTION)
def close_work_order(
    work_order_id: int, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep, data: CloseIn | None = None
) -> WorkOrderOut:
    return _order_out(workorders.close(uow, principal, work_order_id, data or CloseIn()), rt.now())


@router.post("/work-orders/{work_order_id}/cancel", response_model=WorkOrderOut, responses=ACTION)
def cancel_work_order(
    work_order_id: int, data: ReasonIn, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep
) -> WorkOrderOut:
    return _order_out(workorders.cancel(uow, principal, work_order_id, data), rt.now())


# --- answers ---------------------------------------------------------------------------------------


def _alert_out(session: Session, alert: Alert) -> AlertOut:
    out = AlertOut.model_validate(alert)
    out.work_order_id = queries.response_of(session, alert.id)
    out.allowed_actions = alert_actions(alert.status)
    return out


def _order_out(order: WorkOrder, now: datetime) -> WorkOrderOut:
    out = WorkOrderOut.model_validate(order)
    out.sla = queries.sla_of(order, now)
    out.allowed_actions = work_order_actions(order.status, acknowledged=order.acknowledged_at is not None)
    return out


def _history(session: Session, subject_type: str, subject_id: int) -> list[HistoryEntryOut]:
    return [
        HistoryEntryOut(
            id=entry.event.id,
            at=entry.event.at,
            action=entry.event.action,
            actor=entry.actor_name,
            actor_user_id=entry.event.actor_user_id,
            reason=entry.event.reason,
            data=_data(entry.event.after),
        )
        for entry in queries.history(session, subject_type, subject_id)
    ]


def _data(after: dict[str, Any] | None) -> Any:
    return (after or {}).get("_data")
