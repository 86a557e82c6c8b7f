"""Setting warehouses up, from the administration pages: a warehouse (the operator names its
keeper; a keeper creates its own), its rooms and zones (its keeper adds them), and a virtual
warehouse over some of its rooms with the supervisor that watches them (the operator). The
services decide; the forms go through the API's input models."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy.orm import Session

from coldpledge.parties import service as parties
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import AreaKind, Room, SupervisionMode, TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import RoomIn, VirtualWarehouseIn, WarehouseIn
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import fen_from_yuan, form_model, grams_from_kg, optional
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)

REFRESH = {"HX-Refresh": "true"}
# The coldest class's defaults are the strictest, as the service picks them for mixed rooms.
COLDNESS = {TemperatureClass.DEEP_FROZEN: 0, TemperatureClass.FROZEN: 1, TemperatureClass.CHILLED: 2}


def whole(text: str) -> int | str | None:
    """A whole number typed or chosen; anything else goes to the model as typed, to be refused
    there in the API's words. Blank is absent."""
    cleaned = text.strip()
    if not cleaned:
        return None
    return int(cleaned) if cleaned.isdigit() and len(cleaned) < 19 else cleaned


def _organisations_of(session: Session, principal: Principal, party_type: PartyType) -> list[Any]:
    return [org for org in parties.list_organisations(session, principal) if org.party_type is party_type]


@router.get("/admin/warehouses")
def warehouse_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    found = warehouses.list_warehouses(session, user.principal)
    rooms = {
        warehouse.id: warehouses.visible_rooms(session, user.principal, warehouse.id) for warehouse in found
    }
    supervised: dict[int, list[Any]] = defaultdict(list)
    for vw in warehouses.list_virtual_warehouses(session, user.principal):
        supervised[vw.warehouse_id].append(vw)
    operator = user.principal.is_operator
    return render(
        request,
        "admin/warehouses.html",
        user=user,
        warehouses=found,
        rooms=rooms,
        supervised=supervised,
        keepers=parties.organisation_names(session, {warehouse.keeper_org_id for warehouse in found}),
        may_create=user.principal.can("warehouse:create"),
        # Only the operator names the keeper; a keeper's warehouse is its own.
        keeper_choices=_organisations_of(session, user.principal, PartyType.KEEPER) if operator else [],
    )


@router.post("/admin/warehouses")
def create_warehouse(
    user: PageUserDep,
    uow: Uow,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    address: Annotated[str, Form(max_length=600)] = "",
    city: Annotated[str, Form(max_length=200)] = "",
    latitude: Annotated[str, Form(max_length=40)] = "",
    longitude: Annotated[str, Form(max_length=40)] = "",
    registry_code: Annotated[str, Form(max_length=128)] = "",
    keeper_org_id: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    data = form_model(
        WarehouseIn,
        code=code.strip(),
        name=name,
        address=address,
        city=city,
        latitude=optional(latitude),
        longitude=optional(longitude),
        registry_code=optional(registry_code),
        keeper_org_id=whole(keeper_org_id),
    )
    warehouse = warehouses.create_warehouse(uow, user.principal, data)
    return Response(status_code=201, headers={"HX-Redirect": f"/admin/warehouses/{warehouse.id}"})


@router.get("/admin/warehouses/{warehouse_id}")
def warehouse_page(warehouse_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    warehouse = warehouses.get_warehouse(session, user.principal, warehouse_id)
    rooms = warehouses.visible_rooms(session, user.principal, warehouse.id)
    supervised = [
        vw
        for vw in warehouses.list_virtual_warehouses(session, user.principal)
        if vw.warehouse_id == warehouse.id
    ]
    may_supervise = user.principal.can("virtual_warehouse:create")
    return render(
        request,
        "admin/warehouse.html",
        user=user,
        warehouse=warehouse,
        keeper=parties.organisation_names(session, {warehouse.keeper_org_id}).get(
            warehouse.keeper_org_id, ""
        ),
        rooms=rooms,
        room_codes={room.id: room.code for room in rooms},
        supervised=supervised,
        vw_codes={vw.id: vw.code for vw in supervised},
        supervisors=parties.organisation_names(session, {vw.supervisor_org_id for vw in supervised}),
        temperature_classes=list(TemperatureClass),
        area_kinds=list(AreaKind),
        modes=list(SupervisionMode),
        may_add_room=user.principal.can("warehouse:add_room"),
        may_supervise=may_supervise,
        unsupervised=[room for room in rooms if room.virtual_warehouse_id is None],
        supervisor_choices=_organisations_of(session, user.principal, PartyType.SUPERVISOR)
        if may_supervise
        else [],
    )


@router.post("/admin/warehouses/{warehouse_id}/rooms")
def add_room(
    warehouse_id: int,
    user: PageUserDep,
    uow: Uow,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    kind: Annotated[str, Form(max_length=20)] = "room",
    parent_room_id: Annotated[str, Form(max_length=20)] = "",
    temperature_class: Annotated[str, Form(max_length=40)] = "",
    band_low_c: Annotated[str, Form(max_length=20)] = "",
    band_high_c: Annotated[str, Form(max_length=20)] = "",
    set_point_c: Annotated[str, Form(max_length=20)] = "",
    area_m2: Annotated[str, Form(max_length=20)] = "",
    volume_m3: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    data = form_model(
        RoomIn,
        code=code.strip(),
        name=name,
        kind=kind,
        parent_room_id=whole(parent_room_id),
        temperature_class=temperature_class,
        band_low_c=band_low_c.strip(),
        band_high_c=band_high_c.strip(),
        set_point_c=set_point_c.strip(),
        area_m2=whole(area_m2),
        volume_m3=whole(volume_m3),
    )
    warehouses.add_room(uow, user.principal, warehouse_id, data)
    return Response(status_code=201, headers=REFRESH)


@router.post("/admin/warehouses/{warehouse_id}/virtual-warehouses")
def create_virtual_warehouse(
    warehouse_id: int,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=400)] = "",
    supervisor_org_id: Annotated[str, Form(max_length=20)] = "",
    room_ids: Annotated[list[str] | None, Form()] = None,
    mode: Annotated[str, Form(max_length=20)] = "static",
    agreement_no: Annotated[str, Form(max_length=128)] = "",
    min_control_value_yuan: Annotated[str, Form(max_length=32)] = "",
    min_control_quantity_kg: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    chosen = [whole(room_id) for room_id in room_ids or []]
    data = form_model(
        VirtualWarehouseIn,
        code=code.strip(),
        name=name,
        warehouse_id=warehouse_id,
        supervisor_org_id=whole(supervisor_org_id),
        room_ids=chosen,
        mode=mode,
        agreement_no=optional(agreement_no),
        parameters=_floor_parameters(
            session,
            user.principal,
            warehouse_id,
            chosen,
            mode,
            min_control_value_yuan,
            min_control_quantity_kg,
        ),
    )
    warehouses.create_virtual_warehouse(uow, user.principal, data)
    return Response(status_code=201, headers=REFRESH)


def _floor_parameters(
    session: Session,
    principal: Principal,
    warehouse_id: int,
    room_ids: list[int | str | None],
    mode: str,
    value_yuan: str,
    quantity_kg: str,
) -> dict[str, Any] | None:
    """The initial policy of a dynamic pledge: the defaults the service would pick (the coldest
    chosen room's class) with the minimum stock typed. Without a minimum there are none, and the
    model refuses a dynamic pledge without one, as the API does."""
    value_fen = fen_from_yuan(value_yuan, "min_control_value_yuan") if value_yuan.strip() else None
    quantity_g = grams_from_kg(quantity_kg, "min_control_quantity_kg") if quantity_kg.strip() else None
    if value_fen is None and quantity_g is None:
        return None
    rooms: list[Room] = [
        room for room in warehouses.visible_rooms(session, principal, warehouse_id) if room.id in room_ids
    ]
    coldest = min(
        (room.temperature_class for room in rooms), key=COLDNESS.__getitem__, default=TemperatureClass.FROZEN
    )
    parameters = default_parameters(coldest).model_dump()
    parameters.update(mode=mode, min_control_value_fen=value_fen, min_control_quantity_g=quantity_g)
    return parameters
