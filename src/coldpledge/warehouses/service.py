"""Use cases of the warehouses context."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, InvalidInput, NotFound
from coldpledge.parties.access import obtain, require, restrict
from coldpledge.parties.models import User
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.parties.service import organisation_of_type
from coldpledge.units import celsius_to_mc, degrees_to_e6
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import supervision
from coldpledge.warehouses.models import (
    PolicyScope,
    ReleaseWindow,
    Room,
    SupervisionPolicy,
    TemperatureClass,
    VirtualWarehouse,
    VirtualWarehouseStaff,
    Warehouse,
)
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import PolicyIn, ReleaseWindowIn, RoomIn, VirtualWarehouseIn, WarehouseIn
from coldpledge.warehouses.windows import Window, parse_hhmm

# The coldest class wins when a virtual warehouse mixes rooms: its defaults are the strictest.
_COLDNESS = {TemperatureClass.DEEP_FROZEN: 0, TemperatureClass.FROZEN: 1, TemperatureClass.CHILLED: 2}


# --- reading ----------------------------------------------------------------------------------


def list_warehouses(session: Session, principal: Principal) -> list[Warehouse]:
    return list(session.scalars(restrict(principal, "view", Warehouse).order_by(Warehouse.code)))


def get_warehouse(session: Session, principal: Principal, warehouse_id: int) -> Warehouse:
    return obtain(session, principal, Warehouse, warehouse_id)


def visible_rooms(session: Session, principal: Principal, warehouse_id: int) -> list[Room]:
    query = restrict(principal, "view", Room).where(Room.warehouse_id == warehouse_id).order_by(Room.code)
    return list(session.scalars(query))


def get_room(session: Session, principal: Principal, room_id: int) -> Room:
    return obtain(session, principal, Room, room_id)


def list_virtual_warehouses(session: Session, principal: Principal) -> list[VirtualWarehouse]:
    return list(
        session.scalars(restrict(principal, "view", VirtualWarehouse).order_by(VirtualWarehouse.code))
    )


@dataclass(frozen=True)
class VirtualWarehouseView:
    virtual_warehouse: VirtualWarehouse
    rooms: list[Room]
    windows: list[ReleaseWindow]
    policy: SupervisionPolicy | None
    staff_user_ids: list[int]


def get_virtual_warehouse(session: Session, principal: Principal, vw_id: int) -> VirtualWarehouseView:
    vw = obtain(session, principal, VirtualWarehouse, vw_id)
    # Only the rooms the caller may see, as in a warehouse's detail: a bank or an owner sees the
    # rooms its goods are in, not every room the virtual warehouse spans.
    rooms = list(
        session.scalars(
            restrict(principal, "view", Room).where(Room.virtual_warehouse_id == vw.id).order_by(Room.code)
        )
    )
    windows = list(
        session.scalars(
            select(ReleaseWindow)
            .where(ReleaseWindow.virtual_warehouse_id == vw.id, ReleaseWindow.removed_at.is_(None))
            .order_by(ReleaseWindow.id)
        )
    )
    staff = list(
        session.scalars(
            select(VirtualWarehouseStaff.user_id)
            .where(VirtualWarehouseStaff.virtual_warehouse_id == vw.id)
            .order_by(VirtualWarehouseStaff.user_id)
        )
    )
    return VirtualWarehouseView(vw, rooms, windows, current_policy(session, vw.id), staff)


def current_policy(session: Session, vw_id: int) -> SupervisionPolicy | None:
    return supervision.latest(session, PolicyScope.VIRTUAL_WAREHOUSE, vw_id)


def policy_history(session: Session, principal: Principal, vw_id: int) -> list[SupervisionPolicy]:
    return supervision.history(session, principal, PolicyScope.VIRTUAL_WAREHOUSE, vw_id)


def release_windows_of(session: Session, vw_id: int) -> list[Window]:
    """The active release windows of a virtual warehouse, for the rules engine and operations."""
    rows = session.scalars(
        select(ReleaseWindow).where(
            ReleaseWindow.virtual_warehouse_id == vw_id, ReleaseWindow.removed_at.is_(None)
        )
    )
    return [Window(row.weekdays, row.start_minute, row.end_minute, row.timezone) for row in rows]


# --- physical warehouses ----------------------------------------------------------------------


def create_warehouse(uow: UnitOfWork, principal: Principal, data: WarehouseIn) -> Warehouse:
    with uow:
        require(principal, "warehouse:create")
        keeper_org_id = _keeper_for_new_warehouse(uow.session, principal, data.keeper_org_id)
        _unique(uow.session, Warehouse.code, data.code, "code")
        if data.registry_code:
            _unique(uow.session, Warehouse.registry_code, data.registry_code, "registry_code")
        warehouse = Warehouse(
            code=data.code,
            name=data.name,
            keeper_org_id=keeper_org_id,
            address=data.address,
            city=data.city,
            latitude_e6=degrees_to_e6(data.latitude) if data.latitude is not None else None,
            longitude_e6=degrees_to_e6(data.longitude) if data.longitude is not None else None,
            registry_code=data.registry_code,
            created_at=uow.now(),
        )
        uow.session.add(warehouse)
        uow.record(principal, "warehouse.create", warehouse, before=None, related=[f"org:{keeper_org_id}"])
        uow.commit()
        return warehouse


def _keeper_for_new_warehouse(session: Session, principal: Principal, requested: int | None) -> int:
    if principal.is_operator:
        if requested is None:
            raise InvalidInput(N_("Name the keeper organisation of the warehouse."), field="keeper_org_id")
        organisation_of_type(session, requested, PartyType.KEEPER, "keeper_org_id", active=False)
        return requested
    if requested is not None and requested != principal.org_id:
        raise InvalidInput(N_("A keeper can only create warehouses of its own."), field="keeper_org_id")
    assert principal.org_id is not None
    return principal.org_id


def add_room(uow: UnitOfWork, principal: Principal, warehouse_id: int, data: RoomIn) -> Room:
    with uow:
        warehouse = obtain(uow.session, principal, Warehouse, warehouse_id, "add_room", for_update=True)
        taken = uow.session.scalar(
            select(func.count()).where(Room.warehouse_id == warehouse.id, Room.code == data.code)
        )
        if taken:
            raise Conflict(
                N_("This warehouse already has a room coded {code}."), field="code", code=data.code
            )
        if data.parent_room_id is not None:
            parent = uow.session.get(Room, data.parent_room_id)
            if parent is None or parent.warehouse_id != warehouse.id or parent.parent_room_id is not None:
                raise InvalidInput(
                    N_("A zone must sit inside a room of the same warehouse."), field="parent_room_id"
                )
        room = Room(
            warehouse_id=warehouse.id,
            code=data.code,
            name=data.name,
            kind=data.kind,
            parent_room_id=data.parent_room_id,
            temperature_class=data.temperature_class,
            set_point_mc=celsius_to_mc(data.set_point_c),
            band_low_mc=celsius_to_mc(data.band_low_c),
            band_high_mc=celsius_to_mc(data.band_high_c),
            area_m2=data.area_m2,
            volume_m3=data.volume_m3,
            created_at=uow.now(),
        )
        uow.session.add(room)
        uow.record(principal, "room.create", room, before=None, related=[warehouse.subject_ref])
        uow.commit()
        return room


# --- virtual warehouses -----------------------------------------------------------------------


def create_virtual_warehouse(
    uow: UnitOfWork, principal: Principal, data: VirtualWarehouseIn
) -> VirtualWarehouse:
    with uow:
        require(principal, "virtual_warehouse:create")
        warehouse = obtain(uow.session, principal, Warehouse, data.warehouse_id, field="warehouse_id")
        organisation_of_type(
            uow.session, data.supervisor_org_id, PartyType.SUPERVISOR, "supervisor_org_id", active=False
        )
        _unique(uow.session, VirtualWarehouse.code, data.code, "code")
        rooms = list(uow.session.scalars(select(Room).where(Room.id.in_(data.room_ids)).with_for_update()))
        if len(rooms) != len(set(data.room_ids)) or any(room.warehouse_id != warehouse.id for room in rooms):
            raise InvalidInput(N_("Every room must belong to the chosen warehouse."), field="room_ids")
        if any(room.virtual_warehouse_id is not None for room in rooms):
            raise Conflict(N_("A room can be supervised by only one virtual warehouse."), field="room_ids")
        vw = VirtualWarehouse(
            code=data.code,
            name=data.name,
            warehouse_id=warehouse.id,
            supervisor_org_id=data.supervisor_org_id,
            mode=data.mode,
            agreement_no=data.agreement_no,
            created_at=uow.now(),
        )
        uow.session.add(vw)
        uow.session.flush()
        before_rooms = {room.id: snapshot(room) for room in rooms}
        for room in rooms:
            room.virtual_warehouse_id = vw.id
        # Its temperature line is written for the coldest class; rooms of another class keep the
        # line of their own class until a policy gives them one (``rules.policies``).
        coldest = min((room.temperature_class for room in rooms), key=_COLDNESS.__getitem__)
        parameters = data.parameters or default_parameters(coldest).model_copy(update={"mode": data.mode})
        uow.record(
            principal,
            "virtual_warehouse.create",
            vw,
            before=None,
            related=[
                warehouse.subject_ref,
                f"org:{data.supervisor_org_id}",
                *(room.subject_ref for room in rooms),
            ],
        )
        # Each room's own row changed too; its evidence must say who supervises it now.
        for room in rooms:
            uow.record(
                principal, "room.supervise", room, before=before_rooms[room.id], related=[vw.subject_ref]
            )
        supervision.add_version(
            uow,
            principal,
            vw,
            PolicyIn(parameters=parameters, reason=N_("Initial policy")),
            temperature_class=coldest,
        )
        uow.commit()
        return vw


def set_policy(uow: UnitOfWork, principal: Principal, vw_id: int, data: PolicyIn) -> SupervisionPolicy:
    return supervision.set_policy(uow, principal, PolicyScope.VIRTUAL_WAREHOUSE, vw_id, data)


def add_release_window(
    uow: UnitOfWork, principal: Principal, vw_id: int, data: ReleaseWindowIn
) -> ReleaseWindow:
    with uow:
        vw = obtain(uow.session, principal, VirtualWarehouse, vw_id, "manage_windows", for_update=True)
        window = ReleaseWindow(
            virtual_warehouse_id=vw.id,
            weekdays=data.weekdays,
            start_minute=parse_hhmm(data.start),
            end_minute=parse_hhmm(data.end),
            timezone=data.timezone,
            note=data.note,
            created_at=uow.now(),
        )
        uow.session.add(window)
        uow.record(principal, "release_window.add", window, before=None, related=[vw.subject_ref])
        uow.commit()
        return window


def remove_release_window(uow: UnitOfWork, principal: Principal, vw_id: int, window_id: int) -> ReleaseWindow:
    with uow:
        vw = obtain(uow.session, principal, VirtualWarehouse, vw_id, "manage_windows", for_update=True)
        window = uow.session.get(ReleaseWindow, window_id)
        if window is None or window.virtual_warehouse_id != vw.id or window.removed_at is not None:
            raise NotFound(
                N_("The {thing} {ident} was not found."), thing=N_("release window"), ident=window_id
            )
        before = snapshot(window)
        window.removed_at = uow.now()
        uow.record(principal, "release_window.remove", window, before=before, related=[vw.subject_ref])
        uow.commit()
        return window


def assign_staff(uow: UnitOfWork, principal: Principal, vw_id: int, user_id: int) -> VirtualWarehouseStaff:
    with uow:
        vw = obtain(uow.session, principal, VirtualWarehouse, vw_id, "assign_staff", for_update=True)
        user = uow.session.get(User, user_id)
        if user is None or user.organisation_id != vw.supervisor_org_id or user.role is not Role.INSPECTOR:
            raise InvalidInput(
                N_("Only an inspector of the supervising organisation can be assigned."), field="user_id"
            )
        existing = uow.session.get(VirtualWarehouseStaff, (vw.id, user.id))
        if existing is not None:
            raise Conflict(N_("This inspector is already assigned here."), field="user_id")
        assignment = VirtualWarehouseStaff(virtual_warehouse_id=vw.id, user_id=user.id, assigned_at=uow.now())
        uow.session.add(assignment)
        before = snapshot(vw)
        uow.record(
            principal,
            "virtual_warehouse.assign_staff",
            vw,
            before=before,
            related=[user.subject_ref],
            data={"assigned_user_id": user.id},
        )
        uow.commit()
        return assignment


def unassign_staff(uow: UnitOfWork, principal: Principal, vw_id: int, user_id: int) -> None:
    with uow:
        vw = obtain(uow.session, principal, VirtualWarehouse, vw_id, "assign_staff", for_update=True)
        assignment = uow.session.get(VirtualWarehouseStaff, (vw.id, user_id))
        if assignment is None:
            raise InvalidInput(N_("This user is not assigned here."), field="user_id")
        uow.session.delete(assignment)
        uow.record(
            principal,
            "virtual_warehouse.unassign_staff",
            vw,
            before=snapshot(vw),
            related=[f"user:{user_id}"],
            data={"unassigned_user_id": user_id},
        )
        uow.commit()


# --- helpers ----------------------------------------------------------------------------------


def _unique(session: Session, column: InstrumentedAttribute[Any], value: str, field: str) -> None:
    if session.scalar(select(func.count()).where(column == value)):
        raise Conflict(N_("{value} is already taken."), field=field, value=value)
