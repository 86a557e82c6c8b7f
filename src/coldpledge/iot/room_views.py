"""What each visible room reads now, for the warehouse pages and the inventory screen: its probes'
newest sound temperatures, its doors, and how many of its devices still report. The devices and
their newest values are read once (two queries for all rooms), and the screen takes the devices'
health from the same reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from coldpledge.iot.queries import HEALTH_METRICS, active_devices, health_of, is_online, latest_values
from coldpledge.iot.schemas import HealthOut
from coldpledge.parties.policy import Principal


@dataclass
class RoomNow:
    room_id: int
    temperatures_c: list[float] = field(default_factory=list)  # one per probe, newest sound value
    newest_at: datetime | None = None  # the newest of those readings
    doors_open: int = 0
    doors: int = 0
    devices: int = 0
    online: int = 0

    @property
    def low_c(self) -> float | None:
        return min(self.temperatures_c) if self.temperatures_c else None

    @property
    def high_c(self) -> float | None:
        return max(self.temperatures_c) if self.temperatures_c else None


def rooms_now(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    offline_intervals: int,
    room_id: int | None = None,
) -> dict[int, RoomNow]:
    """Per visible room. A probe whose newest temperature is faulty (a sentinel, out of range)
    is left out of the temperatures rather than shown as if the room were at 85 °C; a device is
    online as ``iot.queries.health`` counts it."""
    rooms, _health = _read(session, principal, now, offline_intervals, room_id=room_id, with_health=False)
    return rooms


def rooms_and_health(
    session: Session, principal: Principal, *, now: datetime, offline_intervals: int
) -> tuple[dict[int, RoomNow], list[HealthOut]]:
    """``rooms_now`` and ``iot.queries.health`` of every visible device, from the same reads."""
    return _read(session, principal, now, offline_intervals, room_id=None, with_health=True)


def _read(
    session: Session,
    principal: Principal,
    now: datetime,
    offline_intervals: int,
    *,
    room_id: int | None,
    with_health: bool,
) -> tuple[dict[int, RoomNow], list[HealthOut]]:
    devices = active_devices(session, principal, room_id=room_id)
    metrics = ("temperature", "door", *(HEALTH_METRICS if with_health else ()))
    times: dict[tuple[int, str], datetime] = {}
    values = latest_values(
        session,
        [device.id for device in devices],
        metrics,
        sound_only=frozenset({"temperature"}),
        times=times,
    )
    rooms: dict[int, RoomNow] = {}
    for device in devices:
        room = rooms.setdefault(device.room_id, RoomNow(device.room_id))
        room.devices += 1
        room.online += is_online(device, now=now, offline_intervals=offline_intervals)
        temperature = values.get((device.id, "temperature"))
        if temperature is not None:
            room.temperatures_c.append(temperature)
            at = times[(device.id, "temperature")]
            room.newest_at = at if room.newest_at is None else max(room.newest_at, at)
        door = values.get((device.id, "door"))
        if door is not None:
            room.doors += 1
            room.doors_open += door >= 0.5
    health = (
        [health_of(device, values, now=now, offline_intervals=offline_intervals) for device in devices]
        if with_health
        else []
    )
    return rooms, health
