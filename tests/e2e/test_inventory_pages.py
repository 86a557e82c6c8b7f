"""The lot pages: the keeper records an inbound with its gate weigh ticket and weighs the lot on
the floor scale, from the page, refused in the API's words; others see only their lots."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.support import today
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


def received_lot(client: TestClient, world: World, batch: str) -> int:
    """A fresh lot of the keeper's, so that these tests change no lot another test relies on."""
    keeper = TestClient(client.app, headers={"Accept-Language": "en"})
    csrf = sign_in_as(keeper, "keeper")
    created = keeper.post("/lots", data=inbound_form(world, batch_number=batch), headers=htmx(csrf))
    assert created.status_code == 201, created.text
    return int(created.headers["HX-Redirect"].rsplit("/", 1)[1])


def test_the_keeper_records_an_inspection_and_a_disinfection_from_the_lot_page(
    client: TestClient, world: World
) -> None:
    lot_id = received_lot(client, world, "PAGE-QC-01")
    csrf = sign_in_as(client, "keeper")
    page = client.get(f"/lots/{lot_id}").text
    assert 'id="inspect"' in page
    assert 'id="disinfect"' in page
    assert 'id="seal"' not in page  # sealing is the supervisor's
    inspected = client.post(
        f"/lots/{lot_id}/inspect",
        data={
            "result": "passed",
            "agency": "CCIC",
            "report_no": "CCIC-2026-0042",
            "valid_until": (today() + timedelta(days=90)).isoformat(),
            "core_temperature_c": "−18.5",
        },
        headers=htmx(csrf),
    )
    assert inspected.status_code == 201, inspected.text
    assert inspected.headers["HX-Refresh"] == "true"
    assert client.get(f"/api/v1/lots/{lot_id}").json()["quality_status"] == "passed"
    disinfected = client.post(
        f"/lots/{lot_id}/disinfect",
        data={"certificate_no": "XS-2026-0007", "disinfectant": "过氧乙酸"},
        headers=htmx(csrf),
    )
    assert disinfected.status_code == 201, disinfected.text
    operations = client.get(f"/api/v1/lots/{lot_id}/operations").json()
    kinds = [op["kind"] for op in operations]
    assert "inspect" in kinds
    assert "disinfect" in kinds
    page = client.get(f"/lots/{lot_id}").text
    assert 'data-kind="inspect"' in page
    assert 'data-kind="disinfect"' in page


def test_an_inspection_is_refused_on_the_page_in_the_apis_words(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    lot_id = received_lot(client, world, "PAGE-QC-02")
    csrf = sign_in_as(client, "keeper")
    page = client.post(
        f"/lots/{lot_id}/inspect",
        data={"result": "passed", "agency": "CCIC", "core_temperature_c": "-80"},
        headers=htmx(csrf),
    )
    api = client.post(
        f"/api/v1/lots/{lot_id}/inspect",
        json={"result": "passed", "agency": "CCIC", "core_temperature_c": "-80"},
        headers=auth("keeper"),
    )
    assert page.status_code == api.status_code == 422
    assert "core_temperature_c" in page.text
    assert 'role="alert"' in page.text
    late = (today() - timedelta(days=1)).isoformat()
    page = client.post(
        f"/lots/{lot_id}/disinfect",
        data={"certificate_no": "XS-1", "valid_until": late},
        headers=htmx(csrf),
    )
    api = client.post(
        f"/api/v1/lots/{lot_id}/disinfect",
        json={"certificate_no": "XS-1", "valid_until": late},
        headers=auth("keeper"),
    )
    assert api.status_code == page.status_code
    assert api.status_code >= 400
    assert api.json()["detail"] in page.text


def test_the_supervisor_seals_and_unseals_a_lot_from_its_page(client: TestClient, world: World) -> None:
    lot_id = received_lot(client, world, "PAGE-SEAL-01")
    csrf = sign_in_as(client, "supervisor")
    page = client.get(f"/lots/{lot_id}").text
    assert 'id="seal"' in page
    assert 'id="unseal"' not in page
    assert 'id="disinfect"' not in page
    assert 'id="draft-receipt"' not in page
    sealed = client.post(
        f"/lots/{lot_id}/seal", data={"numbers": "PG-SEAL-0001, PG-SEAL-0002"}, headers=htmx(csrf)
    )
    assert sealed.status_code == 201, sealed.text
    assert client.get(f"/api/v1/lots/{lot_id}").json()["sealed"] is True
    page = client.get(f"/lots/{lot_id}").text
    assert 'data-seal="PG-SEAL-0002"' in page
    assert 'id="unseal"' in page
    refused = client.post(f"/lots/{lot_id}/unseal", data={"reason": ""}, headers=htmx(csrf))
    assert refused.status_code == 422
    assert "reason" in refused.text
    unsealed = client.post(f"/lots/{lot_id}/unseal", data={"reason": "出库前启封"}, headers=htmx(csrf))
    assert unsealed.status_code == 200, unsealed.text
    assert client.get(f"/api/v1/lots/{lot_id}").json()["sealed"] is False


def test_a_malformed_seal_number_is_refused_and_the_keeper_may_not_seal(
    client: TestClient, world: World
) -> None:
    lot_id = received_lot(client, world, "PAGE-SEAL-02")
    csrf = sign_in_as(client, "supervisor")
    refused = client.post(f"/lots/{lot_id}/seal", data={"numbers": "AB"}, headers=htmx(csrf))
    assert refused.status_code == 422
    assert "4-32 letters" in refused.text
    keeper_csrf = sign_in_as(client, "keeper")
    sealing = client.post(f"/lots/{lot_id}/seal", data={"numbers": "PG-SEAL-0009"}, headers=htmx(keeper_csrf))
    assert sealing.status_code == 403


def test_a_bank_sees_a_pledged_lot_but_is_offered_no_step_and_may_not_post_one(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    lot_id = world.lots["pledged"]
    csrf = sign_in_as(client, "bank")
    page = client.get(f"/lots/{lot_id}")
    assert page.status_code == 200
    for form in ('id="inspect"', 'id="disinfect"', 'id="seal"', 'id="unseal"', 'id="draft-receipt"'):
        assert form not in page.text
    body = {"result": "passed", "agency": "CCIC"}
    posted = client.post(f"/lots/{lot_id}/inspect", data=body, headers=htmx(csrf))
    api = client.post(f"/api/v1/lots/{lot_id}/inspect", json=body, headers=auth("bank"))
    assert posted.status_code == api.status_code == 403


def test_the_keeper_drafts_a_receipt_from_the_lot_page_and_lands_on_it(
    client: TestClient, world: World
) -> None:
    lot_id = received_lot(client, world, "PAGE-RCPT-01")
    csrf = sign_in_as(client, "keeper")
    assert 'id="draft-receipt"' in client.get(f"/lots/{lot_id}").text
    form = {
        "quantity_kg": "12,000.5",
        "cartons": "600",
        "storage_period_end": (today() + timedelta(days=180)).isoformat(),
        "storage_fee_note": "1.2 元/吨/天",
        "negotiable": "on",
    }
    refused = client.post(
        f"/lots/{lot_id}/receipts",
        data={**form, "insurer_org_id": str(world.orgs["insurer"])},
        headers=htmx(csrf),
    )
    assert refused.status_code == 422
    assert "insurance_until" in refused.text
    drafted = client.post(f"/lots/{lot_id}/receipts", data=form, headers=htmx(csrf))
    assert drafted.status_code == 201, drafted.text
    target = drafted.headers["HX-Redirect"]
    receipt = client.get(f"/api/v1{target}").json()
    assert receipt["lot_id"] == lot_id
    assert receipt["quantity_g"] == 12_000_500
    assert receipt["cartons"] == 600
    assert receipt["status"] == "draft"
    assert receipt["negotiable"] is True
    assert client.get(target).status_code == 200
