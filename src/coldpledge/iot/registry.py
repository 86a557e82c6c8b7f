"""Use cases of the device registry: register, bind, rotate a key, retire; and device lookups.

Every change is audited and evidenced through the unit of work. Secrets are returned once, from
``register``, and kept only as hashes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, InvalidInput
from coldpledge.iot import credentials
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus
from coldpledge.iot.schemas import BindIn, DeviceIn, RetireIn, RotateKeyIn
from coldpledge.parties.access import obtain, require, restrict
from coldpledge.parties.policy import Principal
from coldpledge.uow import CONSTRAINT_MESSAGES, UnitOfWork
from coldpledge.warehouses.models import Room, Warehouse

CONSTRAINT_MESSAGES.update(
    {
        "uq_devices_code": N_("Another device already has this code."),
        "uq_devices_mqtt_username": N_("Another device already has this MQTT user name."),
    }
)

_PREFIX = {
    DeviceKind.TEMPERATURE: "TMP",
    DeviceKind.HUMIDITY: "HUM",
    DeviceKind.DOOR: "DOR",
    DeviceKind.LOCK: "LCK",
    DeviceKind.SCALE: "SCL",
    DeviceKind.CAMERA: "CAM",
    DeviceKind.GPS: "GPS",
    DeviceKind.GATEWAY: "GW",
}
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0/O, 1/I/L: codes are read off labels


@dataclass(frozen=True)
class Registered:
    device: Device
    topic: str
    http_token: str
    mqtt_password: str


def topic_of(session: Session, device: Device) -> str:
    """``coldpledge/v1/{keeper org id}/{warehouse code}/{device code}/telemetry``."""
    warehouse = session.get(Warehouse, device.warehouse_id)
    assert warehouse is not None
    return f"coldpledge/v1/{warehouse.keeper_org_id}/{warehouse.code}/{device.code}/telemetry"


def list_devices(
    session: Session, principal: Principal, *, room_id: int | None = None, kind: DeviceKind | None = None
) -> list[Device]:
    query = restrict(principal, "view", Device).order_by(Device.code)
    if room_id is not None:
        query = query.where(Device.room_id == room_id)
    if kind is not None:
        query = query.where(Device.kind == kind)
    return list(session.scalars(query))


def get_device(session: Session, principal: Principal, device_id: int) -> Device:
    return obtain(session, principal, Device, device_id)


def register(uow: UnitOfWork, principal: Principal, data: DeviceIn) -> Registered:
    require(principal, "device:register")
    with uow:
        session = uow.session
        room = obtain(session, principal, Room, data.room_id, field="room_id")
        public_key = (
            credentials.public_key_from_pem(data.public_key_pem.encode()) if data.public_key_pem else None
        )
        # Gateways always sign; other devices sign when they come with a key, unless told.
        signing = (
            data.signing
            if data.signing is not None
            else public_key is not None or data.kind is DeviceKind.GATEWAY
        )
        _check_signing(data.kind, signing, public_key)
        gateway = _gateway(session, principal, data.gateway_id, room, data.kind)
        code = data.code or _new_code(session, data.kind)
        token = credentials.new_token()
        password = credentials.new_password()
        device = Device(
            code=code,
            kind=data.kind,
            name=data.name or f"{data.kind.value} {code}",
            room_id=room.id,
            warehouse_id=room.warehouse_id,
            gateway_id=gateway.id if gateway else None,
            status=DeviceStatus.ACTIVE,
            sampling_interval_s=data.sampling_interval_s,
            calibration_certificate=data.calibration_certificate,
            calibration_due=data.calibration_due,
            signing=signing,
            public_key=public_key,
            token_sha256=credentials.token_hash(token),
            mqtt_username=code.lower(),
            mqtt_password_hash=credentials.mosquitto_hash(password),
            key_version=1,
            created_at=uow.now(),
        )
        session.add(device)
        session.flush()
        related = [room.subject_ref] + ([gateway.subject_ref] if gateway else [])
        uow.record(principal, "device.register", device, before=None, related=related)
        topic = topic_of(session, device)
        uow.commit()
        return Registered(device, topic, token, password)


def bind(uow: UnitOfWork, principal: Principal, device_id: int, data: BindIn) -> Device:
    """Move a device to another room (or zone) and gateway of the same warehouse."""
    with uow:
        session = uow.session
        device = obtain(session, principal, Device, device_id, "bind", for_update=True)
        _active(device)
        room = obtain(session, principal, Room, data.room_id, field="room_id")
        if room.warehouse_id != device.warehouse_id:
            raise InvalidInput(
                N_("A device moves only between rooms of its own warehouse; register it anew elsewhere."),
                field="room_id",
            )
        gateway = _gateway(session, principal, data.gateway_id, room, device.kind)
        before = snapshot(device)
        device.room_id = room.id
        device.gateway_id = gateway.id if gateway else None
        uow.record(
            principal, "device.bind", device, before=before, reason=data.reason, related=[room.subject_ref]
        )
        uow.commit()
        return device


def rotate_key(uow: UnitOfWork, principal: Principal, device_id: int, data: RotateKeyIn) -> Device:
    with uow:
        device = obtain(uow.session, principal, Device, device_id, "rotate_key", for_update=True)
        _active(device)
        public_key = credentials.public_key_from_pem(data.public_key_pem.encode())
        if public_key == device.public_key:
            raise InvalidInput(N_("This is the key the device already has."), field="public_key_pem")
        before = snapshot(device)
        device.public_key = public_key
        device.signing = True
        device.key_version += 1
        uow.record(principal, "device.rotate_key", device, before=before, reason=data.reason)
        uow.commit()
        return device


def retire(uow: UnitOfWork, principal: Principal, device_id: int, data: RetireIn) -> Device:
    """A retired device's messages go to dead letters; its readings and history stay."""
    with uow:
        session = uow.session
        device = obtain(session, principal, Device, device_id, "retire", for_update=True)
        _active(device)
        wired = session.scalar(
            select(Device.code)
            .where(Device.gateway_id == device.id, Device.status == DeviceStatus.ACTIVE)
            .limit(1)
        )
        if wired is not None:
            raise Conflict(
                N_(
                    "Sensors are still wired to this gateway (for example {code}); move or retire them first."
                ),
                code=wired,
            )
        before = snapshot(device)
        device.status = DeviceStatus.RETIRED
        device.retired_at = uow.now()
        uow.record(principal, "device.retire", device, before=before, reason=data.reason)
        uow.commit()
        return device


def device_by_token(session: Session, token: str) -> Device | None:
    return session.scalars(select(Device).where(Device.token_sha256 == credentials.token_hash(token))).first()


def _active(device: Device) -> None:
    if device.status is not DeviceStatus.ACTIVE:
        raise Conflict(N_("The device {code} is retired."), code=device.code)


def _check_signing(kind: DeviceKind, signing: bool, public_key: bytes | None) -> None:
    if kind is DeviceKind.GATEWAY and not signing:
        raise InvalidInput(N_("A gateway always signs its batches."), field="signing")
    if signing and public_key is None:
        raise InvalidInput(N_("A signing device needs its Ed25519 public key."), field="public_key_pem")


def _gateway(
    session: Session, principal: Principal, gateway_id: int | None, room: Room, kind: DeviceKind
) -> Device | None:
    if gateway_id is None:
        return None
    if kind is DeviceKind.GATEWAY:
        raise InvalidInput(N_("A gateway is not wired to another gateway."), field="gateway_id")
    gateway = obtain(session, principal, Device, gateway_id, field="gateway_id")
    if gateway.kind is not DeviceKind.GATEWAY or gateway.status is not DeviceStatus.ACTIVE:
        raise InvalidInput(N_("gateway_id must name an active gateway."), field="gateway_id")
    if gateway.warehouse_id != room.warehouse_id:
        raise InvalidInput(N_("The gateway must be in the same warehouse as the room."), field="gateway_id")
    return gateway


def _new_code(session: Session, kind: DeviceKind) -> str:
    while True:
        code = f"{_PREFIX[kind]}-" + "".join(secrets.choice(_ALPHABET) for _ in range(6))
        if session.scalar(select(Device.id).where(Device.code == code)) is None:
            return code
