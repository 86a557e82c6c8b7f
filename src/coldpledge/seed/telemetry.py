"""The demo's device network: a gateway per cold room with its probes, door contact and scale,
simulated by the real edge gateway and feeding the real ingestion service.

``install`` registers the devices (once) and keeps each gateway's key and credentials in a folder
beside the demo database, as a site's installer would keep them on the gateway. ``start`` writes
each gateway's configuration for the transport in use (HTTP to the demo server, or MQTT when
``COLDPLEDGE_MQTT_URL`` is set), gives a new buffer the last day of readings as a gateway coming
back from an outage would hold them, and runs the gateways in background threads.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.iot import registry
from coldpledge.iot.edge.buffer import Buffer
from coldpledge.iot.edge.config import (
    EdgeConfig,
    HttpSettings,
    MqttSettings,
    RoomProfile,
    SimulatedSensor,
    SimulatorDriverSettings,
)
from coldpledge.iot.edge.gateway import Gateway
from coldpledge.iot.edge.simulator import SimulatorDriver
from coldpledge.iot.models import Device, DeviceKind
from coldpledge.iot.schemas import DeviceIn
from coldpledge.parties.policy import SYSTEM
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import AreaKind, Room

log = logging.getLogger(__name__)

SAMPLING_SECONDS = 60
HISTORY = timedelta(hours=24)
# (kind, metrics the simulator reports for it)
SENSORS: tuple[tuple[DeviceKind, tuple[str, ...]], ...] = (
    (DeviceKind.TEMPERATURE, ("temperature",)),
    (DeviceKind.TEMPERATURE, ("temperature",)),
    (DeviceKind.HUMIDITY, ("humidity",)),
    (DeviceKind.DOOR, ("door",)),
    (DeviceKind.SCALE, ("weight",)),
)


@dataclass(frozen=True)
class Site:
    """One gateway as installed: what its configuration is made from."""

    gateway: str
    topic: str
    key_file: Path
    token: str
    mqtt_username: str
    mqtt_password: str
    sensors: list[tuple[str, tuple[str, ...]]]
    set_point_c: float
    seed: int


def install(database: Database, folder: Path) -> list[Site]:
    """Register the demo's devices unless they exist; the sites whose credentials are on disk."""
    folder.mkdir(parents=True, exist_ok=True)
    with database.reading() as session:
        have_devices = session.scalar(select(Device.id).limit(1)) is not None
        rooms = [
            _RoomFacts(room.id, room.code, room.name, room.set_point_mc / 1000)
            for room in session.scalars(select(Room).where(Room.kind == AreaKind.ROOM).order_by(Room.id))
        ]
    if not have_devices:
        for stale in folder.glob("*"):
            stale.unlink()
        for index, room in enumerate(rooms):
            _register_site(database, folder, room, seed=index + 1)
    return [_site(path) for path in sorted(folder.glob("*.json"))]


@dataclass(frozen=True)
class _RoomFacts:
    id: int
    code: str
    name: str
    set_point_c: float


def _register_site(database: Database, folder: Path, room: _RoomFacts, *, seed: int) -> None:
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    gateway = registry.register(
        UnitOfWork(database.write_session),
        SYSTEM,
        DeviceIn(
            room_id=room.id,
            kind=DeviceKind.GATEWAY,
            name=f"{room.name} 网关",
            public_key_pem=public.decode(),
            sampling_interval_s=SAMPLING_SECONDS,
        ),
    )
    sensors: list[tuple[str, tuple[str, ...]]] = []
    for kind, metrics in SENSORS:
        sensor = registry.register(
            UnitOfWork(database.write_session),
            SYSTEM,
            DeviceIn(
                room_id=room.id,
                kind=kind,
                gateway_id=gateway.device.id,
                signing=False,  # behind the gateway, whose signature covers the batch
                sampling_interval_s=SAMPLING_SECONDS,
                calibration_certificate=f"JJF-{room.code}-{len(sensors) + 1:02d}"
                if kind is DeviceKind.TEMPERATURE
                else None,
                calibration_due=(datetime.now(UTC) + timedelta(days=200)).date()
                if kind is DeviceKind.TEMPERATURE
                else None,
            ),
        )
        sensors.append((sensor.device.code, metrics))
    key_file = folder / f"{gateway.device.code}.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_file.chmod(0o600)
    credentials = {
        "gateway": gateway.device.code,
        "topic": gateway.topic,
        "key_file": key_file.name,
        "token": gateway.http_token,
        "mqtt_username": gateway.device.mqtt_username,
        "mqtt_password": gateway.mqtt_password,
        "sensors": sensors,
        "set_point_c": room.set_point_c,
        "seed": seed,
    }
    secrets_file = folder / f"{gateway.device.code}.json"
    secrets_file.write_text(json.dumps(credentials, ensure_ascii=False, indent=2))
    secrets_file.chmod(0o600)


def _site(path: Path) -> Site:
    data = json.loads(path.read_text())
    return Site(
        gateway=data["gateway"],
        topic=data["topic"],
        key_file=path.parent / data["key_file"],
        token=data["token"],
        mqtt_username=data["mqtt_username"],
        mqtt_password=data["mqtt_password"],
        sensors=[(code, tuple(metrics)) for code, metrics in data["sensors"]],
        set_point_c=data["set_point_c"],
        seed=data["seed"],
    )


def config_for(site: Site, folder: Path, *, base_url: str, mqtt_url: str | None) -> EdgeConfig:
    driver = SimulatorDriverSettings(
        kind="simulator",
        interval_seconds=SAMPLING_SECONDS,
        seed=site.seed,
        room=RoomProfile(set_point=site.set_point_c, door_openings_per_hour=0.5),
        sensors=tuple(SimulatedSensor(code=code, metrics=metrics) for code, metrics in site.sensors),
    )
    transport: dict[str, object] = (
        {"mqtt": MqttSettings(url=mqtt_url, username=site.mqtt_username, password=site.mqtt_password)}
        if mqtt_url
        else {"http": HttpSettings(url=base_url, token=site.token)}
    )
    return EdgeConfig(
        gateway=site.gateway,
        topic=site.topic,
        private_key=site.key_file,
        buffer=folder / f"{site.gateway}.buffer.sqlite3",
        backlog_report_seconds=SAMPLING_SECONDS,
        flush_interval_seconds=5,
        drivers=(driver,),
        **transport,
    )


def start(
    database: Database, settings: Settings, folder: Path, *, base_url: str, now: datetime | None = None
) -> tuple[list[threading.Thread], threading.Event]:
    """Run the demo's gateways in background threads until the returned event is set."""
    stop = threading.Event()
    threads = []
    now = now or datetime.now(UTC)
    for site in install(database, folder):
        config = config_for(site, folder, base_url=base_url, mqtt_url=settings.mqtt_url)
        key = serialization.load_pem_private_key(site.key_file.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        simulated = config.drivers[0]
        assert isinstance(simulated, SimulatorDriverSettings)
        driver = SimulatorDriver(simulated)
        _history(config, driver, now)
        gateway = Gateway(config, key, drivers=[driver])
        thread = threading.Thread(target=gateway.run, args=(stop,), name=f"demo {site.gateway}", daemon=True)
        thread.start()
        threads.append(thread)
    return threads, stop


def _history(config: EdgeConfig, driver: SimulatorDriver, now: datetime) -> None:
    """A new buffer gets the last day of readings, as a gateway holds them after an outage; a
    buffer that was used before keeps what it has, and its simulated room starts again now."""
    buffer = Buffer(config.buffer, gateway=config.gateway)
    try:
        if buffer.last_seq >= buffer.first_seq or buffer.unsealed:
            return
        start = now - HISTORY
        steps = int(HISTORY.total_seconds() // SAMPLING_SECONDS)
        moments = [start + timedelta(seconds=SAMPLING_SECONDS * i) for i in range(steps)]
        buffer.capture_many((moment, driver.read(moment)) for moment in moments)
    finally:
        buffer.close()
