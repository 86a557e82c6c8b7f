"""The phone app's field journeys beyond work orders: a stocktake per lot, the patrols, and a release
executed at the dock. Each goes through the same service as the JSON API, only within the viewer's
warehouses, refuses what the API refuses in its words, and needs the session's security token."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from coldpledge.alerts import workorders
from coldpledge.alerts.lifecycle import Severity, WorkOrderType
from coldpledge.alerts.schemas import WorkOrderCreateIn
from tests.alerting import raise_alert, work_order_of
from tests.pages import htmx, sign_in_as
from tests.support import ok, tiny_png
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]

# The world's requested release: 5 t of the 20 t pledged beef, to this truck and collector.
PLATE, COLLECTOR_ID = "沪A12345", "310101199001011234"


def _lot(client: TestClient, auth: Auth, lot_id: int) -> dict[str, Any]:
    found: dict[str, Any] = ok(client.get(f"/api/v1/lots/{lot_id}", headers=auth("supervisor")))
    return found


def _stocktakes(client: TestClient, auth: Auth, lot_id: int) -> list[dict[str, Any]]:
    operations = ok(client.get(f"/api/v1/lots/{lot_id}/operations", headers=auth("supervisor")))
    return [op for op in operations if op["kind"] == "stocktake"]


def _kg(grams: int) -> str:
    return f"{grams / 1000:.3f}"


# --- stocktake -------------------------------------------------------------------------------------


def test_the_inspector_picks_a_room_it_supervises_and_counts_a_lot(
    world: World, client: TestClient, auth: Auth
) -> None:
    lot_id, room_id = world.lots["free"], world.rooms["YS-F18"]
    book = _lot(client, auth, lot_id)
    before = len(_stocktakes(client, auth, lot_id))
    csrf = sign_in_as(client, "inspector")

    rooms = client.get("/m/stocktake")
    page = client.get(f"/m/stocktake?room_id={room_id}")

    assert rooms.status_code == 200
    options = set(re.findall(r'<option value="(\d+)"', rooms.text))
    assert {str(world.rooms["YS-F18"]), str(world.rooms["YS-F25"])} <= options
    assert str(world.rooms["DJ-F18"]) not in options  # Dongjiang: not the inspector's
    assert page.status_code == 200
    assert f'action="/m/lots/{lot_id}/stocktake"' in page.text
    assert f'data-book-g="{book["verified_net_weight_g"]}"' in page.text
    assert f'data-book-cartons="{book["cartons"]}"' in page.text
    assert 'data-tolerance-bp="50"' in page.text

    counted_g = book["verified_net_weight_g"] - 12_500
    answer = client.post(
        f"/m/lots/{lot_id}/stocktake",
        data={"counted_cartons": str(book["cartons"] - 2), "counted_kg": _kg(counted_g), "note": "2 箱破损"},
        headers=htmx(csrf),
    )

    assert answer.status_code == 200, answer.text
    assert answer.text.lstrip().startswith(f'<section id="lot-{lot_id}"')
    assert 'data-within="no"' in answer.text  # two cartons short: beyond tolerance
    assert "-2 cartons" in answer.text
    assert "-12.500 kg" in answer.text
    counts = _stocktakes(client, auth, lot_id)
    assert len(counts) == before + 1
    assert (counts[-1]["counted_g"], counts[-1]["counted_cartons"], counts[-1]["note"]) == (
        counted_g,
        book["cartons"] - 2,
        "2 箱破损",
    )
    assert counts[-1]["expected_g"] == book["verified_net_weight_g"]


def test_a_room_or_lot_in_another_warehouse_is_not_found(
    world: World, client: TestClient, auth: Auth
) -> None:
    elsewhere = world.lots["pending"]  # Dongjiang
    before = len(_stocktakes(client, auth, elsewhere))
    csrf = sign_in_as(client, "inspector")

    room = client.get(f"/m/stocktake?room_id={world.rooms['DJ-F18']}")
    count = client.post(
        f"/m/lots/{elsewhere}/stocktake",
        data={"counted_cartons": "1", "counted_kg": "1000"},
        headers=htmx(csrf),
    )

    assert (room.status_code, count.status_code) == (404, 404)
    assert len(_stocktakes(client, auth, elsewhere)) == before


def test_a_count_refused_reads_as_the_apis_own_message(world: World, client: TestClient, auth: Auth) -> None:
    lot_id = world.lots["free"]
    csrf = sign_in_as(client, "inspector")

    negative = client.post(
        f"/m/lots/{lot_id}/stocktake", data={"counted_cartons": "-1", "counted_kg": "10"}, headers=htmx(csrf)
    )
    api = client.post(
        f"/api/v1/lots/{lot_id}/stocktake",
        json={"counted_cartons": -1, "counted_g": 10_000},
        headers=auth("inspector"),
    )
    not_a_weight = client.post(
        f"/m/lots/{lot_id}/stocktake", data={"counted_cartons": "3", "counted_kg": "ten"}, headers=htmx(csrf)
    )

    assert (negative.status_code, api.status_code) == (422, 422)
    assert api.json()["detail"] in negative.text
    assert api.json()["errors"][0]["message"] in negative.text
    assert 'role="alert"' in negative.text
    assert not_a_weight.status_code == 422
    assert "Enter a weight in kilograms" in not_a_weight.text


def test_a_role_that_does_not_count_stock_is_refused_as_by_the_api(world: World, client: TestClient) -> None:
    csrf = sign_in_as(client, "keeper")

    refused = client.post(
        f"/m/lots/{world.lots['free']}/stocktake",
        data={"counted_cartons": "1", "counted_kg": "1"},
        headers=htmx(csrf),
    )

    assert refused.status_code == 403


def test_a_count_without_the_security_token_is_refused(world: World, client: TestClient, auth: Auth) -> None:
    lot_id = world.lots["free"]
    before = len(_stocktakes(client, auth, lot_id))
    sign_in_as(client, "inspector")

    refused = client.post(
        f"/m/lots/{lot_id}/stocktake",
        data={"counted_cartons": "1", "counted_kg": "1"},
        headers={"HX-Request": "true"},
    )

    assert refused.status_code == 403
    assert len(_stocktakes(client, auth, lot_id)) == before


# --- patrols ---------------------------------------------------------------------------------------


def test_the_patrol_page_lists_the_inspectors_patrols_and_their_page_completes_them(
    db: TestDB, world: World, client: TestClient
) -> None:
    patrol = workorders.create(
        db.uow(),
        world.who("supervisor"),
        WorkOrderCreateIn(
            kind=WorkOrderType.PATROL,
            severity=Severity.MINOR,
            title="夜间巡库",
            room_id=world.rooms["YS-F18"],
        ),
    ).id
    alarm = work_order_of(db.session, raise_alert(db.uow, world.rooms["YS-F18"], severity="major"))
    csrf = sign_in_as(client, "inspector")

    page = client.get("/m/patrol")

    assert page.status_code == 200
    listed = [int(found) for found in re.findall(r'data-order-id="(\d+)"', page.text)]
    assert patrol in listed
    assert alarm not in listed
    assert 'href="/m/patrol"' in client.get("/m/").text
    # The patrol's own page checks in with GPS and takes the photo.
    url = f"/m/work-orders/{patrol}"
    assert f'action="{url}/check-in"' in client.get(url).text
    data = {"latitude_e6": "30626000", "longitude_e6": "122066000", "accuracy_m": "8"}
    assert client.post(f"{url}/check-in", data=data, headers=htmx(csrf)).status_code == 200
    photo = client.post(
        f"{url}/comment",
        data={"text": "巡库正常"},
        files={"photo": ("room.png", tiny_png(5), "image/png")},
        headers=htmx(csrf),
    )
    assert photo.status_code == 200
    assert f"/api/v1/work-orders/{patrol}/attachments/" in photo.text


# --- releases at the dock --------------------------------------------------------------------------


def _approved(client: TestClient, auth: Auth, world: World) -> tuple[int, int, str]:
    """The world's requested release, approved by the bank, its lot unsealed by the supervisor."""
    release_id, lot_id = world.releases["requested"], world.lots["pledged_with_release"]
    code: str = ok(client.post(f"/api/v1/releases/{release_id}/approve", headers=auth("bank"), json={}))[
        "code"
    ]
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/unseal", headers=auth("supervisor"), json={"reason": "按放货指令出库"}
        )
    )
    return release_id, lot_id, code


def _weighing(code: str, **changes: str) -> dict[str, str]:
    return {
        "release_code": code,
        "gross_kg": "5,990",
        "tare_kg": "1,010",
        "weigh_ticket_no": "WT-DOCK-1",
        "cartons": "250",
        "vehicle_plate": PLATE,
        "collector_id_no": COLLECTOR_ID,
        "note": "核验车牌与身份证后出库",
        **changes,
    }


def test_the_keeper_looks_up_a_release_weighs_it_out_and_the_api_shows_it_executed(
    world: World, client: TestClient, auth: Auth
) -> None:
    release_id, lot_id, code = _approved(client, auth, world)
    before = _lot(client, auth, lot_id)
    csrf = sign_in_as(client, "keeper")

    assert 'href="/m/releases/execute"' in client.get("/m/").text
    page = client.get(f"/m/releases/execute?release_id={release_id}")
    fragment = client.get(f"/m/releases/execute?release_id={release_id}", headers={"HX-Request": "true"})

    assert page.status_code == 200
    assert 'src="/static/vendor/jsqr/jsQR.js"' in page.text
    assert f'action="/m/releases/{release_id}/execute"' in page.text
    assert "5,000.000 kg" in page.text  # what the instruction allows
    assert fragment.text.lstrip().startswith('<section id="dock"')
    assert "<html" not in fragment.text
    assert code not in page.text  # the code comes from the QR code or the keeper, never the server

    done = client.post(
        f"/m/releases/{release_id}/execute",
        data=_weighing(code),
        files={"photo": ("truck.png", tiny_png(9), "image/png")},
        headers=htmx(csrf),
    )

    assert done.status_code == 200, done.text
    assert 'data-status="executed"' in done.text
    assert "4,980.000 kg" in done.text
    release = ok(client.get(f"/api/v1/releases/{release_id}", headers=auth("keeper")))
    assert (release["status"], release["executed_net_g"]) == ("executed", 4_980_000)
    after = _lot(client, auth, lot_id)
    assert after["verified_net_weight_g"] == before["verified_net_weight_g"] - 4_980_000
    operations = ok(client.get(f"/api/v1/lots/{lot_id}/operations", headers=auth("keeper")))
    [outbound] = [op for op in operations if op["kind"] == "outbound"]
    assert (outbound["weigh_ticket_no"], outbound["cartons"], outbound["release_id"]) == (
        "WT-DOCK-1",
        250,
        release_id,
    )
    photos = ok(client.get(f"/api/v1/lots/{lot_id}/attachments", headers=auth("keeper")))
    assert [p["purpose"] for p in photos if p["operation_id"] == outbound["id"]] == ["photo"]


def test_a_release_of_another_keepers_warehouse_is_not_found(
    world: World, client: TestClient, auth: Auth
) -> None:
    release_id, _, code = _approved(client, auth, world)
    csrf = sign_in_as(client, "keeper2")

    page = client.get(f"/m/releases/execute?release_id={release_id}")
    refused = client.post(f"/m/releases/{release_id}/execute", data=_weighing(code), headers=htmx(csrf))

    assert (page.status_code, refused.status_code) == (404, 404)
    assert ok(client.get(f"/api/v1/releases/{release_id}", headers=auth("keeper")))["status"] == "approved"


def test_the_dock_checks_read_as_the_apis_own_messages(world: World, client: TestClient, auth: Auth) -> None:
    release_id, lot_id, code = _approved(client, auth, world)
    csrf = sign_in_as(client, "keeper")
    url = f"/m/releases/{release_id}/execute"

    def api(**changes: Any) -> Any:
        body = {
            "release_id": release_id,
            "release_code": code,
            "gross_g": 5_990_000,
            "tare_g": 1_010_000,
            "weigh_ticket_no": "WT-DOCK-1",
            "cartons": 250,
            "vehicle_plate": PLATE,
            "collector_id_no": COLLECTOR_ID,
            **changes,
        }
        return client.post(f"/api/v1/lots/{lot_id}/outbound", json=body, headers=auth("keeper"))

    tare_over = client.post(url, data=_weighing(code, tare_kg="6000"), headers=htmx(csrf))
    api_tare_over = api(tare_g=6_000_000)
    plate = client.post(url, data=_weighing(code, vehicle_plate="沪B99999"), headers=htmx(csrf))
    api_plate = api(vehicle_plate="沪B99999")
    too_much = client.post(url, data=_weighing(code, gross_kg="7000"), headers=htmx(csrf))
    api_too_much = api(gross_g=7_000_000)

    assert (tare_over.status_code, api_tare_over.status_code) == (422, 422)
    assert api_tare_over.json()["detail"] in tare_over.text
    assert api_tare_over.json()["errors"][0]["message"] in tare_over.text
    assert (plate.status_code, api_plate.status_code) == (409, 409)
    assert api_plate.json()["detail"] in plate.text
    assert (too_much.status_code, api_too_much.status_code) == (409, 409)
    assert api_too_much.json()["detail"] in too_much.text
    wrong = client.post(url, data=_weighing("WRONG12345"), headers=htmx(csrf))
    assert wrong.status_code == 403
    assert "The release code is wrong." in wrong.text
    assert ok(client.get(f"/api/v1/releases/{release_id}", headers=auth("keeper")))["status"] == "approved"


def test_a_release_without_the_security_token_is_refused(
    world: World, client: TestClient, auth: Auth
) -> None:
    release_id, _, code = _approved(client, auth, world)
    sign_in_as(client, "keeper")

    refused = client.post(
        f"/m/releases/{release_id}/execute", data=_weighing(code), headers={"HX-Request": "true"}
    )

    assert refused.status_code == 403
    assert ok(client.get(f"/api/v1/releases/{release_id}", headers=auth("keeper")))["status"] == "approved"


def test_the_field_menu_offers_each_role_its_own_journeys(client: TestClient) -> None:
    sign_in_as(client, "inspector")
    inspector = client.get("/m/").text
    sign_in_as(client, "keeper")
    keeper = client.get("/m/").text

    assert 'href="/m/stocktake"' in inspector
    assert 'href="/m/patrol"' in inspector
    assert 'href="/m/releases/execute"' not in inspector
    assert 'href="/m/releases/execute"' in keeper
    assert 'href="/m/stocktake"' not in keeper
