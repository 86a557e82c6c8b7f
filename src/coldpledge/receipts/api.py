"""HTTP routes of the receipts context: lifecycle actions, releases and outbound."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from coldpledge.inventory.schemas import OperationOut
from coldpledge.receipts import queries, releases, service
from coldpledge.receipts.lifecycle import ReceiptStatus, allowed_actions
from coldpledge.receipts.models import Receipt, Release
from coldpledge.receipts.schemas import (
    DeliveryRequestIn,
    HistoryEntryOut,
    NotationOut,
    NoteIn,
    OutboundIn,
    PledgeAcceptIn,
    PledgeOut,
    PledgeRequestIn,
    ReasonIn,
    ReceiptCreateIn,
    ReceiptOut,
    ReleaseOut,
    ReleaseRequestIn,
    SplitIn,
    TransferIn,
)
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["receipts"])
ACTION = errors(401, 403, 404, 409, 422)


@router.get("/receipts", response_model=list[ReceiptOut], responses=errors(401, 422))
def list_receipts(
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    receipt_status: Annotated[ReceiptStatus | None, Query(alias="status")] = None,
    lot_id: int | None = None,
    warehouse_id: int | None = None,
    holder_org_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ReceiptOut]:
    where = queries.ReceiptFilter(receipt_status, lot_id, warehouse_id, holder_org_id, limit, offset)
    return [
        _out(session, rt.settings.public_base_url, r, detailed=False)
        for r in queries.list_receipts(session, principal, where)
    ]


@router.post("/receipts", response_model=ReceiptOut, status_code=status.HTTP_201_CREATED, responses=ACTION)
def create_receipt(
    data: ReceiptCreateIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep
) -> ReceiptOut:
    """The keeper drafts a receipt for a lot in its warehouse."""
    return _out(session, rt.settings.public_base_url, service.create_draft(uow, principal, data))


@router.get("/receipts/{receipt_id}", response_model=ReceiptOut, responses=errors(401, 404))
def get_receipt(
    receipt_id: int, session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep
) -> ReceiptOut:
    return _out(session, rt.settings.public_base_url, queries.get_receipt(session, principal, receipt_id))


@router.get(
    "/receipts/{receipt_id}/history", response_model=list[HistoryEntryOut], responses=errors(401, 404)
)
def receipt_history(
    receipt_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[HistoryEntryOut]:
    return [
        HistoryEntryOut(
            id=entry.event.id,
            at=entry.event.at,
            recorded_at=entry.event.recorded_at,
            action=entry.event.action,
            actor=entry.actor_name,
            actor_user_id=entry.event.actor_user_id,
            actor_org_id=entry.event.actor_org_id,
            reason=entry.event.reason,
            changes=_changes(entry.event.before, entry.event.after),
        )
        for entry in queries.history(session, principal, receipt_id)
    ]


def _action(path: str, summary: str, handler: Callable[..., Receipt], body: type[BaseModel]) -> None:
    """Register ``POST /receipts/{id}/<path>`` for one lifecycle step taking ``body``. A body whose
    fields are all optional (a note) may be left out altogether."""
    optional = all(not field.is_required() for field in body.model_fields.values())

    def endpoint(receipt_id, uow, session, principal, rt, data=None):  # type: ignore[no-untyped-def]
        receipt = handler(uow, principal, receipt_id, data if data is not None else body())
        return _out(session, rt.settings.public_base_url, receipt)

    if not optional:
        endpoint.__defaults__ = None
        endpoint.__kwdefaults__ = None
    # Real objects, not strings: FastAPI reads these to build validation and the OpenAPI schema.
    endpoint.__annotations__ = {
        "receipt_id": int,
        "uow": Uow,
        "session": ReadSession,
        "principal": CurrentPrincipal,
        "rt": RuntimeDep,
        "data": body | None if optional else body,
        "return": ReceiptOut,
    }
    endpoint.__name__ = path.replace("-", "_")
    router.add_api_route(
        f"/receipts/{{receipt_id}}/{path}",
        endpoint,
        methods=["POST"],
        response_model=ReceiptOut,
        responses=ACTION,
        summary=summary,
    )


_action("submit", "Submit a draft for the inbound check", service.submit, NoteIn)
_action("issue", "Issue the receipt (the keeper signs)", service.issue, NoteIn)
_action("transfer", "Endorse the receipt to another holder", service.transfer, TransferIn)
_action("request-pledge", "Offer the receipt in pledge to a bank", service.request_pledge, PledgeRequestIn)
_action("withdraw-pledge", "Withdraw a pledge request", service.withdraw_pledge, NoteIn)
_action(
    "accept-pledge",
    "Accept the pledge (the bank), with its registration",
    service.accept_pledge,
    PledgeAcceptIn,
)
_action("reject-pledge", "Reject the pledge request (the bank)", service.reject_pledge, ReasonIn)
_action("discharge", "Discharge the pledge (the bank)", service.discharge, NoteIn)
_action("freeze", "Freeze the receipt", service.freeze, ReasonIn)
_action("unfreeze", "Unfreeze the receipt", service.unfreeze, ReasonIn)
_action("report-loss", "Report the receipt lost", service.report_loss, ReasonIn)
_action("cancel-loss-report", "Withdraw a loss report", service.cancel_loss_report, ReasonIn)
_action("start-disposal", "Start disposal on liquidation (the bank)", service.start_disposal, ReasonIn)
_action("cancel", "Cancel a draft or surrender an unencumbered receipt", service.cancel, ReasonIn)


@router.post(
    "/receipts/{receipt_id}/replace",
    response_model=ReceiptOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def replace(
    receipt_id: int,
    data: ReasonIn,
    uow: Uow,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
) -> ReceiptOut:
    """Issue a replacement for a receipt reported lost; the answer is the new receipt."""
    return _out(session, rt.settings.public_base_url, service.replace(uow, principal, receipt_id, data))


@router.post(
    "/receipts/{receipt_id}/split",
    response_model=list[ReceiptOut],
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def split(
    receipt_id: int,
    data: SplitIn,
    uow: Uow,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
) -> list[ReceiptOut]:
    """Split into receipts for the same total; the answer is the new receipts."""
    return [
        _out(session, rt.settings.public_base_url, r) for r in service.split(uow, principal, receipt_id, data)
    ]


@router.post(
    "/receipts/{receipt_id}/request-release",
    response_model=ReleaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def request_release(
    receipt_id: int, data: ReleaseRequestIn, uow: Uow, principal: CurrentPrincipal
) -> ReleaseOut:
    """Ask for a partial release of a pledged receipt, or (the bank) instruct a disposal sale out."""
    release, code = releases.request_release(uow, principal, receipt_id, data)
    return _release_out(release, code)


@router.post(
    "/receipts/{receipt_id}/request-delivery",
    response_model=ReleaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def request_delivery(
    receipt_id: int, data: DeliveryRequestIn, uow: Uow, principal: CurrentPrincipal
) -> ReleaseOut:
    """Take delivery of all goods of an unencumbered receipt; the one-time code is in the answer."""
    release, code = releases.request_delivery(uow, principal, receipt_id, data)
    return _release_out(release, code)


@router.get("/releases", response_model=list[ReleaseOut], responses=errors(401))
def list_releases(
    session: ReadSession, principal: CurrentPrincipal, receipt_id: int | None = None
) -> list[ReleaseOut]:
    return [_release_out(r) for r in queries.list_releases(session, principal, receipt_id)]


@router.get("/releases/{release_id}", response_model=ReleaseOut, responses=errors(401, 404))
def get_release(release_id: int, session: ReadSession, principal: CurrentPrincipal) -> ReleaseOut:
    return _release_out(queries.get_release(session, principal, release_id))


@router.post("/releases/{release_id}/approve", response_model=ReleaseOut, responses=ACTION)
def approve_release(
    release_id: int, uow: Uow, principal: CurrentPrincipal, data: NoteIn | None = None
) -> ReleaseOut:
    """The pledgee approves a partial release; the one-time code is in this answer only."""
    release, code = releases.approve(uow, principal, release_id, data or NoteIn())
    return _release_out(release, code)


@router.post("/releases/{release_id}/reject", response_model=ReleaseOut, responses=ACTION)
def reject_release(release_id: int, data: ReasonIn, uow: Uow, principal: CurrentPrincipal) -> ReleaseOut:
    return _release_out(releases.reject(uow, principal, release_id, data))


@router.post("/releases/{release_id}/cancel", response_model=ReleaseOut, responses=ACTION)
def cancel_release(release_id: int, data: ReasonIn, uow: Uow, principal: CurrentPrincipal) -> ReleaseOut:
    return _release_out(releases.cancel(uow, principal, release_id, data))


@router.post(
    "/lots/{lot_id}/outbound",
    response_model=OperationOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
    tags=["inventory"],
)
def outbound(lot_id: int, data: OutboundIn, uow: Uow, principal: CurrentPrincipal) -> OperationOut:
    """Outbound (出库) against an approved release: code, vehicle and collector checked, goods weighed."""
    return OperationOut.model_validate(releases.execute_outbound(uow, principal, lot_id, data))


def _out(session: Session, base_url: str, receipt: Receipt, *, detailed: bool = True) -> ReceiptOut:
    out = ReceiptOut.model_validate(receipt)
    out.public_url = f"{base_url.rstrip('/')}/r/{receipt.code}"
    out.allowed_actions = allowed_actions(receipt.status)
    pledge = queries.current_pledge(session, receipt.id)
    out.pledge = PledgeOut.model_validate(pledge) if pledge else None
    if detailed:
        out.notations = [NotationOut.model_validate(n) for n in queries.notations(session, receipt.id)]
    return out


def _release_out(release: Release, code: str | None = None) -> ReleaseOut:
    out = ReleaseOut.model_validate(release)
    out.code = code
    return out


def _changes(before: dict[str, object] | None, after: dict[str, object] | None) -> dict[str, list[object]]:
    before, after = before or {}, after or {}
    return {
        key: [before.get(key), after.get(key)]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
        and key not in {"version", "status_changed_at"}
        and not key.startswith("_")
    }
