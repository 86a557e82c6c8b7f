"""The phone web app for field staff (/m/): work orders, stocktakes, patrols, releases at the dock.

Thin routes over the same services and queries as the JSON API (``alerts.api``, ``inventory.api``,
``receipts.api``): the services decide who may do what, and their refusals reach the phone as the
API's own messages. Every action answers with what it changed as it now stands (the work order, the
counted lot, the release at the dock), a fragment whose ``id`` ``static/js/mobile.js`` puts in place
of the old one, or keeps on the phone to send again when the network failed.

A patrol is a work order of type patrol: ``/m/patrol`` lists the viewer's, and the work order's own
check-in and photo comment complete it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from sqlalchemy.orm import Session

from coldpledge.alerts import queries, workorders
from coldpledge.alerts.lifecycle import (
    FINISHED,
    RANK,
    SlaState,
    WorkOrderStatus,
    WorkOrderType,
)
from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.alerts.schemas import CheckInIn, CloseIn, NoteIn, ResolveIn
from coldpledge.alerts.steps import history_label, offered_steps
from coldpledge.db import MAX_ID
from coldpledge.errors import N_, NotFound
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import AttachmentPurpose, Lot, Operation
from coldpledge.inventory.schemas import StocktakeIn
from coldpledge.parties.policy import Principal, Role
from coldpledge.receipts import queries as receipts
from coldpledge.receipts import releases
from coldpledge.receipts.models import Release
from coldpledge.receipts.schemas import OutboundIn
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import Room
from coldpledge.web.deps import PageUser, PageUserDep, ReadSession, RuntimeDep, Uow, within_upload_limit
from coldpledge.web.forms import form_model, grams_from_kg
from coldpledge.web.templating import render
from coldpledge.web.work_order_pages import add_comment

router = APIRouter(prefix="/m", include_in_schema=False)
LOCAL = ZoneInfo("Asia/Shanghai")
# The states a person still works on; finished orders leave the phone's list.
LIVE = [status for status in WorkOrderStatus if status not in FINISHED]
SLA_URGENCY = {SlaState.OVERDUE: 0, SlaState.AT_RISK: 1, SlaState.ON_TIME: 2}
MANIFEST: dict[str, Any] = {
    "name": "冷链监管 · coldpledge",
    "short_name": "冷链监管",
    "description": "冷链仓单质押监管 · field work orders for cold-chain pledge supervision",
    "lang": "zh-CN",
    "start_url": "/m/",
    "scope": "/m/",
    "display": "standalone",
    "orientation": "portrait",
    "background_color": "#f4f7fa",
    "theme_color": "#0b5cad",
    "icons": [
        {"src": "/static/img/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        {"src": "/static/mobile/icon-192.png", "sizes": "192x192", "type": "image/png"},
        {"src": "/static/mobile/icon-512.png", "sizes": "512x512", "type": "image/png"},
    ],
}

SERVICE_WORKER = Path(__file__).parent / "static" / "js" / "sw.js"

Note = Annotated[str, Form(max_length=2000)]


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: browsers fetch it without cookies, so it needs no sign-in."""
    return JSONResponse(MANIFEST, media_type="application/manifest+json")


@router.get("/sw.js")
def service_worker() -> Response:
    """The service worker, served from /m/ so that its scope is the phone app (a script under
    /static/ could control only /static/). No sign-in: it holds no one's data."""
    return FileResponse(SERVICE_WORKER, media_type="text/javascript", headers={"Cache-Control": "no-cache"})


@router.get("/offline")
def offline(request: Request) -> Response:
    """What the service worker shows when a page cannot be reached. It names no one: the worker
    keeps it for whoever uses the phone next."""
    return render(request, "mobile/offline.html")


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderCard:
    """A work order as the phone lists it: what, where, by when."""

    order: WorkOrder
    place: str | None
    sla: SlaState | None
    due_label: str
    due_at: datetime

    @property
    def urgency(self) -> tuple[int, datetime, int]:
        # Overdue first, then at risk, then on time; then the nearest deadline; then the worst.
        rank = SLA_URGENCY[self.sla] if self.sla is not None else len(SLA_URGENCY)
        return rank, self.due_at, -RANK[self.order.severity]


def _card(order: WorkOrder, place: str | None, now: datetime) -> OrderCard:
    if order.acknowledged_at is None:
        due_label, due_at = N_("Acknowledge by"), order.acknowledge_by
    else:
        due_label, due_at = N_("Resolve by"), order.resolve_by
    return OrderCard(order, place, queries.sla_of(order, now), due_label, due_at)


def _my_orders(session: Session, principal: Principal) -> list[WorkOrder]:
    """Those assigned to me; a supervision manager's are all those of the warehouses it supervises."""
    mine = None if principal.role is Role.SUPERVISION_MANAGER else principal.user_id
    found: list[WorkOrder] = []
    for status in LIVE:
        where = queries.WorkOrderFilter(status=status, assignee_user_id=mine, limit=500)
        found += queries.list_work_orders(session, principal, where)
    return found


def _places(session: Session, principal: Principal, orders: list[WorkOrder]) -> dict[int, str]:
    """Each order's room and warehouse, as names a person on site knows them."""
    buildings = {w.id: w.name for w in warehouses.list_warehouses(session, principal)}
    rooms: dict[int, str] = {}
    for warehouse_id in {order.warehouse_id for order in orders if order.room_id is not None}:
        if warehouse_id in buildings:
            rooms.update(
                {room.id: room.name for room in warehouses.visible_rooms(session, principal, warehouse_id)}
            )
    places = {}
    for order in orders:
        names = [rooms.get(order.room_id or 0), buildings.get(order.warehouse_id or 0)]
        if any(names):
            places[order.id] = " · ".join(name for name in names if name)
    return places


def local(moment: datetime | None, fmt: str = "%m-%d %H:%M") -> str:
    return moment.astimezone(LOCAL).strftime(fmt) if moment is not None else ""


@router.get("/")
def my_work_orders(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    orders = _my_orders(session, user.principal)
    places = _places(session, user.principal, orders)
    now = rt.now()
    cards = sorted((_card(order, places.get(order.id), now) for order in orders), key=lambda c: c.urgency)
    return render(request, "mobile/work_orders.html", user=user, cards=cards, local=local)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    actor: str
    label: str
    text: str | None = None
    photos: list[str] = field(default_factory=list)
    distance_m: int | None = None
    accuracy_m: int | None = None


def _timeline(session: Session, order_id: int) -> list[TimelineEntry]:
    entries = []
    for entry in queries.history(session, "work_order", order_id):
        event = entry.event
        data = (event.after or {}).get("_data") or {}
        entries.append(
            TimelineEntry(
                at=event.at,
                actor=entry.actor_name,
                label=history_label(event.action),
                text=data.get("text") or event.reason,
                photos=list(data.get("attachments") or []),
                distance_m=data.get("distance_m"),
                accuracy_m=data.get("accuracy_m"),
            )
        )
    return entries


def _alert_of(session: Session, principal: Principal, order: WorkOrder) -> Alert | None:
    if order.alert_id is None:
        return None
    try:
        return queries.get_alert(session, principal, order.alert_id)
    except NotFound:
        # Seen by assignment, not by place: the order is the viewer's, the alert behind it is not.
        return None


def _order_response(
    request: Request, user: PageUser, session: Session, now: datetime, order_id: int, template: str
) -> Response:
    order = queries.get_work_order(session, user.principal, order_id)
    place = _places(session, user.principal, [order]).get(order.id)
    return render(
        request,
        template,
        user=user,
        card=_card(order, place, now),
        alert=_alert_of(session, user.principal, order),
        offered=offered_steps(order, user.principal),
        timeline=_timeline(session, order.id),
        local=local,
    )


@router.get("/work-orders/{work_order_id}")
def work_order_page(
    work_order_id: int, request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    return _order_response(request, user, session, rt.now(), work_order_id, "mobile/work_order.html")


# --- acting ----------------------------------------------------------------------------------------


def _answer(request: Request, user: PageUser, session: Session, rt: RuntimeDep, order_id: int) -> Response:
    return _order_response(request, user, session, rt.now(), order_id, "mobile/_work_order.html")


@router.post("/work-orders/{work_order_id}/acknowledge")
def acknowledge(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    note: Note = "",
) -> Response:
    data = form_model(NoteIn, note=note or None)
    workorders.acknowledge(uow, user.principal, work_order_id, data.note)
    return _answer(request, user, session, rt, work_order_id)


@router.post("/work-orders/{work_order_id}/check-in")
def check_in(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    latitude_e6: Annotated[int, Form()],
    longitude_e6: Annotated[int, Form()],
    accuracy_m: Annotated[int | None, Form()] = None,
) -> Response:
    data = form_model(CheckInIn, latitude_e6=latitude_e6, longitude_e6=longitude_e6, accuracy_m=accuracy_m)
    workorders.check_in(uow, user.principal, work_order_id, data)
    return _answer(request, user, session, rt, work_order_id)


@router.post("/work-orders/{work_order_id}/comment")
def comment(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    text: Note = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """A note, with a photo from the camera when one was taken (stored by its SHA-256)."""
    add_comment(request, user, uow, rt, work_order_id, text, photo)
    return _answer(request, user, session, rt, work_order_id)


@router.post("/work-orders/{work_order_id}/start")
def start(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    note: Note = "",
) -> Response:
    data = form_model(NoteIn, note=note or None)
    workorders.start(uow, user.principal, work_order_id, data.note)
    return _answer(request, user, session, rt, work_order_id)


@router.post("/work-orders/{work_order_id}/resolve")
def resolve(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    resolution: Note = "",
) -> Response:
    workorders.resolve(uow, user.principal, work_order_id, form_model(ResolveIn, resolution=resolution))
    return _answer(request, user, session, rt, work_order_id)


@router.post("/work-orders/{work_order_id}/close")
def close(
    work_order_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    review_note: Note = "",
) -> Response:
    workorders.close(uow, user.principal, work_order_id, form_model(CloseIn, review_note=review_note or None))
    return _answer(request, user, session, rt, work_order_id)


# --- stocktake -------------------------------------------------------------------------------------


def kg(grams: int | None) -> str:
    """Grams as kilograms with the gram kept: 25,992.200."""
    return "" if grams is None else f"{grams / 1000:,.3f}"


def _whole(text: str) -> int | str:
    """A typed whole number (``1,040``) as an int; anything else as typed, for the API's own
    model to refuse in its words."""
    try:
        return int(text.replace(",", "").replace("，", "").strip())
    except ValueError:
        return text


def _rooms(session: Session, principal: Principal) -> list[tuple[Room, str]]:
    """The rooms the viewer looks after (an inspector: those of the warehouses it is assigned to),
    each with its warehouse's name."""
    found = []
    for warehouse in warehouses.list_warehouses(session, principal):
        found += [
            (room, warehouse.name) for room in warehouses.visible_rooms(session, principal, warehouse.id)
        ]
    return found


@router.get("/stocktake")
def stocktake_page(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    room_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> Response:
    """Pick a room, then count each lot in stock there; the variance shows while typing."""
    room = warehouses.get_room(session, user.principal, room_id) if room_id is not None else None
    lots: list[Lot] = []
    tolerance_bp = None
    if room is not None:
        where = inventory.LotFilter(room_id=room.id, limit=500)
        lots = [
            lot
            for lot in inventory.list_lots(session, user.principal, where)
            if lot.status in inventory.STOCK_STATES
        ]
        tolerance_bp = inventory.policy_for_room(session, room.id).stocktake_variance_tolerance_bp
    return render(
        request,
        "mobile/stocktake.html",
        user=user,
        rooms=_rooms(session, user.principal),
        room=room,
        lots=lots,
        tolerance_bp=tolerance_bp,
        kg=kg,
    )


@router.post("/lots/{lot_id}/stocktake")
def count_lot(
    lot_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    counted_cartons: Annotated[str, Form(max_length=20)] = "",
    counted_kg: Annotated[str, Form(max_length=30)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Record the count through the inventory service, as ``POST /api/v1/lots/{id}/stocktake``."""
    data = form_model(
        StocktakeIn,
        counted_g=grams_from_kg(counted_kg, "counted_g"),
        counted_cartons=_whole(counted_cartons),
        note=note or None,
    )
    counted = inventory.stocktake(uow, user.principal, lot_id, data)
    lot = inventory.get_lot(session, user.principal, lot_id)
    tolerance_bp = int((counted.details or {}).get("tolerance_bp", 0))
    return render(
        request,
        "mobile/_count_lot.html",
        user=user,
        lot=lot,
        counted=counted,
        tolerance_bp=tolerance_bp,
        kg=kg,
    )


# --- patrols ---------------------------------------------------------------------------------------


@router.get("/patrol")
def patrols(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    """The viewer's patrol work orders: each is checked in at its room with GPS and completed with a
    photo comment and its resolution on the work order's own page."""
    orders = [order for order in _my_orders(session, user.principal) if order.kind is WorkOrderType.PATROL]
    places = _places(session, user.principal, orders)
    now = rt.now()
    cards = sorted((_card(order, places.get(order.id), now) for order in orders), key=lambda c: c.urgency)
    return render(request, "mobile/patrols.html", user=user, cards=cards, local=local)


# --- releases at the dock --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dock:
    """A release instruction as the keeper checks it at the dock, and the lot it takes goods from."""

    release: Release
    receipt_code: str
    lot: Lot
    sealed: bool
    executed: Operation | None = None


def _dock(session: Session, principal: Principal, release_id: int) -> Dock:
    release = receipts.get_release(session, principal, release_id)
    receipt = receipts.get_receipt(session, principal, release.receipt_id)
    lot = inventory.get_lot(session, principal, receipt.lot_id)
    return Dock(release, receipt.code, lot, inventory.is_sealed(session, lot))


@router.get("/releases/execute")
def release_page(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    release_id: Annotated[int | None, Query(gt=0, le=MAX_ID)] = None,
) -> Response:
    """Scan the instruction's QR code (or type its number), check it, weigh the goods out. Asked by
    the page's script (HX-Request), the answer is the instruction's part only."""
    dock = _dock(session, user.principal, release_id) if release_id is not None else None
    template = "mobile/_dock.html" if "HX-Request" in request.headers else "mobile/release.html"
    return render(request, template, user=user, dock=dock, kg=kg, local=local)


@router.post("/releases/{release_id}/execute")
def execute_release(
    release_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    rt: RuntimeDep,
    release_code: Annotated[str, Form(max_length=64)] = "",
    gross_kg: Annotated[str, Form(max_length=30)] = "",
    tare_kg: Annotated[str, Form(max_length=30)] = "",
    weigh_ticket_no: Annotated[str, Form(max_length=64)] = "",
    cartons: Annotated[str, Form(max_length=20)] = "",
    vehicle_plate: Annotated[str, Form(max_length=32)] = "",
    collector_id_no: Annotated[str, Form(max_length=32)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Outbound through ``releases.execute_outbound``, as ``POST /api/v1/lots/{id}/outbound``: the
    code, the vehicle, the collector's ID and the quantities are checked there. The photo of the
    goods on the truck is then kept with the outbound operation."""
    has_photo = photo is not None and bool(photo.filename)
    if has_photo:
        within_upload_limit(request, rt)
    # Which lot the instruction takes goods from, read in a unit of its own: the page's read session
    # is first used after the outbound, so it sees the release executed.
    with uow:
        lot_id = _dock(uow.session, user.principal, release_id).lot.id
    data = form_model(
        OutboundIn,
        release_id=release_id,
        release_code=release_code.strip(),
        gross_g=grams_from_kg(gross_kg, "gross_g"),
        tare_g=grams_from_kg(tare_kg, "tare_g"),
        weigh_ticket_no=weigh_ticket_no.strip(),
        collector_id_no=collector_id_no.strip(),
        cartons=_whole(cartons),
        vehicle_plate=vehicle_plate.strip(),
        note=note or None,
    )
    operation = releases.execute_outbound(uow, user.principal, lot_id, data)
    if has_photo and photo is not None:
        inventory.attach(
            uow,
            user.principal,
            rt.files,
            lot_id,
            photo.file,
            purpose=AttachmentPurpose.PHOTO,
            original_name=photo.filename,
            operation_id=operation.id,
        )
    done = _dock(session, user.principal, release_id)
    return render(
        request,
        "mobile/_dock.html",
        user=user,
        dock=Dock(done.release, done.receipt_code, done.lot, done.sealed, operation),
        kg=kg,
        local=local,
    )
