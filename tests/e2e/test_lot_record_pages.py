"""The lot page's records: document numbers that came after the goods, photos and documents with
their downloads, the supervisor's stocktake with its variance, and the keeper's outbound against an
approved release; each as the API takes it and refused in the API's words."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.e2e.test_inventory_pages import received_lot
from tests.pages import htmx, sign_in_as
from tests.support import tiny_png
from tests.world import World

Auth = Callable[[str], dict[str, str]]


def test_the_keeper_adds_a_customs_declaration_that_came_later(
    client: TestClient, world: World, auth: Auth
) -> None:
    lot_id = received_lot(client, world, "PAGE-DOC-01")
    csrf = sign_in_as(client, "keeper")
    page = client.get(f"/lots/{lot_id}").text
    assert 'id="documents"' in page
    assert 'name="customs_declaration_no"' in page
    refused = client.post(
        f"/lots/{lot_id}/documents", data={"customs_declaration_no": "12345"}, headers=htmx(csrf)
    )
    api = client.post(
        f"/api/v1/lots/{lot_id}/documents", json={"customs_declaration_no": "12345"}, headers=auth("keeper")
    )
    assert refused.status_code == api.status_code == 422
    assert "customs_declaration_no" in refused.text
    added = client.post(
        f"/lots/{lot_id}/documents",
        data={"customs_declaration_no": "220120261000999999", "quarantine_cert_no": "QC-77"},
        headers=htmx(csrf),
    )
    assert added.status_code == 200, added.text
    assert added.headers["HX-Refresh"] == "true"
    lot = client.get(f"/api/v1/lots/{lot_id}").json()
    assert (lot["customs_declaration_no"], lot["quarantine_cert_no"]) == ("220120261000999999", "QC-77")
    page = client.get(f"/lots/{lot_id}").text
    assert 'data-document="customs_declaration_no">220120261000999999<' in page
    assert 'name="customs_declaration_no"' not in page  # recorded numbers are never replaced


def test_the_keeper_uploads_a_photo_and_it_is_listed_with_its_download(
    client: TestClient, world: World
) -> None:
    lot_id = received_lot(client, world, "PAGE-ATT-01")
    csrf = sign_in_as(client, "keeper")
    assert 'id="attach"' in client.get(f"/lots/{lot_id}").text
    uploaded = client.post(
        f"/lots/{lot_id}/attachments",
        data={"purpose": "certificate"},
        files={"file": ("检疫证.png", tiny_png(711), "image/png")},
        headers=htmx(csrf),
    )
    assert uploaded.status_code == 201, uploaded.text
    [attachment] = client.get(f"/api/v1/lots/{lot_id}/attachments").json()
    assert (attachment["purpose"], attachment["original_name"]) == ("certificate", "检疫证.png")
    page = client.get(f"/lots/{lot_id}").text
    link = f'href="/api/v1/attachments/{attachment["sha256"]}">检疫证.png<'
    assert link in page
    assert client.get(f"/api/v1/attachments/{attachment['sha256']}").content == tiny_png(711)


def test_a_file_that_is_not_a_photo_or_pdf_is_refused_as_the_api_refuses_it(
    client: TestClient, world: World
) -> None:
    lot_id = received_lot(client, world, "PAGE-ATT-02")
    csrf = sign_in_as(client, "keeper")
    refused = client.post(
        f"/lots/{lot_id}/attachments",
        files={"file": ("photo.png", b"#!/bin/sh\nrm -rf /\n", "image/png")},
        headers=htmx(csrf),
    )
    assert refused.status_code == 415
    assert 'role="alert"' in refused.text
    wrong_kind = client.post(
        f"/lots/{lot_id}/attachments",
        data={"purpose": "selfie"},
        files={"file": ("photo.png", tiny_png(712), "image/png")},
        headers=htmx(csrf),
    )
    assert wrong_kind.status_code == 422
    assert "purpose" in wrong_kind.text
    assert client.get(f"/api/v1/lots/{lot_id}/attachments").json() == []


def test_a_bank_is_offered_no_record_and_may_not_upload(client: TestClient, world: World, auth: Auth) -> None:
    lot_id = world.lots["pledged"]
    csrf = sign_in_as(client, "bank")
    page = client.get(f"/lots/{lot_id}").text
    assert 'id="attachments"' in page  # the bank sees the photos of its collateral
    for form in ('id="attach"', 'id="documents"', 'id="stocktake"', 'id="outbound"'):
        assert form not in page
    posted = client.post(
        f"/lots/{lot_id}/attachments",
        files={"file": ("photo.png", tiny_png(713), "image/png")},
        headers=htmx(csrf),
    )
    assert posted.status_code == 403


def test_the_supervisor_counts_a_lot_and_the_page_shows_the_variance(
    client: TestClient, world: World, auth: Auth
) -> None:
    lot_id = world.lots["free"]  # 10 t weighed in, 500 cartons
    csrf = sign_in_as(client, "supervisor")
    assert 'id="stocktake"' in client.get(f"/lots/{lot_id}").text
    refused = client.post(
        f"/lots/{lot_id}/stocktake", data={"counted_kg": "9,990", "counted_cartons": "-1"}, headers=htmx(csrf)
    )
    api = client.post(
        f"/api/v1/lots/{lot_id}/stocktake",
        json={"counted_g": 9_990_000, "counted_cartons": -1},
        headers=auth("supervisor"),
    )
    assert refused.status_code == api.status_code == 422
    assert "counted_cartons" in refused.text
    counted = client.post(
        f"/lots/{lot_id}/stocktake",
        data={"counted_kg": "9,950", "counted_cartons": "500"},
        headers=htmx(csrf),
    )
    assert counted.status_code == 201, counted.text
    operations = client.get(f"/api/v1/lots/{lot_id}/operations").json()
    stocktake = [op for op in operations if op["kind"] == "stocktake"][-1]
    assert (stocktake["counted_g"], stocktake["variance_bp"]) == (9_950_000, -50)
    page = client.get(f"/lots/{lot_id}").text
    row = re.search(rf'data-operation="{stocktake["id"]}" data-within="(\w+)">(.*?)</tr>', page, re.S)
    assert row, page
    assert row.group(1) == ("yes" if stocktake["within_tolerance"] else "no")
    assert "-0.50%" in row.group(2)


def test_the_keeper_is_not_offered_a_stocktake_and_may_not_post_one(client: TestClient, world: World) -> None:
    lot_id = world.lots["free"]
    csrf = sign_in_as(client, "keeper")
    assert 'id="stocktake"' not in client.get(f"/lots/{lot_id}").text
    counted = client.post(
        f"/lots/{lot_id}/stocktake",
        data={"counted_kg": "10,000", "counted_cartons": "500"},
        headers=htmx(csrf),
    )
    assert counted.status_code == 403


def test_the_keeper_lets_goods_out_against_an_approved_release_from_the_lot_page(
    client: TestClient, world: World, auth: Auth
) -> None:
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    approved = client.post(f"/api/v1/releases/{release_id}/approve", json={}, headers=auth("bank"))
    assert approved.status_code == 200, approved.text
    code = approved.json()["code"]
    unsealed = client.post(
        f"/api/v1/lots/{lot_id}/unseal", json={"reason": "按放货指令出库"}, headers=auth("supervisor")
    )
    assert unsealed.status_code == 200, unsealed.text
    csrf = sign_in_as(client, "keeper")
    page = client.get(f"/lots/{lot_id}").text
    assert 'id="outbound"' in page
    assert f'<option value="{release_id}">' in page
    form = {
        "release_id": str(release_id),
        "release_code": code,
        "gross_kg": "6,000",
        "tare_kg": "1,010",
        "weigh_ticket_no": "WT-OUT-PAGE",
        "cartons": "250",
        "vehicle_plate": "沪A12345",
        "collector_id_no": "310101199001011234",
    }
    too_heavy = client.post(
        f"/lots/{lot_id}/outbound", data={**form, "gross_kg": "7,000"}, headers=htmx(csrf)
    )
    assert too_heavy.status_code == 409
    assert "more than the" in too_heavy.text
    done = client.post(f"/lots/{lot_id}/outbound", data=form, headers=htmx(csrf))
    assert done.status_code == 201, done.text
    lot = client.get(f"/api/v1/lots/{lot_id}").json()
    assert (lot["verified_net_weight_g"], lot["cartons"]) == (20_000_000 - 4_990_000, 750)
    assert client.get(f"/api/v1/releases/{release_id}", headers=auth("keeper")).json()["status"] == "executed"
    page = client.get(f"/lots/{lot_id}").text
    assert 'data-kind="outbound"' in page
    assert 'id="outbound"' not in page  # nothing approved is left to let out


def test_a_borrower_is_not_offered_the_outbound_and_may_not_post_one(
    client: TestClient, world: World, auth: Auth
) -> None:
    lot_id, release_id = world.lots["pledged_with_release"], world.releases["requested"]
    code = client.post(f"/api/v1/releases/{release_id}/approve", json={}, headers=auth("bank")).json()["code"]
    csrf = sign_in_as(client, "borrower")
    assert 'id="outbound"' not in client.get(f"/lots/{lot_id}").text
    posted = client.post(
        f"/lots/{lot_id}/outbound",
        data={
            "release_id": str(release_id),
            "release_code": code,
            "gross_kg": "6,000",
            "tare_kg": "1,010",
            "weigh_ticket_no": "WT-OUT-PAGE",
            "cartons": "250",
            "vehicle_plate": "沪A12345",
            "collector_id_no": "310101199001011234",
        },
        headers=htmx(csrf),
    )
    assert posted.status_code == 403
