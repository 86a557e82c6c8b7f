"""Seals (封存/启封): a lot's own seals, posted from the lot's page, and a room's (封仓), on the
room's seals page with the stock inside that the seal keeps closed. The supervisor's inspectors and
managers seal and unseal; every party that may see the room sees its seals. Each step calls the
service the API calls (``/api/v1/lots/{id}/seal``, ``/api/v1/rooms/{id}/seal`` …), with the API's
own input model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import SealIn, UnsealIn
from coldpledge.parties.service import organisation_names
from coldpledge.warehouses import service as warehouses
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)


def seal_numbers(text: str) -> list[str]:
    """Seal numbers typed one per line, or separated by commas or spaces."""
    return [number for number in text.replace(",", " ").replace("，", " ").split() if number]


@router.post("/lots/{lot_id}/seal")
def seal(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    numbers: Annotated[str, Form(max_length=2000)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(SealIn, numbers=seal_numbers(numbers), note=optional(note))
    inventory.seal_lot(uow, user.principal, lot_id, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/lots/{lot_id}/unseal")
def unseal(
    lot_id: int,
    user: PageUserDep,
    uow: Uow,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    inventory.unseal_lot(uow, user.principal, lot_id, form_model(UnsealIn, reason=reason))
    return Response(status_code=200, headers={"HX-Refresh": "true"})


@router.get("/rooms/{room_id}/seals")
def room_seals(room_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    principal = user.principal
    room = warehouses.get_room(session, principal, room_id)
    warehouse = warehouses.get_warehouse(session, principal, room.warehouse_id)
    seals = inventory.list_seals(session, principal, lot_id=None, room_id=room.id, active=None)
    active = [seal for seal in seals if seal.removed_at is None]
    lots = [
        lot
        for lot in inventory.list_lots(session, principal, inventory.LotFilter(room_id=room.id, limit=500))
        if lot.status in inventory.STOCK_STATES
    ]
    return render(
        request,
        "inventory/room_seals.html",
        user=user,
        room=room,
        warehouse=warehouse,
        active=active,
        removed=[seal for seal in seals if seal.removed_at is not None],
        lots=lots,
        owners=organisation_names(session, {lot.owner_org_id for lot in lots}),
        may_seal=principal.can("seal:seal"),
        may_unseal=principal.can("seal:unseal") and bool(active),
    )


@router.post("/rooms/{room_id}/seal")
def seal_room(
    room_id: int,
    user: PageUserDep,
    uow: Uow,
    numbers: Annotated[str, Form(max_length=2000)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Seal the room's doors; the service keeps the stock inside at this moment with the seal."""
    data = form_model(SealIn, numbers=seal_numbers(numbers), note=optional(note))
    inventory.seal_room(uow, user.principal, room_id, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/rooms/{room_id}/unseal")
def unseal_room(
    room_id: int,
    user: PageUserDep,
    uow: Uow,
    reason: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    inventory.unseal_room(uow, user.principal, room_id, form_model(UnsealIn, reason=reason))
    return Response(status_code=200, headers={"HX-Refresh": "true"})
