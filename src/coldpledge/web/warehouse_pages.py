"""Warehouse pages: every visible warehouse with its rooms coloured by what they read now, and a
room's page with its devices, a temperature chart over a chosen range and its cold-chain figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Request, Response

from coldpledge.iot import queries as iot_queries
from coldpledge.iot.room_views import RoomNow, rooms_now
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import Room
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)

# The chart's ranges; the API picks raw points up to 6 h, minute buckets up to 7 days, hours beyond.
RANGES = (("6h", 6), ("24h", 24), ("7d", 24 * 7), ("30d", 24 * 30))


@dataclass(frozen=True)
class RoomTile:
    room: Room
    now: RoomNow
    state: str  # "ok", "out" (a probe outside the band), "silent" (nothing sound to show)

    @property
    def band(self) -> str:
        return f"{self.room.band_low_mc / 1000:g} ~ {self.room.band_high_mc / 1000:g} °C"


def tile(room: Room, now: RoomNow | None) -> RoomTile:
    current = now or RoomNow(room.id)
    low, high = current.low_c, current.high_c
    if low is None or high is None or current.online == 0:
        state = "silent"
    elif low < room.band_low_mc / 1000 or high > room.band_high_mc / 1000:
        state = "out"
    else:
        state = "ok"
    return RoomTile(room, current, state)


@router.get("/warehouses")
def warehouse_list(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    now = rooms_now(
        session, user.principal, now=rt.now(), offline_intervals=rt.settings.device_offline_intervals
    )
    listing = [
        (
            warehouse,
            [
                tile(room, now.get(room.id))
                for room in warehouses.visible_rooms(session, user.principal, warehouse.id)
            ],
        )
        for warehouse in warehouses.list_warehouses(session, user.principal)
    ]
    return render(request, "warehouses/list.html", user=user, listing=listing)


@router.get("/rooms/{room_id}")
def room_page(
    room_id: int, request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    room = warehouses.get_room(session, user.principal, room_id)
    warehouse = warehouses.get_warehouse(session, user.principal, room.warehouse_id)
    now = rt.now()
    health = iot_queries.health(
        session,
        user.principal,
        now=now,
        offline_intervals=rt.settings.device_offline_intervals,
        room_id=room.id,
    )
    current = rooms_now(
        session,
        user.principal,
        now=now,
        offline_intervals=rt.settings.device_offline_intervals,
        room_id=room.id,
    ).get(room.id)
    cold_chain = iot_queries.room_cold_chain(
        session, user.principal, room.id, start=now - timedelta(hours=24), end=now, now=now
    )
    return render(
        request,
        "warehouses/room.html",
        user=user,
        room=room,
        warehouse=warehouse,
        tile=tile(room, current),
        health=health,
        cold_chain=cold_chain,
        ranges=RANGES,
    )
