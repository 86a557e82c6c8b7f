"""What a lot's page records besides its checks at inbound: document numbers that came after the
goods (报关单, 检疫证 …), photos and documents uploaded to it (listed with their downloads), the
supervisor's stocktake (盘点) against the book stock with its variance, and the keeper's outbound
(出库) against an approved release instruction. Each calls the service the API calls, with the
API's own input model; ``lot_records`` is what the lot page shows of them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from sqlalchemy.orm import Session

from coldpledge.db import MAX_ID
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import AttachmentPurpose, Lot
from coldpledge.inventory.schemas import DocumentsIn, StocktakeIn
from coldpledge.parties.policy import Principal
from coldpledge.receipts import queries as receipts
from coldpledge.receipts import releases
from coldpledge.receipts.models import Release, ReleaseStatus
from coldpledge.receipts.schemas import OutboundIn
from coldpledge.web.deps import PageUserDep, RuntimeDep, Uow, within_upload_limit
from coldpledge.web.forms import form_model, grams_from_kg, optional

router = APIRouter(include_in_schema=False)

# The document numbers a lot may still be missing, in the order the form asks for them.
DOCUMENTS = tuple(inventory.DOCUMENT_LABELS)


def approved_releases(session: Session, principal: Principal, lot: Lot) -> list[Release]:
    """Release instructions the bank has approved against the lot's receipts: what may go out."""
    found = receipts.list_receipts(session, principal, receipts.ReceiptFilter(lot_id=lot.id, limit=500))
    return [
        release
        for receipt in found
        for release in receipts.list_releases(session, principal, receipt.id)
        if release.status is ReleaseStatus.APPROVED
    ]


def lot_records(session: Session, principal: Principal, lot: Lot) -> dict[str, Any]:
    """The lot page's part: attachments, missing documents, stocktakes and what the viewer may add."""
    in_stock = lot.status in inventory.STOCK_STATES
    outbound = approved_releases(session, principal, lot) if principal.can("lot:outbound") else []
    return {
        "attachments": inventory.lot_attachments(session, principal, lot.id),
        "purposes": list(AttachmentPurpose),
        "missing_documents": [name for name in DOCUMENTS if getattr(lot, name) is None],
        "document_labels": inventory.DOCUMENT_LABELS,
        "may_document": principal.can("lot:documents"),
        "may_attach": principal.can("lot:attach"),
        "may_stocktake": principal.can("lot:stocktake") and in_stock and lot.weighed_at is not None,
        "outbound_releases": outbound if in_stock else [],
    }


def _refreshed(status_code: int) -> Response:
    # The lot's figures, its history and what the page offers change: show the page afresh.
    return Response(status_code=status_code, headers={"HX-Refresh": "true"})


def _whole(text: str) -> int | str | None:
    """Digits become a count; anything else typed goes to the model, which refuses it by name."""
    cleaned = text.replace(",", "").replace("，", "").strip()
    return int(cleaned) if cleaned.isdigit() else optional(cleaned)


@router.post("/lots/{lot_id}/documents")
def add_documents(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    customs_declaration_no: Annotated[str, Form(max_length=64)] = "",
    quarantine_cert_no: Annotated[str, Form(max_length=64)] = "",
    disinfection_cert_no: Annotated[str, Form(max_length=64)] = "",
    container_no: Annotated[str, Form(max_length=16)] = "",
    lead_seal_no: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Numbers missing at inbound (``POST /api/v1/lots/{id}/documents``); a recorded one is never
    replaced, which the service refuses by name."""
    data = form_model(
        DocumentsIn,
        customs_declaration_no=optional(customs_declaration_no),
        quarantine_cert_no=optional(quarantine_cert_no),
        disinfection_cert_no=optional(disinfection_cert_no),
        container_no=optional(container_no.upper()),
        lead_seal_no=optional(lead_seal_no),
        note=optional(note),
    )
    inventory.add_documents(uow, user.principal, lot_id, data)
    return _refreshed(200)


@router.post("/lots/{lot_id}/attachments")
def attach(
    lot_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    rt: RuntimeDep,
    file: Annotated[UploadFile, File()],
    purpose: Annotated[AttachmentPurpose, Form()] = AttachmentPurpose.PHOTO,
    operation_id: Annotated[int | None, Form(gt=0, le=MAX_ID)] = None,
) -> Response:
    """A photo or PDF stored by its SHA-256 and linked to the lot (``POST /api/v1/lots/{id}/
    attachments``): the same size limit, the same refusal of other kinds of file."""
    within_upload_limit(request, rt)
    inventory.attach(
        uow,
        user.principal,
        rt.files,
        lot_id,
        file.file,
        purpose=purpose,
        original_name=file.filename,
        operation_id=operation_id,
    )
    return _refreshed(201)


@router.post("/lots/{lot_id}/stocktake")
def stocktake(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    counted_kg: Annotated[str, Form(max_length=32)] = "",
    counted_cartons: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Count the lot against its book stock (``POST /api/v1/lots/{id}/stocktake``); the page then
    shows the variance and whether it is within the room's tolerance."""
    data = form_model(
        StocktakeIn,
        counted_g=grams_from_kg(counted_kg, "counted_kg"),
        counted_cartons=_whole(counted_cartons),
        note=optional(note),
    )
    inventory.stocktake(uow, user.principal, lot_id, data)
    return _refreshed(201)


@router.post("/lots/{lot_id}/outbound")
def outbound(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    release_id: Annotated[str, Form(max_length=20)] = "",
    release_code: Annotated[str, Form(max_length=64)] = "",
    gross_kg: Annotated[str, Form(max_length=32)] = "",
    tare_kg: Annotated[str, Form(max_length=32)] = "",
    weigh_ticket_no: Annotated[str, Form(max_length=64)] = "",
    cartons: Annotated[str, Form(max_length=12)] = "",
    vehicle_plate: Annotated[str, Form(max_length=32)] = "",
    collector_id_no: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Goods out against an approved release (``POST /api/v1/lots/{id}/outbound``): the code, the
    vehicle, the collector's ID and the weighed quantities are checked by the service."""
    data = form_model(
        OutboundIn,
        release_id=_whole(release_id),
        release_code=release_code.strip(),
        gross_g=grams_from_kg(gross_kg, "gross_kg"),
        tare_g=grams_from_kg(tare_kg, "tare_kg"),
        weigh_ticket_no=weigh_ticket_no.strip(),
        cartons=_whole(cartons),
        vehicle_plate=vehicle_plate.strip().upper(),
        collector_id_no=collector_id_no.strip(),
        note=optional(note),
    )
    releases.execute_outbound(uow, user.principal, lot_id, data)
    return _refreshed(201)
