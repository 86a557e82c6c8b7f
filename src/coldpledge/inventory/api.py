"""HTTP routes of the inventory context."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from coldpledge.db import MAX_ID
from coldpledge.inventory import service
from coldpledge.inventory.models import Attachment, AttachmentLink, AttachmentPurpose, Lot, LotStatus
from coldpledge.inventory.schemas import (
    AttachmentOut,
    CommodityIn,
    CommodityOut,
    DisinfectIn,
    DocumentsIn,
    InboundIn,
    InspectIn,
    LotOut,
    OperationOut,
    SealIn,
    SealOut,
    StocktakeIn,
    UnsealIn,
    WeighIn,
)
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow, within_upload_limit
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["inventory"])


@router.get("/commodities", response_model=list[CommodityOut], responses=errors(401))
def list_commodities(session: ReadSession, principal: CurrentPrincipal) -> list[CommodityOut]:
    return [CommodityOut.model_validate(item) for item in service.list_commodities(session, principal)]


@router.post(
    "/commodities",
    response_model=CommodityOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
def create_commodity(data: CommodityIn, uow: Uow, principal: CurrentPrincipal) -> CommodityOut:
    return CommodityOut.model_validate(service.create_commodity(uow, principal, data))


@router.get("/lots", response_model=list[LotOut], responses=errors(401, 422))
def list_lots(
    session: ReadSession,
    principal: CurrentPrincipal,
    warehouse_id: int | None = None,
    room_id: int | None = None,
    owner_org_id: int | None = None,
    commodity_id: int | None = None,
    lot_status: Annotated[LotStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[LotOut]:
    where = service.LotFilter(warehouse_id, room_id, owner_org_id, commodity_id, lot_status, limit, offset)
    return [_lot_out(session, lot) for lot in service.list_lots(session, principal, where)]


@router.post(
    "/lots",
    response_model=LotOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def receive_lot(data: InboundIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal) -> LotOut:
    """Inbound (入库): goods arrive in a room; the lot is created with its documents."""
    return _lot_out(session, service.inbound(uow, principal, data))


@router.get("/lots/{lot_id}", response_model=LotOut, responses=errors(401, 404))
def get_lot(lot_id: int, session: ReadSession, principal: CurrentPrincipal) -> LotOut:
    return _lot_out(session, service.get_lot(session, principal, lot_id))


@router.get("/lots/{lot_id}/operations", response_model=list[OperationOut], responses=errors(401, 404))
def lot_operations(lot_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[OperationOut]:
    return [OperationOut.model_validate(op) for op in service.lot_operations(session, principal, lot_id)]


@router.post(
    "/lots/{lot_id}/weigh",
    response_model=OperationOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def weigh(lot_id: int, data: WeighIn, uow: Uow, principal: CurrentPrincipal) -> OperationOut:
    """Weighing (过磅): the net weight becomes the lot's verified stock."""
    return OperationOut.model_validate(service.weigh(uow, principal, lot_id, data))


@router.post(
    "/lots/{lot_id}/inspect",
    response_model=OperationOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def inspect(lot_id: int, data: InspectIn, uow: Uow, principal: CurrentPrincipal) -> OperationOut:
    """Quality inspection (质检): failed or held goods go on quality hold."""
    return OperationOut.model_validate(service.inspect(uow, principal, lot_id, data))


@router.post(
    "/lots/{lot_id}/disinfect",
    response_model=OperationOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def disinfect(lot_id: int, data: DisinfectIn, uow: Uow, principal: CurrentPrincipal) -> OperationOut:
    """Disinfection (消杀), with its certificate."""
    return OperationOut.model_validate(service.disinfect(uow, principal, lot_id, data))


@router.post("/lots/{lot_id}/documents", response_model=LotOut, responses=errors(401, 403, 404, 409, 422))
def add_documents(
    lot_id: int, data: DocumentsIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> LotOut:
    """Add document numbers that were missing at inbound (customs, quarantine, disinfection)."""
    return _lot_out(session, service.add_documents(uow, principal, lot_id, data))


@router.post(
    "/lots/{lot_id}/stocktake",
    response_model=OperationOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def stocktake(lot_id: int, data: StocktakeIn, uow: Uow, principal: CurrentPrincipal) -> OperationOut:
    """Stocktake (盘点): counted against book stock; the variance and the tolerance are recorded."""
    return OperationOut.model_validate(service.stocktake(uow, principal, lot_id, data))


@router.post(
    "/lots/{lot_id}/seal",
    response_model=list[SealOut],
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def seal_lot(lot_id: int, data: SealIn, uow: Uow, principal: CurrentPrincipal) -> list[SealOut]:
    return [SealOut.model_validate(seal) for seal in service.seal_lot(uow, principal, lot_id, data)]


@router.post("/lots/{lot_id}/unseal", response_model=list[SealOut], responses=errors(401, 403, 404, 409, 422))
def unseal_lot(lot_id: int, data: UnsealIn, uow: Uow, principal: CurrentPrincipal) -> list[SealOut]:
    return [SealOut.model_validate(seal) for seal in service.unseal_lot(uow, principal, lot_id, data)]


@router.post(
    "/rooms/{room_id}/seal",
    response_model=list[SealOut],
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def seal_room(room_id: int, data: SealIn, uow: Uow, principal: CurrentPrincipal) -> list[SealOut]:
    """Seal a room (封仓); the stock inside at that moment is kept with the seal operation."""
    return [SealOut.model_validate(seal) for seal in service.seal_room(uow, principal, room_id, data)]


@router.post(
    "/rooms/{room_id}/unseal", response_model=list[SealOut], responses=errors(401, 403, 404, 409, 422)
)
def unseal_room(room_id: int, data: UnsealIn, uow: Uow, principal: CurrentPrincipal) -> list[SealOut]:
    return [SealOut.model_validate(seal) for seal in service.unseal_room(uow, principal, room_id, data)]


@router.get("/seals", response_model=list[SealOut], responses=errors(401, 422))
def list_seals(
    session: ReadSession,
    principal: CurrentPrincipal,
    lot_id: int | None = None,
    room_id: int | None = None,
    active: bool | None = None,
) -> list[SealOut]:
    seals = service.list_seals(session, principal, lot_id=lot_id, room_id=room_id, active=active)
    return [SealOut.model_validate(seal) for seal in seals]


@router.post(
    "/lots/{lot_id}/attachments",
    response_model=AttachmentOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 413, 415, 422),
)
def attach(
    lot_id: int,
    request: Request,
    file: Annotated[UploadFile, File(description="A photo (JPEG, PNG, WebP, HEIC) or a PDF")],
    uow: Uow,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    purpose: Annotated[AttachmentPurpose, Form()] = AttachmentPurpose.PHOTO,
    operation_id: Annotated[int | None, Form(gt=0, le=MAX_ID)] = None,
) -> AttachmentOut:
    within_upload_limit(request, rt)
    link, attachment = service.attach(
        uow,
        principal,
        rt.files,
        lot_id,
        file.file,
        purpose=purpose,
        original_name=file.filename,
        operation_id=operation_id,
    )
    return _attachment_out(link, attachment)


@router.get("/lots/{lot_id}/attachments", response_model=list[AttachmentOut], responses=errors(401, 404))
def lot_attachments(lot_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[AttachmentOut]:
    return [_attachment_out(link, att) for link, att in service.lot_attachments(session, principal, lot_id)]


@router.get("/attachments/{sha256}", response_class=FileResponse, responses=errors(401, 404))
def download_attachment(
    sha256: str, session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep
) -> FileResponse:
    attachment = service.get_attachment(session, principal, sha256.lower())
    return FileResponse(
        rt.files.path_of(attachment.sha256),
        media_type=attachment.content_type,
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


def _lot_out(session: Session, lot: Lot) -> LotOut:
    out = LotOut.model_validate(lot)
    out.sealed = service.is_sealed(session, lot)
    return out


def _attachment_out(link: AttachmentLink, attachment: Attachment) -> AttachmentOut:
    return AttachmentOut(
        sha256=attachment.sha256,
        size_bytes=attachment.size_bytes,
        content_type=attachment.content_type,
        purpose=link.purpose,
        lot_id=link.lot_id,
        operation_id=link.operation_id,
        original_name=link.original_name,
        linked_at=link.linked_at,
    )
