"""The viewer's in-app inbox, and the supervision of a virtual warehouse: its rooms, its policy and
the policy's versions, its release windows and its assigned inspectors, with the changes the
viewer's role may make (the services check again; their refusals are the API's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from coldpledge.notify import queries as inbox
from coldpledge.notify import service as notify
from coldpledge.parties import service as parties
from coldpledge.parties.policy import Principal, Role
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import VirtualWarehouse
from coldpledge.warehouses.schemas import ReleaseWindowIn, ReleaseWindowOut, RoomOut, StaffIn
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)

REFRESH = {"HX-Refresh": "true"}


# --- the inbox -------------------------------------------------------------------------------------


@router.get("/inbox")
def inbox_page(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    unread: Annotated[bool, Query()] = False,
) -> Response:
    items = inbox.inbox(session, user.principal, unread_only=unread, limit=200, offset=0)
    return render(
        request,
        "supervision/inbox.html",
        user=user,
        items=items,
        unread=unread,
        unread_count=inbox.unread_count(session, user.principal),
    )


@router.post("/inbox/read-all")
def inbox_read_all(user: PageUserDep, uow: Uow) -> Response:
    notify.mark_all_read(uow, user.principal)
    return Response(status_code=200, headers=REFRESH)


@router.post("/inbox/{item_id}/read")
def inbox_read(item_id: int, request: Request, user: PageUserDep, uow: Uow) -> Response:
    item = notify.mark_read(uow, user.principal, item_id)
    return render_fragment(request, "supervision/_inbox_item.html", item=item)


# --- virtual warehouses ----------------------------------------------------------------------------


def _supervises(principal: Principal, vw: VirtualWarehouse) -> bool:
    return principal.org_id == vw.supervisor_org_id


@router.get("/virtual-warehouses")
def virtual_warehouse_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    return render(
        request,
        "supervision/virtual_warehouses.html",
        user=user,
        virtual_warehouses=warehouses.list_virtual_warehouses(session, user.principal),
    )


@router.get("/virtual-warehouses/{vw_id}")
def virtual_warehouse_page(vw_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    principal = user.principal
    view = warehouses.get_virtual_warehouse(session, principal, vw_id)
    vw = view.virtual_warehouse
    supervises = _supervises(principal, vw)
    may_staff = supervises and principal.can("virtual_warehouse:assign_staff")
    # Names of the supervising organisation's people, where the viewer may see them.
    people = {person.id: person for person in parties.list_users(session, principal)}
    candidates = (
        [
            person
            for person in people.values()
            if person.organisation_id == vw.supervisor_org_id
            and person.role is Role.INSPECTOR
            and person.is_active
            and person.id not in view.staff_user_ids
        ]
        if may_staff
        else []
    )
    return render(
        request,
        "supervision/virtual_warehouse.html",
        user=user,
        view=view,
        vw=vw,
        rooms=[RoomOut.of(room) for room in view.rooms],
        windows=[ReleaseWindowOut.of(window) for window in view.windows],
        history=warehouses.policy_history(session, principal, vw.id),
        people=people,
        candidates=candidates,
        may_windows=supervises and principal.can("virtual_warehouse:manage_windows"),
        may_staff=may_staff,
    )


@router.post("/virtual-warehouses/{vw_id}/release-windows")
def release_window_add(
    vw_id: int,
    user: PageUserDep,
    uow: Uow,
    weekdays: Annotated[str, Form(max_length=20)] = "",
    start: Annotated[str, Form(max_length=10)] = "",
    end: Annotated[str, Form(max_length=10)] = "",
    timezone: Annotated[str, Form(max_length=64)] = "Asia/Shanghai",
    note: Annotated[str, Form(max_length=400)] = "",
) -> Response:
    data = form_model(
        ReleaseWindowIn,
        weekdays=weekdays.strip(),
        start=start.strip(),
        end=end.strip(),
        timezone=timezone.strip() or "Asia/Shanghai",
        note=optional(note),
    )
    warehouses.add_release_window(uow, user.principal, vw_id, data)
    return Response(status_code=200, headers=REFRESH)


@router.post("/virtual-warehouses/{vw_id}/release-windows/{window_id}/remove")
def release_window_remove(vw_id: int, window_id: int, user: PageUserDep, uow: Uow) -> Response:
    warehouses.remove_release_window(uow, user.principal, vw_id, window_id)
    return Response(status_code=200, headers=REFRESH)


@router.post("/virtual-warehouses/{vw_id}/staff")
def staff_assign(
    vw_id: int, user: PageUserDep, uow: Uow, user_id: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    stripped = user_id.strip()
    data = form_model(StaffIn, user_id=int(stripped) if stripped.isdigit() else (stripped or None))
    warehouses.assign_staff(uow, user.principal, vw_id, data.user_id)
    return Response(status_code=200, headers=REFRESH)


@router.post("/virtual-warehouses/{vw_id}/staff/{user_id}/remove")
def staff_unassign(vw_id: int, user_id: int, user: PageUserDep, uow: Uow) -> Response:
    warehouses.unassign_staff(uow, user.principal, vw_id, user_id)
    return Response(status_code=200, headers=REFRESH)
