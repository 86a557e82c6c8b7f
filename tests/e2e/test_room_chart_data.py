"""The room chart's data: every probe of a room in one answer; minute or hour buckets merged into
as many as the chart can draw, with the same counts, extremes and means the narrow buckets give;
raw readings never merged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from coldpledge.iot.ingest import Incoming, Ingestor
from coldpledge.iot.models import DeviceKind
from tests.conftest import TestDB as Transaction
from tests.iot import Sender, new_device, reading
from tests.world import World

# Minute-aligned, so the window's buckets are whole minutes; a fixed past day keeps it repeatable.
START = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
HOURS = 3


def values_of(probe: int, minute: int) -> list[tuple[int, float]]:
    """Two readings most minutes (seconds 0 and 30), one on every seventh: buckets with a
    duration and buckets of one point both occur."""
    base = -20.0 + probe + (minute % 17) / 10
    if minute % 7 == 0:
        return [(0, base)]
    return [(0, base), (30, base + 0.5)]


def fill(db: Transaction, probes: list[Sender]) -> None:
    ingestor = Ingestor(db.session, clock=lambda: START + timedelta(hours=HOURS))
    for number, probe in enumerate(probes):
        batch = [
            reading(START + timedelta(minutes=minute, seconds=second), value)
            for minute in range(HOURS * 60)
            for second, value in values_of(number, minute)
        ]
        for i in range(0, len(batch), 120):
            raw = probe.raw(batch[i : i + 120], sent_at=START + timedelta(hours=HOURS), sign=False)
            ingestor.ingest([Incoming(raw, "http", token_device=probe.code)])


@pytest.fixture
def room(db: Transaction, world: World) -> dict[str, Any]:
    admin = world.who("admin")
    room_id = world.rooms["YS-F18"]
    probes = [new_device(db.uow(), admin, room_id, signing=False) for _ in range(2)]
    door = new_device(db.uow(), admin, room_id, DeviceKind.DOOR, signing=False)
    fill(db, probes)
    ingestor = Ingestor(db.session, clock=lambda: START + timedelta(hours=HOURS))
    raw = door.raw([reading(START, 1, metric="door")], sent_at=START, sign=False)
    ingestor.ingest([Incoming(raw, "http", token_device=door.code)])
    return {"id": room_id, "probes": probes, "door": door}


def chart(
    client: TestClient, auth: Callable[[str], dict[str, str]], room_id: int, who: str = "admin", **query: Any
) -> Any:
    params = {"from": START.isoformat(), "to": (START + timedelta(hours=HOURS)).isoformat(), **query}
    return client.get(f"/api/v1/rooms/{room_id}/telemetry", params=params, headers=auth(who))


def test_minute_buckets_merged_keep_the_counts_extremes_and_means_of_the_narrow_ones(
    client: TestClient, auth: Callable[[str], dict[str, str]], room: dict[str, Any]
) -> None:
    narrow = chart(client, auth, room["id"], resolution="1m")
    merged = chart(client, auth, room["id"], resolution="1m", points=10)
    assert narrow.status_code == merged.status_code == 200, merged.text

    probes = {probe.code for probe in room["probes"]}
    assert {s["device_code"] for s in narrow.json()} == probes  # the door sends no temperature
    for fine, wide in zip(narrow.json(), merged.json(), strict=True):
        assert fine["device_code"] == wide["device_code"]
        assert fine["bucket_seconds"] == 60
        assert len(fine["buckets"]) == HOURS * 60
        assert wide["bucket_seconds"] == 18 * 60  # 180 minutes in at most 10 points
        assert len(wide["buckets"]) == 10
        for number, bucket in enumerate(wide["buckets"]):
            inside = fine["buckets"][number * 18 : (number + 1) * 18]
            assert bucket["bucket"] == inside[0]["bucket"]
            assert bucket["count"] == sum(b["count"] for b in inside)
            assert bucket["min"] == min(b["min"] for b in inside)
            assert bucket["max"] == max(b["max"] for b in inside)
            assert bucket["mean"] == pytest.approx(sum(b["mean"] for b in inside) / len(inside), abs=1e-9)


def test_the_room_answer_equals_each_device_s_own_series(
    client: TestClient, auth: Callable[[str], dict[str, str]], room: dict[str, Any]
) -> None:
    for resolution in ("raw", "1m", "1h"):
        together = chart(client, auth, room["id"], resolution=resolution).json()
        for series in together:
            alone = client.get(
                f"/api/v1/devices/{series['device_id']}/readings",
                params={
                    "from": START.isoformat(),
                    "to": (START + timedelta(hours=HOURS)).isoformat(),
                    "resolution": resolution,
                },
                headers=auth("admin"),
            )
            assert alone.status_code == 200, alone.text
            assert series == alone.json()


def test_raw_readings_are_never_merged_and_a_window_with_few_buckets_is_left_as_it_is(
    client: TestClient, auth: Callable[[str], dict[str, str]], room: dict[str, Any]
) -> None:
    raw = chart(client, auth, room["id"], resolution="raw", points=10).json()
    expected = sum(len(values_of(0, minute)) for minute in range(HOURS * 60))
    assert len(raw[0]["points"]) == expected
    assert raw[0]["bucket_seconds"] is None
    hours = chart(client, auth, room["id"], resolution="1h", points=400).json()
    assert [len(s["buckets"]) for s in hours] == [HOURS, HOURS]
    assert hours[0]["bucket_seconds"] == 3_600


def test_too_few_points_and_another_party_s_room_are_refused(
    client: TestClient, auth: Callable[[str], dict[str, str]], room: dict[str, Any]
) -> None:
    few = chart(client, auth, room["id"], resolution="1m", points=5)
    assert few.status_code == 422
    assert "points" in few.text
    assert chart(client, auth, room["id"], "bank2", resolution="1m", points=100).status_code == 404
