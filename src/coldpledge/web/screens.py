"""The risk big screens (大屏), 1920×1080: 存货作业风控大屏 (inventory operations risk) and
数字仓单风控大屏 (digital receipt risk). Each is a page, a JSON snapshot and an event stream of
that snapshot; every figure is scoped to the viewer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from sqlalchemy.orm import Session

from coldpledge.errors import N_
from coldpledge.parties.policy import Principal
from coldpledge.web import screen_data
from coldpledge.web.deps import PageUser, PageUserDep, ReadSession, Runtime, RuntimeDep
from coldpledge.web.streams import snapshot_stream
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)
# How often a screen's stream sends a fresh snapshot.
INTERVAL_S = 5.0
NO_STORE = {"Cache-Control": "no-store"}

Builder = Callable[[Session, Principal, Runtime], dict[str, Any]]


def _inventory(session: Session, principal: Principal, rt: Runtime) -> dict[str, Any]:
    return screen_data.inventory_snapshot(
        session, principal, now=rt.now(), offline_intervals=rt.settings.device_offline_intervals
    )


def _receipts(session: Session, principal: Principal, rt: Runtime) -> dict[str, Any]:
    return screen_data.receipts_snapshot(session, principal, now=rt.now())


SCREENS: dict[str, Builder] = {"inventory": _inventory, "receipts": _receipts}
# Each screen links to the other; the labels are the navigation's.
OTHER = {
    "inventory": {"href": "/screens/receipts", "label": N_("Receipt risk screen")},
    "receipts": {"href": "/screens/inventory", "label": N_("Inventory risk screen")},
}


def _page(request: Request, user: PageUser, session: Session, rt: Runtime, name: str) -> Response:
    snapshot = SCREENS[name](session, user.principal, rt)
    return render(
        request,
        f"screens/{name}.html",
        user=user,
        snapshot=snapshot,
        labels=screen_data.labels(),
        events_url=f"/screens/{name}/events",
        other_screen=OTHER[name],
    )


def _stream(request: Request, user: PageUser, rt: Runtime, name: str) -> StreamingResponse:
    """The viewer's principal is fixed when the stream opens; the stream itself ends when the
    session does (``snapshot_stream``)."""
    build, principal = SCREENS[name], user.principal
    return snapshot_stream(request, rt, lambda session: build(session, principal, rt), interval_s=INTERVAL_S)


@router.get("/screens/inventory")
def inventory_screen(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    return _page(request, user, session, rt, "inventory")


@router.get("/screens/inventory/data")
def inventory_data(user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> JSONResponse:
    return JSONResponse(_inventory(session, user.principal, rt), headers=NO_STORE)


@router.get("/screens/inventory/events")
def inventory_events(request: Request, user: PageUserDep, rt: RuntimeDep) -> StreamingResponse:
    return _stream(request, user, rt, "inventory")


@router.get("/screens/receipts")
def receipts_screen(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    return _page(request, user, session, rt, "receipts")


@router.get("/screens/receipts/data")
def receipts_data(user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> JSONResponse:
    return JSONResponse(_receipts(session, user.principal, rt), headers=NO_STORE)


@router.get("/screens/receipts/events")
def receipts_events(request: Request, user: PageUserDep, rt: RuntimeDep) -> StreamingResponse:
    return _stream(request, user, rt, "receipts")
