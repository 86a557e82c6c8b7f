"""HTTP routes of the warehouses context."""

from __future__ import annotations

from fastapi import APIRouter, status

from coldpledge.warehouses import service
from coldpledge.warehouses.schemas import (
    PolicyIn,
    PolicyOut,
    ReleaseWindowIn,
    ReleaseWindowOut,
    RoomIn,
    RoomOut,
    StaffIn,
    VirtualWarehouseIn,
    VirtualWarehouseOut,
    WarehouseIn,
    WarehouseOut,
    warehouse_out,
)
from coldpledge.web.deps import CurrentPrincipal, ReadSession, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["warehouses"])


@router.get("/warehouses", response_model=list[WarehouseOut], responses=errors(401))
def list_warehouses(session: ReadSession, principal: CurrentPrincipal) -> list[WarehouseOut]:
    return [
        warehouse_out(warehouse, service.visible_rooms(session, principal, warehouse.id))
        for warehouse in service.list_warehouses(session, principal)
    ]


@router.post(
    "/warehouses",
    response_model=WarehouseOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
def create_warehouse(data: WarehouseIn, uow: Uow, principal: CurrentPrincipal) -> WarehouseOut:
    return warehouse_out(service.create_warehouse(uow, principal, data), [])


@router.get("/warehouses/{warehouse_id}", response_model=WarehouseOut, responses=errors(401, 404))
def get_warehouse(warehouse_id: int, session: ReadSession, principal: CurrentPrincipal) -> WarehouseOut:
    warehouse = service.get_warehouse(session, principal, warehouse_id)
    return warehouse_out(warehouse, service.visible_rooms(session, principal, warehouse.id))


@router.post(
    "/warehouses/{warehouse_id}/rooms",
    response_model=RoomOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def add_room(warehouse_id: int, data: RoomIn, uow: Uow, principal: CurrentPrincipal) -> RoomOut:
    return RoomOut.of(service.add_room(uow, principal, warehouse_id, data))


@router.get("/virtual-warehouses", response_model=list[VirtualWarehouseOut], responses=errors(401))
def list_virtual_warehouses(session: ReadSession, principal: CurrentPrincipal) -> list[VirtualWarehouseOut]:
    return [
        _vw_out(service.get_virtual_warehouse(session, principal, vw.id))
        for vw in service.list_virtual_warehouses(session, principal)
    ]


@router.post(
    "/virtual-warehouses",
    response_model=VirtualWarehouseOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 409, 422),
)
def create_virtual_warehouse(
    data: VirtualWarehouseIn, uow: Uow, session: ReadSession, principal: CurrentPrincipal
) -> VirtualWarehouseOut:
    vw = service.create_virtual_warehouse(uow, principal, data)
    return _vw_out(service.get_virtual_warehouse(session, principal, vw.id))


@router.get("/virtual-warehouses/{vw_id}", response_model=VirtualWarehouseOut, responses=errors(401, 404))
def get_virtual_warehouse(
    vw_id: int, session: ReadSession, principal: CurrentPrincipal
) -> VirtualWarehouseOut:
    return _vw_out(service.get_virtual_warehouse(session, principal, vw_id))


@router.get(
    "/virtual-warehouses/{vw_id}/policies", response_model=list[PolicyOut], responses=errors(401, 404)
)
def policy_history(vw_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[PolicyOut]:
    return [PolicyOut.model_validate(policy) for policy in service.policy_history(session, principal, vw_id)]


@router.post(
    "/virtual-warehouses/{vw_id}/policies",
    response_model=PolicyOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def set_policy(vw_id: int, data: PolicyIn, uow: Uow, principal: CurrentPrincipal) -> PolicyOut:
    """Adds the next version of the supervision policy; earlier versions stay readable."""
    return PolicyOut.model_validate(service.set_policy(uow, principal, vw_id, data))


@router.post(
    "/virtual-warehouses/{vw_id}/release-windows",
    response_model=ReleaseWindowOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def add_release_window(
    vw_id: int, data: ReleaseWindowIn, uow: Uow, principal: CurrentPrincipal
) -> ReleaseWindowOut:
    return ReleaseWindowOut.of(service.add_release_window(uow, principal, vw_id, data))


@router.delete(
    "/virtual-warehouses/{vw_id}/release-windows/{window_id}",
    response_model=ReleaseWindowOut,
    responses=errors(401, 403, 404),
)
def remove_release_window(
    vw_id: int, window_id: int, uow: Uow, principal: CurrentPrincipal
) -> ReleaseWindowOut:
    return ReleaseWindowOut.of(service.remove_release_window(uow, principal, vw_id, window_id))


@router.post(
    "/virtual-warehouses/{vw_id}/staff",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404, 409, 422),
)
def assign_staff(vw_id: int, data: StaffIn, uow: Uow, principal: CurrentPrincipal) -> None:
    service.assign_staff(uow, principal, vw_id, data.user_id)


@router.delete(
    "/virtual-warehouses/{vw_id}/staff/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(401, 403, 404, 422),
)
def unassign_staff(vw_id: int, user_id: int, uow: Uow, principal: CurrentPrincipal) -> None:
    service.unassign_staff(uow, principal, vw_id, user_id)


def _vw_out(view: service.VirtualWarehouseView) -> VirtualWarehouseOut:
    vw = view.virtual_warehouse
    return VirtualWarehouseOut(
        id=vw.id,
        code=vw.code,
        name=vw.name,
        warehouse_id=vw.warehouse_id,
        supervisor_org_id=vw.supervisor_org_id,
        mode=vw.mode,
        status=vw.status,
        agreement_no=vw.agreement_no,
        rooms=[RoomOut.of(room) for room in view.rooms],
        release_windows=[ReleaseWindowOut.of(window) for window in view.windows],
        policy=PolicyOut.model_validate(view.policy) if view.policy else None,
        staff_user_ids=view.staff_user_ids,
    )
