"""A room's seals page: the supervisor seals a room's doors (封仓) and removes the seals, from the
page, as the API does it; every lot inside is then sealed. Others see the seals but may not touch
them, and another supervisor's room is not reached."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.world import World

Auth = Callable[[str], dict[str, str]]


def test_the_supervisor_seals_a_room_and_removes_the_seals_from_its_page(
    client: TestClient, world: World, auth: Auth
) -> None:
    room_id, lot_id = world.rooms["YS-F25"], world.lots["draft"]  # a lot in the room, sealed on its own
    lot_seal = client.get(f"/api/v1/seals?lot_id={lot_id}&active=true", headers=auth("supervisor")).json()
    unsealed = client.post(
        f"/api/v1/lots/{lot_id}/unseal", json={"reason": "改为封仓"}, headers=auth("supervisor")
    )
    assert unsealed.status_code == 200, unsealed.text
    assert lot_seal
    csrf = sign_in_as(client, "supervisor")
    page = client.get(f"/rooms/{room_id}/seals").text
    assert 'id="room-sealed" data-sealed="false"' in page
    assert f'href="/lots/{lot_id}"' in page  # the stock the seal will keep closed
    assert 'id="unseal-room"' not in page
    malformed = client.post(f"/rooms/{room_id}/seal", data={"numbers": "AB"}, headers=htmx(csrf))
    api = client.post(f"/api/v1/rooms/{room_id}/seal", json={"numbers": ["AB"]}, headers=auth("supervisor"))
    assert malformed.status_code == api.status_code == 422
    assert "4-32 letters" in malformed.text
    sealed = client.post(
        f"/rooms/{room_id}/seal", data={"numbers": "RM-SEAL-0001\nRM-SEAL-0002"}, headers=htmx(csrf)
    )
    assert sealed.status_code == 201, sealed.text
    assert sealed.headers["HX-Refresh"] == "true"
    active = client.get(f"/api/v1/seals?room_id={room_id}&active=true").json()
    assert sorted(seal["number"] for seal in active) == ["RM-SEAL-0001", "RM-SEAL-0002"]
    assert client.get(f"/api/v1/lots/{lot_id}").json()["sealed"] is True
    page = client.get(f"/rooms/{room_id}/seals").text
    assert 'data-seal="RM-SEAL-0002"' in page
    assert 'id="unseal-room"' in page
    reasonless = client.post(f"/rooms/{room_id}/unseal", data={"reason": ""}, headers=htmx(csrf))
    assert reasonless.status_code == 422
    assert "reason" in reasonless.text
    removed = client.post(f"/rooms/{room_id}/unseal", data={"reason": "盘点后启封"}, headers=htmx(csrf))
    assert removed.status_code == 200, removed.text
    assert client.get(f"/api/v1/seals?room_id={room_id}&active=true").json() == []
    assert client.get(f"/api/v1/lots/{lot_id}").json()["sealed"] is False
    assert 'id="removed-seals"' in client.get(f"/rooms/{room_id}/seals").text


def test_the_lot_page_links_to_its_rooms_seals(client: TestClient, world: World) -> None:
    sign_in_as(client, "keeper")
    page = client.get(f"/lots/{world.lots['draft']}").text
    assert f'href="/rooms/{world.rooms["YS-F25"]}/seals" id="room-seals-link"' in page


def test_the_keeper_sees_a_rooms_seals_but_is_offered_no_seal_and_may_not_post_one(
    client: TestClient, world: World
) -> None:
    room_id = world.rooms["YS-F25"]
    csrf = sign_in_as(client, "keeper")
    page = client.get(f"/rooms/{room_id}/seals")
    assert page.status_code == 200
    assert 'id="seal-room"' not in page.text
    sealing = client.post(f"/rooms/{room_id}/seal", data={"numbers": "RM-SEAL-0009"}, headers=htmx(csrf))
    assert sealing.status_code == 403


def test_another_supervisors_room_answers_404(client: TestClient, world: World) -> None:
    room_id = world.rooms["BF-F18"]
    csrf = sign_in_as(client, "supervisor")
    assert client.get(f"/rooms/{room_id}/seals", headers={"Accept": "text/html"}).status_code == 404
    sealing = client.post(f"/rooms/{room_id}/seal", data={"numbers": "RM-SEAL-0010"}, headers=htmx(csrf))
    assert sealing.status_code == 404
