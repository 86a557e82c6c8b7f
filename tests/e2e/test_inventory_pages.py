"""The lot pages: the keeper records an inbound with its gate weigh ticket and weighs the lot on
the floor scale, from the page, refused in the API's words; others see only their lots."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.world import World


def inbound_form(world: World, **changes: str) -> dict[str, str]:
    form = {
        "owner_org_id": str(world.orgs["borrower"]),
        "room_id": str(world.rooms["YS-F18"]),
        "commodity_id": str(world.commodities["PORK-FZ"]),
        "spec": "猪后腿肉 冻 20kg/箱",
        "origin_country": "es",
        "batch_number": "PAGE-0001",
        "declared_cartons": "1200",
        "declared_net_kg": "24,000",
        "vehicle_plate": "沪A·12345",
        "truck_gross_kg": "38,450.5",
        "truck_tare_kg": "14,210",
        "truck_ticket_no": "GATE-20261130-07",
    }
    form.update(changes)
    return form


def test_the_keeper_records_an_inbound_with_its_gate_ticket_and_lands_on_the_lot(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "keeper")
    assert client.get("/lots/new").status_code == 200
    answer = client.post("/lots", data=inbound_form(world), headers=htmx(csrf))
    assert answer.status_code == 201, answer.text
    target = answer.headers["HX-Redirect"]
    lot_id = int(target.rsplit("/", 1)[1])
    lot = client.get(f"/api/v1/lots/{lot_id}").json()
    assert lot["declared_net_weight_g"] == 24_000_000
    assert lot["origin_country"] == "ES"
    operations = client.get(f"/api/v1/lots/{lot_id}/operations").json()
    assert operations[0]["weigh_ticket_no"] == "GATE-20261130-07"
    assert operations[0]["net_g"] == 38_450_500 - 14_210_000
    page = client.get(target).text
    assert "GATE-20261130-07" in page
    assert "24,240.5" in page


def test_then_weighs_it_on_the_floor_scale_and_the_verified_stock_follows(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "keeper")
    created = client.post("/lots", data=inbound_form(world, batch_number="PAGE-0002"), headers=htmx(csrf))
    lot_id = int(created.headers["HX-Redirect"].rsplit("/", 1)[1])
    weighed = client.post(
        f"/lots/{lot_id}/weigh",
        data={"gross_kg": "24,880", "tare_kg": "900.5", "weigh_ticket_no": "FS-0042", "cartons": "1200"},
        headers=htmx(csrf),
    )
    assert weighed.status_code == 201, weighed.text
    assert weighed.headers["HX-Refresh"] == "true"
    assert client.get(f"/api/v1/lots/{lot_id}").json()["verified_net_weight_g"] == 23_979_500
    assert re.search(r'id="verified-net">23,979.5<', client.get(f"/lots/{lot_id}").text)


def test_a_tare_above_the_gross_is_refused_on_the_page_naming_the_field(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "keeper")
    answer = client.post("/lots", data=inbound_form(world, truck_tare_kg="40,000"), headers=htmx(csrf))
    assert answer.status_code == 422
    assert "tare_g must be less than gross_g" in answer.text


def test_half_a_gate_ticket_is_refused_rather_than_dropped(client: TestClient, world: World) -> None:
    csrf = sign_in_as(client, "keeper")
    answer = client.post("/lots", data=inbound_form(world, truck_tare_kg=""), headers=htmx(csrf))
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text


def test_a_weight_finer_than_a_gram_is_refused_not_rounded(client: TestClient, world: World) -> None:
    csrf = sign_in_as(client, "keeper")
    answer = client.post("/lots", data=inbound_form(world, declared_net_kg="24000.0005"), headers=htmx(csrf))
    assert answer.status_code == 422


def test_a_bank_may_look_at_lots_but_is_not_offered_the_inbound_and_may_not_post_one(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "bank")
    assert "/lots/new" not in client.get("/lots").text
    answer = client.post("/lots", data=inbound_form(world), headers=htmx(csrf))
    assert answer.status_code == 403


def test_a_lot_in_another_keepers_warehouse_is_not_listed_and_answers_404(
    client: TestClient, world: World
) -> None:
    yangshan_lot = world.lots["pledged_with_release"]  # in YS-F18, kept by Kate, not by Ken
    sign_in_as(client, "keeper")
    assert client.get(f"/lots/{yangshan_lot}").status_code == 200
    other = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(other, "keeper2")
    assert f'href="/lots/{yangshan_lot}"' not in other.get("/lots").text
    assert other.get(f"/lots/{yangshan_lot}", headers={"Accept": "text/html"}).status_code == 404
