"""What each visible room reads now, for the warehouse pages: its probes' newest sound
temperatures, its doors, and how many of its devices still report. Two queries for all rooms."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.iot.models import Device, DeviceStatus, LatestReading
from coldpledge.iot.payload import METRICS, SCALE
from coldpledge.parties.access import restrict
from coldpledge.parties.policy import Principal

_TEMPERATURE = METRICS["temperature"].code
_DOOR = METRICS["door"].code
_CHUNK = 2_000  # ids per IN list: well under SQLite's and PostgreSQL's parameter limits


@dataclass
class RoomNow:
    room_id: int
    temperatures_c: list[float] = field(default_factory=list)  # one per probe, newest sound value
    newest_at: datetime | None = None
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
    query = restrict(principal, "view", Device).where(Device.status == DeviceStatus.ACTIVE)
    if room_id is not None:
        query = query.where(Device.room_id == room_id)
    devices = list(session.scalars(query))
    rooms: dict[int, RoomNow] = {}
    room_of: dict[int, int] = {}
    for device in devices:
        room = rooms.setdefault(device.room_id, RoomNow(device.room_id))
        room.devices += 1
        silent = (now - device.last_seen_at).total_seconds() if device.last_seen_at else None
        if silent is not None and silent <= offline_intervals * device.sampling_interval_s:
            room.online += 1
        room_of[device.id] = device.room_id
    ids = list(room_of)
    latest: dict[int, list[LatestReading]] = defaultdict(list)
    for start in range(0, len(ids), _CHUNK):
        for row in session.scalars(
            select(LatestReading).where(
                LatestReading.device_id.in_(ids[start : start + _CHUNK]),
                LatestReading.metric.in_([_TEMPERATURE, _DOOR]),
            )
        ):
            latest[room_of[row.device_id]].append(row)
    for room_id, rows in latest.items():
        room = rooms[room_id]
        for row in rows:
            if row.metric == _DOOR:
                room.doors += 1
                room.doors_open += int(row.value_u / SCALE >= 0.5)
            elif row.fault == 0:
                room.temperatures_c.append(row.value_u / SCALE)
                room.newest_at = row.ts if room.newest_at is None else max(room.newest_at, row.ts)
    return rooms
