"""Every API input is validated: wrong types, negative weights, unknown ids, dates in the wrong
order, oversized or disguised attachments get a 4xx naming the field to fix, never a 500."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coldpledge.db import utcnow
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from tests.conftest import TestDB as Transaction
from tests.support import in_days, tiny_pdf, tiny_png, today
from tests.world import World

Auth = Callable[[str], dict[str, str]]
NO_SUCH_ID = 987_654_321


def refused(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """Assert a refusal: its status, its stable code and, for 422, the field it names."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["detail"], body
    if field is not None:
        fields = [error["field"] for error in body["errors"]]
        assert field in fields, body
        assert all(error["message"] for error in body["errors"]), body
    return body


def inbound_body(world: World, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner_org_id": world.orgs["borrower"],
        "room_id": world.rooms["YS-F18"],
        "commodity_id": world.commodities["PORK-FZ"],
        "spec": "猪后腿 20kg/箱",
        "origin_country": "ES",
        "batch_number": "2026-12-B",
        "declared_cartons": 500,
        "declared_net_weight_g": 10_000_000,
        "production_date": str(today() - timedelta(days=30)),
        "expiry_date": str(today() + timedelta(days=700)),
    }
    body.update(changes)
    return body


def weigh_body(**changes: Any) -> dict[str, Any]:
    return {"gross_g": 11_000_000, "tare_g": 1_000_000, "weigh_ticket_no": "WT-77", **changes}


def receipt_body(world: World, **changes: Any) -> dict[str, Any]:
    return {
        "lot_id": world.lots["free"],
        "quantity_g": 1_000_000,
        "cartons": 10,
        "storage_period_end": str(today() + timedelta(days=90)),
        **changes,
    }


def release_body(**changes: Any) -> dict[str, Any]:
    return {
        "quantity_g": 1_000_000,
        "cartons": 50,
        "vehicle_plate": "沪B88888",
        "collector_name": "李师傅",
        "collector_id_no": "310101198001015678",
        "valid_until": in_days(2).isoformat(),
        **changes,
    }


# --- lots: inbound, weighing, stocktake ---------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"declared_cartons": "many"}, "declared_cartons"),
        ({"declared_cartons": 12.5}, "declared_cartons"),
        ({"declared_net_weight_g": "20 tonnes"}, "declared_net_weight_g"),
        ({"declared_net_weight_g": [1]}, "declared_net_weight_g"),
        ({"room_id": "YS-F18"}, "room_id"),
        ({"spec": 42}, "spec"),
        ({"spec": {"cut": "ham"}}, "spec"),
        ({"production_date": "yesterday"}, "production_date"),
        ({"production_date": "2026-02-30"}, "production_date"),
        ({"truck_weighing": "GT-1"}, "truck_weighing"),
    ],
)
def test_inbound_with_a_wrong_json_type_names_the_field(
    client: TestClient, auth: Auth, world: World, change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/lots", headers=auth("keeper"), json=inbound_body(world, **change))
    refused(response, 422, "validation_error", field)


@pytest.mark.parametrize("grams", [0, -1, -10_000_000, 10**16 + 1])
def test_inbound_refuses_a_weight_that_is_not_positive_or_absurd(
    client: TestClient, auth: Auth, world: World, grams: int
) -> None:
    body = inbound_body(world, declared_net_weight_g=grams)
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body),
        422,
        "validation_error",
        "declared_net_weight_g",
    )


def test_inbound_refuses_production_after_expiry(client: TestClient, auth: Auth, world: World) -> None:
    body = inbound_body(
        world,
        production_date=str(today() - timedelta(days=1)),
        expiry_date=str(today() - timedelta(days=10)),
    )
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "validation_error", "expiry_date"
    )


def test_inbound_refuses_goods_already_past_their_expiry(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = inbound_body(
        world,
        production_date=str(today() - timedelta(days=400)),
        expiry_date=str(today() - timedelta(days=1)),
    )
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "invalid_input", "expiry_date"
    )


def test_inbound_refuses_a_naive_receiving_time(client: TestClient, auth: Auth, world: World) -> None:
    naive = utcnow().replace(tzinfo=None).isoformat()
    body = inbound_body(world, received_at=naive)
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "validation_error", "received_at"
    )


def test_inbound_refuses_a_receiving_time_in_the_future(client: TestClient, auth: Auth, world: World) -> None:
    body = inbound_body(world, received_at=in_days(1).isoformat())
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "invalid_input", "received_at"
    )


def test_inbound_refuses_an_unknown_field(client: TestClient, auth: Auth, world: World) -> None:
    body = inbound_body(world, verified_net_weight_g=10_000_000)
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body),
        422,
        "validation_error",
        "verified_net_weight_g",
    )


def test_inbound_refuses_a_truck_ticket_whose_tare_is_not_below_gross(
    client: TestClient, auth: Auth, world: World
) -> None:
    ticket = {"gross_g": 15_000_000, "tare_g": 15_000_000, "weigh_ticket_no": "GT-2"}
    body = inbound_body(world, truck_weighing=ticket)
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body),
        422,
        "validation_error",
        "truck_weighing.tare_g",
    )


@pytest.mark.parametrize(
    ("reference", "field"),
    [("owner_org_id", "owner_org_id"), ("room_id", "room_id"), ("commodity_id", "commodity_id")],
)
def test_inbound_naming_something_that_does_not_exist_is_422_on_that_field(
    client: TestClient, auth: Auth, world: World, reference: str, field: str
) -> None:
    body = inbound_body(world, **{reference: NO_SUCH_ID})
    refused(client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "invalid_input", field)


def test_inbound_into_a_room_of_another_keeper_is_422_on_the_room(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = inbound_body(world, room_id=world.rooms["BF-F18"])
    refused(client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "invalid_input", "room_id")


def test_inbound_for_an_owner_that_is_not_a_borrower_is_422(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = inbound_body(world, owner_org_id=world.orgs["bank"])
    refused(
        client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "invalid_input", "owner_org_id"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"gross_g": 0}, "gross_g"),
        ({"gross_g": -11_000_000}, "gross_g"),
        ({"tare_g": -1}, "tare_g"),
        ({"gross_g": "11t"}, "gross_g"),
        ({"gross_g": 1.5}, "gross_g"),
        ({"cartons": -3}, "cartons"),
        ({"weigh_ticket_no": ""}, "weigh_ticket_no"),
        ({"net_g": 10_000_000}, "net_g"),
    ],
)
def test_weighing_refuses_bad_numbers_and_names_the_field(
    client: TestClient, auth: Auth, world: World, change: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh", headers=auth("keeper"), json=weigh_body(**change)
    )
    refused(response, 422, "validation_error", field)


@pytest.mark.parametrize("value", [True, "11000000", 11_000_000.5], ids=["boolean", "string", "fraction"])
def test_a_weight_must_be_a_whole_number_of_grams_not_something_that_converts_to_one(
    client: TestClient, auth: Auth, world: World, value: Any
) -> None:
    # true would otherwise be read as 1 g, and "11000000" hides a client that sends text.
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh", headers=auth("keeper"), json=weigh_body(gross_g=value)
    )
    refused(response, 422, "validation_error", "gross_g")


@pytest.mark.parametrize("tare", [11_000_000, 12_000_000])
def test_weighing_refuses_a_tare_not_below_the_gross(
    client: TestClient, auth: Auth, world: World, tare: int
) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh", headers=auth("keeper"), json=weigh_body(tare_g=tare)
    )
    refused(response, 422, "validation_error", "tare_g")


def test_weighing_a_lot_that_does_not_exist_is_404(client: TestClient, auth: Auth) -> None:
    response = client.post(f"/api/v1/lots/{NO_SUCH_ID}/weigh", headers=auth("keeper"), json=weigh_body())
    refused(response, 404, "not_found")


def test_weighing_another_keepers_lot_is_404(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['north']}/weigh", headers=auth("keeper"), json=weigh_body()
    )
    refused(response, 404, "not_found")


@pytest.mark.parametrize(
    "lot_id", ["abc", "1.5", "-1", "0", str(2**31), str(2**63), str(10**30), "-" + str(2**63)]
)
def test_a_lot_id_in_the_path_that_cannot_be_a_lot_is_refused_without_a_crash(
    client: TestClient, auth: Auth, lot_id: str
) -> None:
    response = client.post(f"/api/v1/lots/{lot_id}/weigh", headers=auth("keeper"), json=weigh_body())
    assert response.status_code in {404, 422}, response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"counted_g": -1, "counted_cartons": 10}, "counted_g"),
        ({"counted_g": 10, "counted_cartons": -1}, "counted_cartons"),
        ({"counted_g": "ten", "counted_cartons": 10}, "counted_g"),
        ({"counted_cartons": 10}, "counted_g"),
        ({"counted_g": 10, "counted_cartons": 10, "expected_g": 10}, "expected_g"),
    ],
)
def test_a_stocktake_with_bad_counts_names_the_field(
    client: TestClient, auth: Auth, world: World, body: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/stocktake", headers=auth("inspector"), json=body
    )
    refused(response, 422, "validation_error", field)


def test_an_inspection_with_an_unknown_result_names_the_field(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = {"result": "looks fine", "agency": "CCIC"}
    response = client.post(f"/api/v1/lots/{world.lots['free']}/inspect", headers=auth("keeper"), json=body)
    refused(response, 422, "validation_error", "result")


def test_a_core_temperature_finer_than_a_thousandth_of_a_degree_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = {"result": "passed", "agency": "CCIC", "core_temperature_c": "-18.0001"}
    response = client.post(f"/api/v1/lots/{world.lots['free']}/inspect", headers=auth("keeper"), json=body)
    refused(response, 422, "validation_error", "core_temperature_c")


# --- request bodies that are not what the endpoint takes ---------------------------------------


def test_a_malformed_json_body_is_422(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh",
        headers={**auth("keeper"), "Content-Type": "application/json"},
        content=b'{"gross_g": 11000000, "tare_g": ',
    )
    body = refused(response, 422, "validation_error")
    assert body["errors"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("payload", [b"[]", b'"weigh it"', b"42", b"null"])
def test_a_json_body_that_is_not_an_object_is_422(
    client: TestClient, auth: Auth, world: World, payload: bytes
) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh",
        headers={**auth("keeper"), "Content-Type": "application/json"},
        content=payload,
    )
    refused(response, 422, "validation_error")


def test_a_form_posted_where_json_is_expected_is_422(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh", headers=auth("keeper"), data={"gross_g": "11000000"}
    )
    assert response.status_code == 422, response.text


# --- receipts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity_g": 0}, "quantity_g"),
        ({"quantity_g": -5}, "quantity_g"),
        ({"cartons": 0}, "cartons"),
        ({"storage_period_end": "next year"}, "storage_period_end"),
        ({"negotiable": "perhaps"}, "negotiable"),
        ({"status": "issued"}, "status"),
        ({"insurer_org_id": 9}, "insurance_until"),
    ],
)
def test_a_receipt_draft_with_bad_fields_names_them(
    client: TestClient, auth: Auth, world: World, change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/receipts", headers=auth("keeper"), json=receipt_body(world, **change))
    refused(response, 422, "validation_error", field)


def test_a_storage_period_that_has_already_ended_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = receipt_body(world, storage_period_end=str(today() - timedelta(days=1)))
    response = client.post("/api/v1/receipts", headers=auth("keeper"), json=body)
    refused(response, 422, "invalid_input", "storage_period_end")


def test_a_storage_period_past_the_goods_expiry_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = receipt_body(world, storage_period_end=str(today() + timedelta(days=5000)))
    response = client.post("/api/v1/receipts", headers=auth("keeper"), json=body)
    refused(response, 422, "invalid_input", "storage_period_end")


def test_a_receipt_for_more_than_the_verified_stock_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = receipt_body(world, quantity_g=10_000_001)
    refused(
        client.post("/api/v1/receipts", headers=auth("keeper"), json=body), 422, "invalid_input", "quantity_g"
    )


@pytest.mark.parametrize("lot", ["unknown", "another keepers"])
def test_a_receipt_for_a_lot_out_of_reach_is_422_on_the_lot(
    client: TestClient, auth: Auth, world: World, lot: str
) -> None:
    lot_id = NO_SUCH_ID if lot == "unknown" else world.lots["north"]
    body = receipt_body(world, lot_id=lot_id)
    refused(
        client.post("/api/v1/receipts", headers=auth("keeper"), json=body), 422, "invalid_input", "lot_id"
    )


def test_an_insurer_that_is_not_an_insurer_is_refused(client: TestClient, auth: Auth, world: World) -> None:
    body = receipt_body(
        world,
        insurer_org_id=world.orgs["bank"],
        insured_amount_fen=1_000_00,
        insurance_until=str(today() + timedelta(days=30)),
    )
    refused(
        client.post("/api/v1/receipts", headers=auth("keeper"), json=body),
        422,
        "invalid_input",
        "insurer_org_id",
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"quantity_g": 0}, "quantity_g"),
        ({"quantity_g": -1_000_000}, "quantity_g"),
        ({"cartons": -1}, "cartons"),
        ({"vehicle_plate": "not a plate!"}, "vehicle_plate"),
        ({"collector_id_no": "3101-0119"}, "collector_id_no"),
        ({"valid_until": "2026-12-01T10:00:00"}, "valid_until"),
        ({"valid_until": "soon"}, "valid_until"),
        ({"approved": True}, "approved"),
    ],
)
def test_a_release_request_with_bad_fields_names_them(
    client: TestClient, auth: Auth, world: World, change: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pledged']}/request-release",
        headers=auth("borrower"),
        json=release_body(**change),
    )
    refused(response, 422, "validation_error", field)


def test_a_release_of_everything_in_pledge_is_refused(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pledged']}/request-release",
        headers=auth("borrower"),
        json=release_body(quantity_g=10**15),
    )
    refused(response, 422, "invalid_input", "quantity_g")


def test_a_release_for_a_receipt_that_does_not_exist_is_404(client: TestClient, auth: Auth) -> None:
    response = client.post(
        f"/api/v1/receipts/{NO_SUCH_ID}/request-release", headers=auth("borrower"), json=release_body()
    )
    refused(response, 404, "not_found")


def test_a_release_for_another_borrowers_receipt_is_404(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pledged']}/request-release",
        headers=auth("borrower2"),
        json=release_body(),
    )
    refused(response, 404, "not_found")


@pytest.mark.parametrize(
    ("parts", "field"),
    [
        ([{"quantity_g": 1_000_000, "cartons": 50}], "parts"),
        ([], "parts"),
        ([{"quantity_g": 0, "cartons": 50}, {"quantity_g": 1, "cartons": 1}], "parts.0.quantity_g"),
        ([{"quantity_g": 1, "cartons": 1}, {"quantity_g": "x", "cartons": 1}], "parts.1.quantity_g"),
        ([{"quantity_g": 1, "cartons": 1}, {"quantity_g": 1}], "parts.1.cartons"),
        ("half and half", "parts"),
    ],
)
def test_a_split_with_bad_parts_names_the_part(
    client: TestClient, auth: Auth, world: World, parts: Any, field: str
) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['issued']}/split", headers=auth("borrower"), json={"parts": parts}
    )
    refused(response, 422, "validation_error", field)


def test_a_split_that_does_not_add_up_is_refused(client: TestClient, auth: Auth, world: World) -> None:
    parts = [{"quantity_g": 1_000_000, "cartons": 50}, {"quantity_g": 1_000_000, "cartons": 50}]
    response = client.post(
        f"/api/v1/receipts/{world.receipts['issued']}/split", headers=auth("borrower"), json={"parts": parts}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"


def test_a_pledge_to_an_organisation_that_does_not_exist_is_422(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['issued']}/request-pledge",
        headers=auth("borrower"),
        json={"pledgee_org_id": NO_SUCH_ID},
    )
    refused(response, 422, "invalid_input", "pledgee_org_id")


def test_a_pledge_registration_time_without_a_zone_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pending']}/accept-pledge",
        headers=auth("bank2"),
        json={"registration_no": "ZDW-2026-1", "registered_at": "2026-11-28T09:00:00"},
    )
    refused(response, 422, "validation_error", "registered_at")


@pytest.mark.parametrize("status", ["PLEDGED", "lost", ""])
def test_an_unknown_status_filter_is_422(client: TestClient, auth: Auth, status: str) -> None:
    response = client.get("/api/v1/receipts", headers=auth("bank"), params={"status": status})
    refused(response, 422, "validation_error", "status")


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "all"}])
def test_paging_outside_its_range_is_422(client: TestClient, auth: Auth, params: dict[str, Any]) -> None:
    response = client.get("/api/v1/lots", headers=auth("keeper"), params=params)
    refused(response, 422, "validation_error", next(iter(params)))


# --- warehouses: release windows and policies ----------------------------------------------------


@pytest.mark.parametrize(
    ("window", "field"),
    [
        ({"weekdays": 12345, "start": "08:00", "end": "17:00"}, "weekdays"),
        ({"weekdays": "12345", "start": "8am", "end": "17:00"}, "start"),
        ({"weekdays": "12345", "start": "17:00", "end": "08:00"}, "end"),
        ({"weekdays": "12345", "start": "08:00", "end": "25:00"}, "end"),
        ({"weekdays": "12345", "start": "08:00", "end": "17:00", "timezone": "Asia/Nowhere"}, "timezone"),
        ({"weekdays": "12345", "start": "08:00", "end": "17:00", "open": True}, "open"),
    ],
)
def test_a_bad_release_window_names_the_field(
    client: TestClient, auth: Auth, world: World, window: dict[str, Any], field: str
) -> None:
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}/release-windows",
        headers=auth("supervisor"),
        json=window,
    )
    refused(response, 422, "validation_error", field)


def test_a_release_window_of_an_unknown_virtual_warehouse_is_404(client: TestClient, auth: Auth) -> None:
    window = {"weekdays": "12345", "start": "08:00", "end": "17:00"}
    response = client.post(
        f"/api/v1/virtual-warehouses/{NO_SUCH_ID}/release-windows", headers=auth("supervisor"), json=window
    )
    refused(response, 404, "not_found")


def current_parameters(client: TestClient, auth: Auth, world: World) -> dict[str, Any]:
    vw = client.get(f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}", headers=auth("supervisor")).json()
    parameters: dict[str, Any] = vw["policy"]["parameters"]
    return parameters


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"door_open_max_minutes": 0}, "parameters.door_open_max_minutes"),
        ({"door_open_max_minutes": "ten"}, "parameters.door_open_max_minutes"),
        ({"mode": "semi-dynamic"}, "parameters.mode"),
        ({"mode": "dynamic"}, "parameters"),
        ({"temperature": None}, "parameters.temperature"),
        ({"alarm_volume": 11}, "parameters.alarm_volume"),
    ],
)
def test_a_bad_policy_names_the_parameter(
    client: TestClient, auth: Auth, world: World, change: dict[str, Any], field: str
) -> None:
    body = {"parameters": {**current_parameters(client, auth, world), **change}, "reason": "调整监管参数"}
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}/policies", headers=auth("supervisor"), json=body
    )
    refused(response, 422, "validation_error", field)


# --- organisations and users ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "某某科技", "party_type": "alien"}, "party_type"),
        ({"name": "X", "party_type": "bank"}, "name"),
        ({"name": "某某银行", "party_type": "bank", "credit_code": "123"}, "credit_code"),
        ({"name": "某某银行", "party_type": "bank", "is_active": False}, "is_active"),
        ({"party_type": "bank"}, "name"),
    ],
)
def test_a_bad_organisation_names_the_field(
    client: TestClient, auth: Auth, body: dict[str, Any], field: str
) -> None:
    refused(
        client.post("/api/v1/organisations", headers=auth("admin"), json=body), 422, "validation_error", field
    )


def user_body(world: World, **changes: Any) -> dict[str, Any]:
    return {
        "username": "newbie",
        "display_name": "新员工",
        "organisation_id": world.orgs["bank"],
        "role": "bank_viewer",
        "password": "a-long-enough-password",
        **changes,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "god"}, "role"),
        ({"username": "No Spaces Allowed"}, "username"),
        ({"username": "ab"}, "username"),
        ({"password": "short"}, "password"),
        ({"organisation_id": "bank"}, "organisation_id"),
        ({"organisation_id": -1}, "organisation_id"),
        ({"is_superuser": True}, "is_superuser"),
    ],
)
def test_a_bad_user_names_the_field(
    client: TestClient, auth: Auth, world: World, change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/users", headers=auth("admin"), json=user_body(world, **change))
    refused(response, 422, "validation_error", field)


def test_a_user_of_an_organisation_that_does_not_exist_is_422(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.post(
        "/api/v1/users", headers=auth("admin"), json=user_body(world, organisation_id=NO_SUCH_ID)
    )
    refused(response, 422, "invalid_input", "organisation_id")


def test_a_role_that_does_not_belong_to_the_organisation_is_422(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.post("/api/v1/users", headers=auth("admin"), json=user_body(world, role="keeper_staff"))
    refused(response, 422, "invalid_input", "role")


def test_a_user_id_that_is_not_a_number_is_422(client: TestClient, auth: Auth) -> None:
    refused(client.get("/api/v1/users/me", headers=auth("admin")), 422, "validation_error", "user_id")


# --- attachments --------------------------------------------------------------------------------


def upload(
    client: TestClient, headers: dict[str, str], lot_id: int, content: bytes, name: str, mime: str
) -> httpx.Response:
    return client.post(
        f"/api/v1/lots/{lot_id}/attachments",
        headers=headers,
        files={"file": (name, content, mime)},
        data={"purpose": "photo"},
    )


@pytest.fixture
def small_limit_client(db: Transaction) -> Iterator[TestClient]:
    """An app that accepts attachments of at most 2 KiB."""
    with TestClient(db.app(attachment_max_bytes=2048), headers={"Accept-Language": "en"}) as client:
        yield client


def test_a_photo_and_a_pdf_within_the_limit_are_accepted(
    small_limit_client: TestClient, auth: Auth, world: World
) -> None:
    keeper, lot = auth("keeper"), world.lots["free"]
    assert upload(small_limit_client, keeper, lot, tiny_png(99), "a.png", "image/png").status_code == 201
    assert upload(small_limit_client, keeper, lot, tiny_pdf(), "a.pdf", "application/pdf").status_code == 201


def test_an_attachment_over_the_limit_is_413(
    small_limit_client: TestClient, auth: Auth, world: World
) -> None:
    big = tiny_png(1) + b"\x00" * 4096
    response = upload(small_limit_client, auth("keeper"), world.lots["free"], big, "big.png", "image/png")
    body = refused(response, 413, "payload_too_large")
    assert "2048" in body["detail"]


def test_a_request_far_over_the_limit_is_413_before_it_is_read(
    small_limit_client: TestClient, auth: Auth, world: World
) -> None:
    huge = tiny_png(2) + b"\x00" * (200 * 1024)
    response = upload(small_limit_client, auth("keeper"), world.lots["free"], huge, "huge.png", "image/png")
    refused(response, 413, "payload_too_large")


def test_a_text_file_named_png_is_415(client: TestClient, auth: Auth, world: World) -> None:
    text = b"these are not the pallets you are looking for\n" * 10
    response = upload(client, auth("keeper"), world.lots["free"], text, "pallets.png", "image/png")
    body = refused(response, 415, "unsupported_media_type")
    assert "image/png" not in body["detail"]


def test_an_executable_disguised_as_a_pdf_is_415(client: TestClient, auth: Auth, world: World) -> None:
    elf = b"\x7fELF\x02\x01\x01" + b"\x00" * 200
    response = upload(client, auth("keeper"), world.lots["free"], elf, "report.pdf", "application/pdf")
    refused(response, 415, "unsupported_media_type")


def test_an_empty_file_is_refused(client: TestClient, auth: Auth, world: World) -> None:
    response = upload(client, auth("keeper"), world.lots["free"], b"", "empty.png", "image/png")
    refused(response, 415, "unsupported_media_type")


def test_an_upload_without_a_file_names_the_field(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/attachments", headers=auth("keeper"), data={"purpose": "photo"}
    )
    refused(response, 422, "validation_error", "file")


def test_an_upload_with_an_unknown_purpose_names_the_field(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/attachments",
        headers=auth("keeper"),
        files={"file": ("a.png", io.BytesIO(tiny_png(5)), "image/png")},
        data={"purpose": "selfie"},
    )
    refused(response, 422, "validation_error", "purpose")


def test_an_upload_to_a_lot_out_of_reach_is_404(client: TestClient, auth: Auth, world: World) -> None:
    response = upload(client, auth("keeper"), world.lots["north"], tiny_png(6), "a.png", "image/png")
    refused(response, 404, "not_found")


# --- anything at all ------------------------------------------------------------------------------

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(
        ["", "0", "-1", "NaN", "1e400", "2026-02-30", "24:00", "2026-12-01T10:00:00", "沪A12345"]
    )
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def write_endpoints(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """(persona, path, a valid body) for endpoints whose bodies we throw anything at."""
    return [
        ("keeper", "/api/v1/lots", inbound_body(world)),
        ("keeper", f"/api/v1/lots/{world.lots['free']}/weigh", weigh_body(cartons=500)),
        ("inspector", f"/api/v1/lots/{world.lots['free']}/stocktake", {"counted_g": 1, "counted_cartons": 1}),
        ("keeper", "/api/v1/receipts", receipt_body(world)),
        ("borrower", f"/api/v1/receipts/{world.receipts['pledged']}/request-release", release_body()),
        (
            "borrower",
            f"/api/v1/receipts/{world.receipts['issued']}/split",
            {"parts": [{"quantity_g": 1, "cartons": 1}, {"quantity_g": 1, "cartons": 1}]},
        ),
        (
            "supervisor",
            f"/api/v1/virtual-warehouses/{world.vws['ys-chilled']}/release-windows",
            {"weekdays": "12345", "start": "08:00", "end": "17:00"},
        ),
        (
            "keeper",
            f"/api/v1/warehouses/{world.warehouses['yangshan']}/rooms",
            {
                "code": "YS-NEW",
                "name": "新冷间",
                "temperature_class": "frozen",
                "set_point_c": "-20",
                "band_low_c": "-22",
                "band_high_c": "-18",
            },
        ),
        (
            "supervisor",
            f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}/policies",
            {
                "parameters": default_parameters(TemperatureClass.FROZEN).model_dump(mode="json"),
                "reason": "调整参数",
            },
        ),
        ("admin", "/api/v1/organisations", {"name": "新的银行", "party_type": "bank"}),
        ("admin", "/api/v1/users", user_body(world)),
    ]


def mutated(valid: dict[str, Any], data: st.DataObject) -> Any:
    """The valid body with some fields replaced by anything, some dropped and some added."""
    body = dict(valid)
    for key in data.draw(st.lists(st.sampled_from(sorted(valid)), max_size=3, unique=True)):
        if data.draw(st.booleans()):
            body[key] = data.draw(JSON_VALUES)
        else:
            body.pop(key)
    if data.draw(st.integers(0, 4)) == 0:
        body[data.draw(st.text(max_size=8))] = data.draw(JSON_LEAVES)
    return body


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow], deadline=None)
@given(data=st.data())
def test_no_body_whatsoever_makes_a_write_endpoint_fail_with_a_server_error(
    client: TestClient, auth: Auth, world: World, data: st.DataObject
) -> None:
    persona, path, valid = data.draw(st.sampled_from(write_endpoints(world)))
    body = mutated(valid, data) if data.draw(st.booleans()) else data.draw(JSON_VALUES)
    response = client.post(path, headers=auth(persona), content=json.dumps(body).encode())
    assert response.status_code < 500, (path, body, response.text)
    if response.status_code == 422:
        assert response.json()["code"] in {"validation_error", "invalid_input"}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(raw=st.binary(max_size=200))
def test_no_bytes_whatsoever_make_an_endpoint_fail_with_a_server_error(
    client: TestClient, auth: Auth, world: World, raw: bytes
) -> None:
    response = client.post(
        f"/api/v1/lots/{world.lots['free']}/weigh",
        headers={**auth("keeper"), "Content-Type": "application/json"},
        content=raw,
    )
    assert response.status_code < 500, (raw, response.text)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(when=st.datetimes(), offset=st.integers(-(23 * 60 + 59), 23 * 60 + 59))
def test_no_date_whatsoever_makes_a_release_request_fail_with_a_server_error(
    client: TestClient, auth: Auth, world: World, when: datetime, offset: int
) -> None:
    stamp = f"{when.isoformat()}{'+' if offset >= 0 else '-'}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pledged']}/request-release",
        headers=auth("borrower"),
        json=release_body(valid_until=stamp),
    )
    assert response.status_code < 500, (stamp, response.text)


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+14:00", "0001-01-01T06:00:00+08:00"])
def test_a_receiving_time_at_the_edge_of_the_calendar_is_refused_not_a_crash(
    client: TestClient, auth: Auth, world: World, stamp: str
) -> None:
    body = inbound_body(world, received_at=stamp, production_date=None, expiry_date=None)
    response = client.post("/api/v1/lots", headers=auth("keeper"), json=body)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00"])
def test_a_registration_time_at_the_edge_of_the_calendar_is_refused_not_a_crash(
    client: TestClient, auth: Auth, world: World, stamp: str
) -> None:
    response = client.post(
        f"/api/v1/receipts/{world.receipts['pending']}/accept-pledge",
        headers=auth("bank2"),
        json={"registration_no": "ZDW-2026-1", "registered_at": stamp},
    )
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    ("field", "ident"), [("room_id", 2**31), ("owner_org_id", 2**63), ("commodity_id", -(2**64))]
)
def test_an_id_beyond_the_databases_integers_is_refused_on_its_field(
    client: TestClient, auth: Auth, world: World, field: str, ident: int
) -> None:
    body = inbound_body(world, **{field: ident})
    refused(client.post("/api/v1/lots", headers=auth("keeper"), json=body), 422, "validation_error", field)


@pytest.mark.parametrize("ident", [2**31, 2**63, -(2**63) - 1])
def test_a_filter_id_beyond_the_databases_integers_is_refused_on_its_parameter(
    client: TestClient, auth: Auth, ident: int
) -> None:
    response = client.get("/api/v1/lots", headers=auth("keeper"), params={"warehouse_id": ident})
    refused(response, 422, "validation_error", "warehouse_id")


def test_a_room_id_list_with_an_id_beyond_the_databases_integers_is_refused(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = {
        "code": "VW-BIG",
        "name": "大号监管仓",
        "warehouse_id": world.warehouses["yangshan"],
        "supervisor_org_id": world.orgs["supervisor"],
        "room_ids": [2**40],
    }
    refused(
        client.post("/api/v1/virtual-warehouses", headers=auth("admin"), json=body),
        422,
        "validation_error",
        "room_ids.0",
    )


def test_a_field_refused_reads_in_chinese_for_a_chinese_reader_and_in_english_otherwise(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = inbound_body(world, declared_net_weight_g=0)
    chinese = client.post("/api/v1/lots", headers={**auth("keeper"), "Accept-Language": "zh-CN"}, json=body)
    english = client.post("/api/v1/lots", headers={**auth("keeper"), "Accept-Language": "en"}, json=body)
    assert chinese.status_code == english.status_code == 422
    assert chinese.json()["errors"][0]["message"] == "须大于 0。"
    assert english.json()["errors"][0]["message"] == "This must be greater than 0."
