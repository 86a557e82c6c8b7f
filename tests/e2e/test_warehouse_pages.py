"""The warehouse pages: rooms coloured by what they read now, a room's devices, chart and cold
chain, each only for those who may see the warehouse."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from coldpledge.db import utcnow
from coldpledge.iot.payload import encode
from tests.conftest import TestDB as Transaction
from tests.iot import new_device, reading
from tests.pages import sign_in_as
from tests.world import World


def room_state(html: str, code: str) -> str:
    found = re.search(rf'data-room="{re.escape(code)}" data-state="(\w+)"', html)
    assert found, f"room {code} is not on the page"
    return found.group(1)


def send(client: TestClient, probe, values: list[float], metric: str = "temperature") -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    readings = [
        reading(now - timedelta(seconds=10 * (len(values) - i)), v, metric) for i, v in enumerate(values)
    ]
    answer = client.post(
        "/api/v1/telemetry",
        content=encode(probe.message(readings, sent_at=now)),
        headers={"Authorization": f"Bearer {probe.token}"},
    )
    assert answer.status_code == 200, answer.text


def test_a_keeper_sees_its_warehouses_and_rooms_but_not_another_keepers(client: TestClient) -> None:
    sign_in_as(client, "keeper")
    page = client.get("/warehouses")
    assert page.status_code == 200
    assert 'data-warehouse="SH-YS"' in page.text
    assert 'data-warehouse="TJ-DJ"' in page.text
    assert 'data-warehouse="DL-BF"' not in page.text
    assert room_state(page.text, "YS-F18") == "silent"


def test_a_room_reading_inside_its_band_is_green_and_outside_it_red(
    client: TestClient, db: Transaction, world: World
) -> None:
    cold = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    warm = new_device(db.uow(), world.who("admin"), world.rooms["YS-F25"])
    send(client, cold, [-20.0, -20.1])
    send(client, warm, [-25.0, -12.5])
    sign_in_as(client, "supervisor")
    page = client.get("/warehouses").text
    assert room_state(page, "YS-F18") == "ok"
    assert room_state(page, "YS-F25") == "out"
    assert "-20.1 °C" in page


def test_a_faulty_probe_value_is_not_shown_as_the_rooms_temperature(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    send(client, probe, [-20.0, 85.0])  # 85.0 is a probe's power-on sentinel, not a warm room
    sign_in_as(client, "supervisor")
    page = client.get("/warehouses").text
    assert "85.0" not in page


def test_an_inspector_sees_only_the_rooms_of_the_virtual_warehouse_assigned_to_them(
    client: TestClient,
) -> None:
    sign_in_as(client, "inspector")
    page = client.get("/warehouses").text
    assert 'data-room="YS-F18"' in page
    assert 'data-room="YS-C04"' not in page
    assert 'data-room="DJ-F18"' not in page


def test_a_room_page_shows_its_devices_band_and_cold_chain(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    send(client, probe, [-19.5, -19.0])
    sign_in_as(client, "keeper")
    page = client.get(f"/rooms/{world.rooms['YS-F18']}")
    assert page.status_code == 200
    assert f'data-device="{probe.code}"' in page.text
    assert 'id="room-chart"' in page.text
    assert "Cold chain, last 24 hours" in page.text
    assert "/static/vendor/echarts/echarts.min.js" in page.text


def test_a_room_of_another_keeper_answers_404_as_a_page(client: TestClient, world: World) -> None:
    sign_in_as(client, "keeper")
    page = client.get(f"/rooms/{world.rooms['BF-F18']}", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert "BF-F18" not in page.text


def test_the_warehouse_pages_send_a_signed_out_visitor_to_sign_in_and_back(client: TestClient) -> None:
    answer = client.get("/warehouses", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=%2Fwarehouses"


def test_the_devices_page_puts_the_silent_device_first_and_links_its_room(
    client: TestClient, db: Transaction, world: World
) -> None:
    reporting = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    silent = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    send(client, reporting, [-20.0])
    sign_in_as(client, "keeper")
    page = client.get("/devices").text
    assert page.index(f'data-device="{silent.code}" data-online="no"') < page.index(
        f'data-device="{reporting.code}" data-online="yes"'
    )
    assert f'href="/rooms/{world.rooms["YS-F18"]}"' in page
