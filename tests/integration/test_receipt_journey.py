"""The whole life of a receipt through the HTTP API, as the parties would live it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.support import in_days, ok, tiny_png, today
from tests.world import World

Auth = Callable[[str], dict[str, str]]


def test_goods_go_from_truck_to_pledge_to_partial_release_to_delivery(
    client: TestClient, auth: Auth, world: World
) -> None:
    keeper, supervisor, borrower, bank = auth("keeper"), auth("supervisor"), auth("borrower"), auth("bank")

    lot = ok(
        client.post(
            "/api/v1/lots",
            headers=keeper,
            json={
                "owner_org_id": world.orgs["borrower"],
                "room_id": world.rooms["YS-F18"],
                "commodity_id": world.commodities["PORK-FZ"],
                "spec": "猪后腿 20kg/箱",
                "origin_country": "ES",
                "plant_number": "ES10.07771/CS",
                "batch_number": "2026-11-A",
                "declared_cartons": 1000,
                "declared_net_weight_g": 20_000_000,
                "customs_declaration_no": "220120261000999999",
                "quarantine_cert_no": "ES-QC-1",
                "production_date": str(today() - timedelta(days=30)),
                "expiry_date": str(today() + timedelta(days=700)),
            },
        ),
        201,
    )
    lot_id = lot["id"]
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/weigh",
            headers=keeper,
            json={"gross_g": 21_980_000, "tare_g": 2_000_000, "weigh_ticket_no": "WT-9001", "cartons": 1000},
        ),
        201,
    )
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/inspect",
            headers=keeper,
            json={"result": "passed", "agency": "CCIC", "report_no": "CCIC-77"},
        ),
        201,
    )
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/attachments",
            headers=keeper,
            files={"file": ("pallets.png", tiny_png(7), "image/png")},
            data={"purpose": "photo"},
        ),
        201,
    )

    receipt = ok(
        client.post(
            "/api/v1/receipts",
            headers=keeper,
            json={
                "lot_id": lot_id,
                "quantity_g": 19_980_000,
                "cartons": 1000,
                "storage_period_end": str(today() + timedelta(days=180)),
            },
        ),
        201,
    )
    rid = receipt["id"]
    ok(client.post(f"/api/v1/receipts/{rid}/submit", headers=keeper, json={}))

    not_sealed = client.post(f"/api/v1/receipts/{rid}/issue", headers=keeper, json={})
    assert not_sealed.status_code == 409
    assert not_sealed.json()["missing"] == ["not_sealed"]

    ok(client.post(f"/api/v1/lots/{lot_id}/seal", headers=supervisor, json={"numbers": ["JN-000001"]}), 201)
    assert ok(client.post(f"/api/v1/receipts/{rid}/issue", headers=keeper, json={}))["status"] == "issued"

    ok(
        client.post(
            f"/api/v1/receipts/{rid}/request-pledge",
            headers=borrower,
            json={"pledgee_org_id": world.orgs["bank"]},
        )
    )
    pledged = ok(
        client.post(
            f"/api/v1/receipts/{rid}/accept-pledge", headers=bank, json={"registration_no": "ZDW-0001-2026"}
        )
    )
    assert pledged["status"] == "pledged"
    assert pledged["pledge"]["registration_no"] == "ZDW-0001-2026"

    release = ok(
        client.post(
            f"/api/v1/receipts/{rid}/request-release",
            headers=borrower,
            json={
                "quantity_g": 5_000_000,
                "cartons": 250,
                "vehicle_plate": "沪B88888",
                "collector_name": "李师傅",
                "collector_id_no": "310101198001015678",
                "valid_until": in_days(2).isoformat(),
            },
        ),
        201,
    )
    assert release["code"] is None
    approved = ok(client.post(f"/api/v1/releases/{release['id']}/approve", headers=bank, json={}))
    code = approved["code"]
    assert code

    ok(client.post(f"/api/v1/lots/{lot_id}/unseal", headers=supervisor, json={"reason": "按放货指令出库"}))
    wrong_plate = client.post(
        f"/api/v1/lots/{lot_id}/outbound",
        headers=keeper,
        json={
            "release_id": release["id"],
            "release_code": code,
            "gross_g": 6_000_000,
            "tare_g": 1_010_000,
            "weigh_ticket_no": "WT-OUT-1",
            "cartons": 250,
            "vehicle_plate": "沪B00000",
            "collector_id_no": "310101198001015678",
        },
    )
    assert wrong_plate.status_code == 409
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/outbound",
            headers=keeper,
            json={
                "release_id": release["id"],
                "release_code": code,
                "gross_g": 6_000_000,
                "tare_g": 1_010_000,
                "weigh_ticket_no": "WT-OUT-1",
                "cartons": 250,
                "vehicle_plate": "沪B88888",
                "collector_id_no": "310101198001015678",
            },
        ),
        201,
    )

    after = ok(client.get(f"/api/v1/receipts/{rid}", headers=borrower))
    assert after["status"] == "pledged"
    assert after["quantity_g"] == 19_980_000 - 4_990_000
    assert after["notations"][-1]["kind"] == "partial_release"
    lot_after = ok(client.get(f"/api/v1/lots/{lot_id}", headers=keeper))
    assert lot_after["verified_net_weight_g"] == 19_980_000 - 4_990_000

    ok(client.post(f"/api/v1/receipts/{rid}/discharge", headers=bank, json={}))
    delivery = ok(
        client.post(
            f"/api/v1/receipts/{rid}/request-delivery",
            headers=borrower,
            json={
                "vehicle_plate": "沪C12345",
                "collector_name": "张师傅",
                "collector_id_no": "31010119850101123X",
                "valid_until": in_days(1).isoformat(),
            },
        ),
        201,
    )
    ok(
        client.post(
            f"/api/v1/lots/{lot_id}/outbound",
            headers=keeper,
            json={
                "release_id": delivery["id"],
                "release_code": delivery["code"],
                "gross_g": 16_000_000,
                "tare_g": 1_010_000,
                "weigh_ticket_no": "WT-OUT-2",
                "cartons": 750,
                "vehicle_plate": "沪C12345",
                "collector_id_no": "31010119850101123x",
            },
        ),
        201,
    )
    final = ok(client.get(f"/api/v1/receipts/{rid}", headers=borrower))
    assert final["status"] == "cancelled"
    assert ok(client.get(f"/api/v1/lots/{lot_id}", headers=keeper))["status"] == "depleted"

    history = ok(client.get(f"/api/v1/receipts/{rid}/history", headers=bank))
    actions = [entry["action"] for entry in history]
    assert actions[:3] == ["receipt.create", "receipt.submit", "receipt.issue"]
    assert "receipt.execute_delivery" in actions

    card = client.get(f"/r/{receipt['code']}")
    assert card.status_code == 200
    assert "上海鲜丰冷链贸易" not in card.text
