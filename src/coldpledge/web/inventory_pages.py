"""Lot pages: the lots a viewer may see, the keeper's inbound form (入库) with the gate weigh
ticket, and a lot's page with its operations and the steps the viewer's role may record on it:
the floor-scale weighing (过磅), quality inspection (质检), disinfection (消杀), and the keeper's
draft of a warehouse receipt for the lot. Each step calls the service the API calls, with the API's
own input model. Seals (封存/启封, of a lot or a room) are in ``web.seal_pages``; documents,
attachments, the stocktake and the outbound in ``web.lot_record_pages``: both are served under this
module's router, and the lot page shows them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import InspectionResult, LotStatus
from coldpledge.inventory.schemas import (
    DisinfectIn,
    InboundIn,
    InspectIn,
    WeighIn,
    WeighingIn,
)
from coldpledge.parties.policy import PartyType
from coldpledge.parties.service import list_organisations, organisation_names
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import ReceiptCreateIn
from coldpledge.warehouses import service as warehouses
from coldpledge.web import lot_record_pages, seal_pages
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import fen_from_yuan, form_model, grams_from_kg, optional
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)
router.include_router(seal_pages.router)
router.include_router(lot_record_pages.router)


@router.get("/lots")
def lot_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    lots = inventory.list_lots(session, user.principal, inventory.LotFilter(limit=500))
    commodities = {c.id: c for c in inventory.list_commodities(session, user.principal)}
    return render(
        request,
        "inventory/lots.html",
        user=user,
        lots=lots,
        owners=organisation_names(session, {lot.owner_org_id for lot in lots}),
        commodities=commodities,
        may_receive=user.principal.can("lot:inbound"),
    )


@router.get("/lots/new")
def inbound_form(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    rooms = [
        (warehouse, room)
        for warehouse in warehouses.list_warehouses(session, user.principal)
        for room in warehouses.visible_rooms(session, user.principal, warehouse.id)
    ]
    owners = [
        org for org in list_organisations(session, user.principal) if org.party_type is PartyType.BORROWER
    ]
    return render(
        request,
        "inventory/inbound.html",
        user=user,
        rooms=rooms,
        owners=owners,
        commodities=inventory.list_commodities(session, user.principal),
    )


@router.post("/lots")
def receive(
    user: PageUserDep,
    uow: Uow,
    owner_org_id: Annotated[int, Form()],
    room_id: Annotated[int, Form()],
    commodity_id: Annotated[int, Form()],
    spec: Annotated[str, Form(max_length=200)],
    origin_country: Annotated[str, Form(max_length=2)],
    batch_number: Annotated[str, Form(max_length=64)],
    declared_cartons: Annotated[int, Form()],
    declared_net_kg: Annotated[str, Form(max_length=32)],
    brand: Annotated[str, Form(max_length=100)] = "",
    location: Annotated[str, Form(max_length=100)] = "",
    container_no: Annotated[str, Form(max_length=11)] = "",
    vehicle_plate: Annotated[str, Form(max_length=16)] = "",
    truck_gross_kg: Annotated[str, Form(max_length=32)] = "",
    truck_tare_kg: Annotated[str, Form(max_length=32)] = "",
    truck_ticket_no: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    ticket = None
    if optional(truck_gross_kg) or optional(truck_tare_kg) or optional(truck_ticket_no):
        # A gate ticket is all three figures or none: half a ticket proves nothing.
        ticket = form_model(
            WeighingIn,
            gross_g=grams_from_kg(truck_gross_kg, "truck_gross_kg"),
            tare_g=grams_from_kg(truck_tare_kg, "truck_tare_kg"),
            weigh_ticket_no=truck_ticket_no.strip(),
        )
    data = form_model(
        InboundIn,
        owner_org_id=owner_org_id,
        room_id=room_id,
        commodity_id=commodity_id,
        spec=spec.strip(),
        brand=optional(brand),
        location=optional(location),
        origin_country=origin_country.strip().upper(),
        batch_number=batch_number.strip(),
        declared_cartons=declared_cartons,
        declared_net_weight_g=grams_from_kg(declared_net_kg, "declared_net_kg"),
        container_no=optional(container_no.upper()),
        vehicle_plate=optional(vehicle_plate),
        truck_weighing=ticket,
        note=optional(note),
    )
    lot = inventory.inbound(uow, user.principal, data)
    return Response(status_code=201, headers={"HX-Redirect": f"/lots/{lot.id}"})


@router.get("/lots/{lot_id}")
def lot_page(lot_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    principal = user.principal
    lot = inventory.get_lot(session, principal, lot_id)
    commodities = {c.id: c for c in inventory.list_commodities(session, principal)}
    sealed = inventory.is_sealed(session, lot)
    # The lot's own seals; a room's seal also seals the lot but is removed on the room.
    seals = inventory.list_seals(session, principal, lot_id=lot.id, room_id=None, active=True)
    return render(
        request,
        "inventory/lot.html",
        user=user,
        lot=lot,
        owner=organisation_names(session, (lot.owner_org_id,)).get(lot.owner_org_id, ""),
        commodity=commodities.get(lot.commodity_id),
        operations=inventory.lot_operations(session, principal, lot.id),
        seals=seals,
        sealed=sealed,
        results=list(InspectionResult),
        may_weigh=principal.can("lot:weigh"),
        may_inspect=principal.can("lot:inspect"),
        may_disinfect=principal.can("lot:disinfect"),
        may_seal=principal.can("seal:seal"),
        may_unseal=principal.can("seal:unseal") and bool(seals),
        may_draft=principal.can("receipt:create") and lot.status is LotStatus.IN_STOCK,
        insurers=[
            org for org in list_organisations(session, principal) if org.party_type is PartyType.INSURER
        ]
        if principal.can("receipt:create")
        else [],
        **lot_record_pages.lot_records(session, principal, lot),
    )


@router.post("/lots/{lot_id}/weigh")
def weigh(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    gross_kg: Annotated[str, Form(max_length=32)],
    tare_kg: Annotated[str, Form(max_length=32)],
    weigh_ticket_no: Annotated[str, Form(max_length=64)],
    cartons: Annotated[str, Form(max_length=12)] = "",
    scale_ref: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(
        WeighIn,
        gross_g=grams_from_kg(gross_kg, "gross_kg"),
        tare_g=grams_from_kg(tare_kg, "tare_kg"),
        weigh_ticket_no=weigh_ticket_no.strip(),
        scale_ref=optional(scale_ref),
        # Digits become a count; anything else typed goes to the model, which refuses it by name.
        cartons=int(cartons) if cartons.strip().isdigit() else optional(cartons),
        note=optional(note),
    )
    inventory.weigh(uow, user.principal, lot_id, data)
    # The lot's verified stock, its state and its history all change: show the page afresh.
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/lots/{lot_id}/inspect")
def inspect(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    result: Annotated[str, Form(max_length=16)],
    agency: Annotated[str, Form(max_length=100)],
    report_no: Annotated[str, Form(max_length=64)] = "",
    valid_until: Annotated[str, Form(max_length=32)] = "",
    core_temperature_c: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(
        InspectIn,
        result=result,
        agency=agency,
        report_no=optional(report_no),
        valid_until=optional(valid_until),
        # A minus sign typed as the typographic one (−18.5) is still a minus sign.
        core_temperature_c=optional(core_temperature_c.replace("\u2212", "-")),
        note=optional(note),
    )
    inventory.inspect(uow, user.principal, lot_id, data)
    # The quality status, perhaps the lot's state, and its history change: show the page afresh.
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/lots/{lot_id}/disinfect")
def disinfect(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    certificate_no: Annotated[str, Form(max_length=64)],
    valid_until: Annotated[str, Form(max_length=32)] = "",
    disinfectant: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(
        DisinfectIn,
        certificate_no=certificate_no,
        valid_until=optional(valid_until),
        disinfectant=optional(disinfectant),
        note=optional(note),
    )
    inventory.disinfect(uow, user.principal, lot_id, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/lots/{lot_id}/receipts")
def draft_receipt(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    quantity_kg: Annotated[str, Form(max_length=32)],
    cartons: Annotated[str, Form(max_length=12)],
    storage_period_end: Annotated[str, Form(max_length=32)],
    storage_fee_note: Annotated[str, Form(max_length=200)] = "",
    loss_standard: Annotated[str, Form(max_length=200)] = "",
    negotiable: Annotated[str, Form(max_length=8)] = "",
    insurer_org_id: Annotated[str, Form(max_length=12)] = "",
    insured_amount_yuan: Annotated[str, Form(max_length=32)] = "",
    insurance_until: Annotated[str, Form(max_length=32)] = "",
    registry_code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """The keeper drafts a receipt for this lot (``POST /api/v1/receipts``); the answer takes the
    browser to the new receipt's page."""
    data = form_model(
        ReceiptCreateIn,
        lot_id=lot_id,
        quantity_g=grams_from_kg(quantity_kg, "quantity_kg"),
        # Digits become a count; anything else typed goes to the model, which refuses it by name.
        cartons=int(cartons) if cartons.strip().isdigit() else optional(cartons),
        storage_period_end=optional(storage_period_end),
        storage_fee_note=optional(storage_fee_note),
        loss_standard=optional(loss_standard),
        negotiable=bool(negotiable),
        insurer_org_id=int(insurer_org_id) if insurer_org_id.isdigit() else optional(insurer_org_id),
        insured_amount_fen=fen_from_yuan(insured_amount_yuan, "insured_amount_yuan")
        if optional(insured_amount_yuan)
        else None,
        insurance_until=optional(insurance_until),
        registry_code=optional(registry_code),
    )
    receipt = receipts.create_draft(uow, user.principal, data)
    return Response(status_code=201, headers={"HX-Redirect": f"/receipts/{receipt.id}"})
