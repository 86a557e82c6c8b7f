"""Lot pages: the lots a viewer may see, the keeper's inbound form (入库) with the gate weigh
ticket, and a lot's page with its operations and the floor-scale weighing (过磅)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import InboundIn, WeighIn, WeighingIn
from coldpledge.parties.policy import PartyType
from coldpledge.parties.service import list_organisations, organisation_names
from coldpledge.warehouses import service as warehouses
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model, grams_from_kg, optional
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)


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
    lot = inventory.get_lot(session, user.principal, lot_id)
    commodities = {c.id: c for c in inventory.list_commodities(session, user.principal)}
    return render(
        request,
        "inventory/lot.html",
        user=user,
        lot=lot,
        owner=organisation_names(session, (lot.owner_org_id,)).get(lot.owner_org_id, ""),
        commodity=commodities.get(lot.commodity_id),
        operations=inventory.lot_operations(session, user.principal, lot.id),
        may_weigh=user.principal.can("lot:weigh"),
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
