"""Device pages: every visible device's health, the silent and the uncalibrated first; a device's
page with its health, latest readings and binding; the registry's changes the viewer's role may
make (register, with its secrets shown this once as the API returns them; bind to another room;
rotate its signing key; retire); and, for the operator, the ingest's dead letters. Each change
calls the registry service the API calls, with the API's own input model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, Response

from coldpledge.iot import queries as iot_queries
from coldpledge.iot import registry
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus
from coldpledge.iot.schemas import (
    BindIn,
    Credentials,
    DeadLetterOut,
    DeviceIn,
    DeviceOut,
    RegisteredOut,
    RetireIn,
    RotateKeyIn,
)
from coldpledge.parties.access import require
from coldpledge.parties.policy import Principal
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import Room, Warehouse
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)

REFRESH = {"HX-Refresh": "true"}
DEAD_LETTERS_PER_PAGE = 100
SIGNING_CHOICES = {"": None, "yes": True, "no": False}


def _rooms(session: ReadSession, principal: Principal) -> dict[int, tuple[Warehouse, Room]]:
    return {
        room.id: (warehouse, room)
        for warehouse in warehouses.list_warehouses(session, principal)
        for room in warehouses.visible_rooms(session, principal, warehouse.id)
    }


def _number(text: str) -> int | str | None:
    """Digits become an id; anything else typed goes to the model, which refuses it by name."""
    stripped = text.strip()
    return int(stripped) if stripped.isdigit() else (stripped or None)


def _gateways(session: ReadSession, principal: Principal, warehouse_id: int | None = None) -> list[Device]:
    return [
        device
        for device in registry.list_devices(session, principal, kind=DeviceKind.GATEWAY)
        if device.status is DeviceStatus.ACTIVE and warehouse_id in (None, device.warehouse_id)
    ]


@router.get("/devices")
def device_list(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    """Every visible device's health, the silent and the uncalibrated first: what needs a visit."""
    principal = user.principal
    health = iot_queries.health(
        session, principal, now=rt.now(), offline_intervals=rt.settings.device_offline_intervals
    )
    health.sort(key=lambda d: (d.online, not d.calibration_overdue, d.code))
    may_register = principal.can("device:register")
    return render(
        request,
        "devices/list.html",
        user=user,
        health=health,
        rooms=_rooms(session, principal),
        kinds=list(DeviceKind),
        gateways=_gateways(session, principal) if may_register else [],
        may_register=may_register,
        may_see_dead_letters=principal.can("dead_letter:view"),
    )


@router.post("/devices")
def register_device(
    request: Request,
    user: PageUserDep,
    uow: Uow,
    room_id: Annotated[str, Form(max_length=20)] = "",
    kind: Annotated[str, Form(max_length=20)] = "",
    code: Annotated[str, Form(max_length=40)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    gateway_id: Annotated[str, Form(max_length=20)] = "",
    public_key_pem: Annotated[str, Form(max_length=2000)] = "",
    signing: Annotated[str, Form(max_length=3)] = "",
    sampling_interval_s: Annotated[str, Form(max_length=10)] = "60",
    calibration_certificate: Annotated[str, Form(max_length=64)] = "",
    calibration_due: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    data = form_model(
        DeviceIn,
        room_id=_number(room_id),
        kind=kind,
        code=optional(code.upper()),
        name=optional(name),
        gateway_id=_number(gateway_id),
        public_key_pem=optional(public_key_pem),
        signing=SIGNING_CHOICES.get(signing, signing),
        sampling_interval_s=_number(sampling_interval_s),
        calibration_certificate=optional(calibration_certificate),
        calibration_due=optional(calibration_due),
    )
    made = registry.register(uow, user.principal, data)
    registered = RegisteredOut(
        device=DeviceOut.of(made.device, made.topic),
        credentials=Credentials(
            http_token=made.http_token,
            mqtt_username=made.device.mqtt_username,
            mqtt_password=made.mqtt_password,
        ),
    )
    answer = render_fragment(request, "devices/_registered.html", status_code=201, registered=registered)
    # The secrets exist only in this answer: no cache may keep a copy.
    answer.headers["Cache-Control"] = "no-store"
    return answer


@router.get("/devices/dead-letters")
def dead_letters(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    reason: Annotated[str, Query(max_length=64)] = "",
    device: Annotated[str, Query(max_length=64)] = "",
    before_id: int | None = None,
) -> Response:
    """Messages and readings that could not be stored, newest first; the operator's alone."""
    require(user.principal, "dead_letter:view")
    rows = iot_queries.dead_letters(
        session,
        user.principal,
        reason=optional(reason),
        device=optional(device),
        limit=DEAD_LETTERS_PER_PAGE,
        before_id=before_id,
    )
    letters = [DeadLetterOut.of(row) for row in rows]
    return render(
        request,
        "devices/dead_letters.html",
        user=user,
        letters=letters,
        reason=reason,
        device=device,
        older=letters[-1].id if len(letters) == DEAD_LETTERS_PER_PAGE else None,
    )


@router.get("/devices/{device_id}")
def device_page(
    device_id: int, request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    principal = user.principal
    device = registry.get_device(session, principal, device_id)
    values = iot_queries.latest_values(session, [device.id], iot_queries.HEALTH_METRICS)
    active = device.status is DeviceStatus.ACTIVE
    may_bind = active and principal.can("device:bind")
    gateways = _gateways(session, principal, device.warehouse_id)
    return render(
        request,
        "devices/device.html",
        user=user,
        device=DeviceOut.of(device, registry.topic_of(session, device)),
        health=iot_queries.health_of(
            device, values, now=rt.now(), offline_intervals=rt.settings.device_offline_intervals
        ),
        latest=iot_queries.latest(session, principal, device.id),
        place=_rooms(session, principal).get(device.room_id),
        gateway=next((g for g in gateways if g.id == device.gateway_id), None),
        rooms=warehouses.visible_rooms(session, principal, device.warehouse_id) if may_bind else [],
        gateways=gateways if may_bind and device.kind is not DeviceKind.GATEWAY else [],
        may_bind=may_bind,
        may_rotate=active and principal.can("device:rotate_key"),
        may_retire=active and principal.can("device:retire"),
    )


@router.post("/devices/{device_id}/bind")
def bind_device(
    device_id: int,
    user: PageUserDep,
    uow: Uow,
    room_id: Annotated[str, Form(max_length=20)] = "",
    gateway_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    data = form_model(BindIn, room_id=_number(room_id), gateway_id=_number(gateway_id), reason=reason)
    registry.bind(uow, user.principal, device_id, data)
    return Response(status_code=200, headers=REFRESH)


@router.post("/devices/{device_id}/rotate-key")
def rotate_device_key(
    device_id: int,
    user: PageUserDep,
    uow: Uow,
    public_key_pem: Annotated[str, Form(max_length=2000)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    data = form_model(RotateKeyIn, public_key_pem=public_key_pem.strip(), reason=reason)
    registry.rotate_key(uow, user.principal, device_id, data)
    return Response(status_code=200, headers=REFRESH)


@router.post("/devices/{device_id}/retire")
def retire_device(
    device_id: int,
    user: PageUserDep,
    uow: Uow,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    registry.retire(uow, user.principal, device_id, form_model(RetireIn, reason=reason))
    return Response(status_code=200, headers=REFRESH)
