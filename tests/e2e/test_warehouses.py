"""Warehouses, rooms, virtual warehouses, supervision policies, release windows and inspectors,
through the HTTP API as the keeper, the operator and the supervisor would use them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.warehouses.models import ReleaseWindow
from tests.conftest import TestDB as Transaction
from tests.support import ok
from tests.world import World

Auth = Callable[[str], dict[str, str]]

FROZEN = {"temperature_class": "frozen", "set_point_c": "-20", "band_low_c": "-22", "band_high_c": "-18"}
DEEP_FROZEN = {
    "temperature_class": "deep_frozen",
    "set_point_c": "-26",
    "band_low_c": "-28",
    "band_high_c": "-22",
}
CHILLED = {"temperature_class": "chilled", "set_point_c": "2", "band_low_c": "0", "band_high_c": "4"}


def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    if field is not None:
        named = {body.get("field")} | {error["field"] for error in body.get("errors", [])}
        assert field in named, body
    return body


def new_warehouse(client: TestClient, headers: dict[str, str], code: str = "NB-BL") -> dict[str, Any]:
    body = {"code": code, "name": "宁波北仑冷库", "address": "宁波市北仑区港区路 1 号", "city": "宁波"}
    return ok(client.post("/api/v1/warehouses", headers=headers, json=body), 201)  # type: ignore[no-any-return]


def new_room(
    client: TestClient,
    headers: dict[str, str],
    warehouse_id: int,
    code: str,
    climate: dict[str, str],
    **extra: Any,
) -> httpx.Response:
    body = {"code": code, "name": f"{code} 冷间", **climate, **extra}
    return client.post(f"/api/v1/warehouses/{warehouse_id}/rooms", headers=headers, json=body)


@pytest.fixture
def site(client: TestClient, auth: Auth) -> dict[str, int]:
    """Kate's new warehouse with a frozen, a deep-frozen and a chilled room, none supervised yet."""
    keeper = auth("keeper")
    warehouse = new_warehouse(client, keeper)
    ids = {"warehouse": warehouse["id"]}
    for code, climate in (("NB-F18", FROZEN), ("NB-F25", DEEP_FROZEN), ("NB-C04", CHILLED)):
        ids[code] = ok(new_room(client, keeper, warehouse["id"], code, climate), 201)["id"]
    return ids


def new_vw(
    client: TestClient,
    auth: Auth,
    world: World,
    site: dict[str, int],
    code: str,
    rooms: list[str],
    **extra: Any,
) -> httpx.Response:
    body = {
        "code": code,
        "name": f"{code} 监管仓",
        "warehouse_id": site["warehouse"],
        "supervisor_org_id": world.orgs["supervisor"],
        "room_ids": [site[room] for room in rooms],
        **extra,
    }
    return client.post("/api/v1/virtual-warehouses", headers=auth("admin"), json=body)


# --- warehouses and rooms ---------------------------------------------------------------------


def test_a_keeper_creates_a_warehouse_of_its_own_with_rooms(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    warehouse = ok(client.get(f"/api/v1/warehouses/{site['warehouse']}", headers=auth("keeper")))
    assert warehouse["keeper_org_id"] == world.orgs["keeper"]
    assert [room["code"] for room in warehouse["rooms"]] == ["NB-C04", "NB-F18", "NB-F25"]
    frozen = next(room for room in warehouse["rooms"] if room["code"] == "NB-F18")
    assert (frozen["set_point_c"], frozen["band_low_c"], frozen["band_high_c"]) == (-20.0, -22.0, -18.0)
    assert frozen["virtual_warehouse_id"] is None


def test_a_keeper_cannot_create_a_warehouse_for_another_keeper(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = {"code": "NB-X", "name": "别人的冷库", "address": "某地某路", "city": "宁波"}
    response = client.post(
        "/api/v1/warehouses", headers=auth("keeper"), json={**body, "keeper_org_id": world.orgs["keeper2"]}
    )
    refused(response, 422, "keeper_org_id")


def test_the_operator_must_name_the_keeper_of_a_new_warehouse(
    client: TestClient, auth: Auth, world: World
) -> None:
    body = {"code": "NB-OP", "name": "平台代建冷库", "address": "某地某路", "city": "宁波"}
    refused(client.post("/api/v1/warehouses", headers=auth("admin"), json=body), 422, "keeper_org_id")
    not_a_keeper = {**body, "keeper_org_id": world.orgs["bank"]}
    refused(client.post("/api/v1/warehouses", headers=auth("admin"), json=not_a_keeper), 422, "keeper_org_id")
    made = ok(
        client.post(
            "/api/v1/warehouses", headers=auth("admin"), json={**body, "keeper_org_id": world.orgs["keeper2"]}
        ),
        201,
    )
    assert made["keeper_org_id"] == world.orgs["keeper2"]


def test_a_bank_cannot_create_a_warehouse(client: TestClient, auth: Auth) -> None:
    body = {"code": "NB-BANK", "name": "银行冷库", "address": "某地某路", "city": "宁波"}
    refused(client.post("/api/v1/warehouses", headers=auth("bank"), json=body), 403)


def test_warehouse_codes_are_unique_on_the_platform(client: TestClient, auth: Auth) -> None:
    new_warehouse(client, auth("keeper"), "NB-DUP")
    body = {"code": "NB-DUP", "name": "另一个冷库", "address": "某地某路", "city": "宁波"}
    refused(client.post("/api/v1/warehouses", headers=auth("keeper2"), json=body), 409, "code")


def test_room_codes_are_unique_within_a_warehouse(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    keeper = auth("keeper")
    refused(new_room(client, keeper, site["warehouse"], "NB-F18", FROZEN), 409, "code")


def test_the_same_room_code_may_be_used_in_another_warehouse(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    keeper = auth("keeper")
    other = new_warehouse(client, keeper, "NB-TWO")
    ok(new_room(client, keeper, other["id"], "NB-F18", FROZEN), 201)


def test_a_zone_sits_inside_a_room_of_the_same_warehouse(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    keeper = auth("keeper")
    zone = ok(
        new_room(
            client, keeper, site["warehouse"], "NB-F18-A", FROZEN, kind="zone", parent_room_id=site["NB-F18"]
        ),
        201,
    )
    assert zone["kind"] == "zone"
    assert zone["parent_room_id"] == site["NB-F18"]


def test_a_zone_without_a_parent_room_is_refused(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    refused(
        new_room(client, auth("keeper"), site["warehouse"], "NB-Z1", FROZEN, kind="zone"),
        422,
        "parent_room_id",
    )


def test_a_room_with_a_parent_room_is_refused(client: TestClient, auth: Auth, site: dict[str, int]) -> None:
    response = new_room(
        client, auth("keeper"), site["warehouse"], "NB-R1", FROZEN, parent_room_id=site["NB-F18"]
    )
    refused(response, 422, "parent_room_id")


def test_a_zone_in_a_room_of_another_warehouse_is_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    response = new_room(
        client,
        auth("keeper"),
        site["warehouse"],
        "NB-Z2",
        FROZEN,
        kind="zone",
        parent_room_id=world.rooms["YS-F18"],
    )
    refused(response, 422, "parent_room_id")


def test_a_zone_inside_a_zone_is_refused(client: TestClient, auth: Auth, site: dict[str, int]) -> None:
    keeper = auth("keeper")
    zone = ok(
        new_room(
            client, keeper, site["warehouse"], "NB-F18-A", FROZEN, kind="zone", parent_room_id=site["NB-F18"]
        ),
        201,
    )
    response = new_room(
        client, keeper, site["warehouse"], "NB-F18-A1", FROZEN, kind="zone", parent_room_id=zone["id"]
    )
    refused(response, 422, "parent_room_id")


@pytest.mark.parametrize(
    "climate",
    [
        {"temperature_class": "frozen", "set_point_c": "-17", "band_low_c": "-22", "band_high_c": "-18"},
        {"temperature_class": "frozen", "set_point_c": "-23", "band_low_c": "-22", "band_high_c": "-18"},
        {"temperature_class": "chilled", "set_point_c": "2", "band_low_c": "4", "band_high_c": "0"},
    ],
)
def test_a_set_point_outside_its_band_is_refused(
    client: TestClient, auth: Auth, site: dict[str, int], climate: dict[str, str]
) -> None:
    body = refused(new_room(client, auth("keeper"), site["warehouse"], "NB-BAD", climate), 422, "set_point_c")
    assert body["code"] == "validation_error"


def test_a_set_point_finer_than_a_thousandth_of_a_degree_is_refused(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    climate = {**FROZEN, "set_point_c": "-20.0001"}
    refused(new_room(client, auth("keeper"), site["warehouse"], "NB-FINE", climate), 422, "set_point_c")


def test_a_keeper_cannot_add_rooms_to_another_keepers_warehouse(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    body = refused(new_room(client, auth("keeper2"), site["warehouse"], "BF-X1", FROZEN), 404)
    assert body["code"] == "not_found"


def test_another_keeper_does_not_see_the_warehouse_at_all(
    client: TestClient, auth: Auth, site: dict[str, int]
) -> None:
    refused(client.get(f"/api/v1/warehouses/{site['warehouse']}", headers=auth("keeper2")), 404)
    listed = ok(client.get("/api/v1/warehouses", headers=auth("keeper2")))
    assert site["warehouse"] not in [warehouse["id"] for warehouse in listed]


# --- virtual warehouses -------------------------------------------------------------------------


def test_the_operator_creates_a_virtual_warehouse_over_rooms_of_one_warehouse(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(
        new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18", "NB-F25"], agreement_no="JG-2026-017"), 201
    )
    assert vw["supervisor_org_id"] == world.orgs["supervisor"]
    assert vw["warehouse_id"] == site["warehouse"]
    assert sorted(room["id"] for room in vw["rooms"]) == sorted([site["NB-F18"], site["NB-F25"]])
    assert vw["mode"] == "static"
    assert vw["status"] == "active"
    assert vw["agreement_no"] == "JG-2026-017"
    assert vw["policy"]["version"] == 1

    # The supervising organisation's manager sees it; the other supervisor does not.
    assert (
        ok(client.get(f"/api/v1/virtual-warehouses/{vw['id']}", headers=auth("supervisor")))["id"] == vw["id"]
    )
    refused(client.get(f"/api/v1/virtual-warehouses/{vw['id']}", headers=auth("supervisor2")), 404)
    room = ok(client.get(f"/api/v1/warehouses/{site['warehouse']}", headers=auth("keeper")))["rooms"]
    supervised = {r["code"]: r["virtual_warehouse_id"] for r in room}
    assert supervised == {"NB-C04": None, "NB-F18": vw["id"], "NB-F25": vw["id"]}


@pytest.mark.parametrize("who", ["keeper", "supervisor", "bank"])
def test_only_the_operator_creates_virtual_warehouses(
    client: TestClient, auth: Auth, world: World, site: dict[str, int], who: str
) -> None:
    body = {
        "code": "VW-NB-NO",
        "name": "不该建的监管仓",
        "warehouse_id": site["warehouse"],
        "supervisor_org_id": world.orgs["supervisor"],
        "room_ids": [site["NB-F18"]],
    }
    refused(client.post("/api/v1/virtual-warehouses", headers=auth(who), json=body), 403)


def test_a_room_already_supervised_cannot_join_another_virtual_warehouse(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    ok(new_vw(client, auth, world, site, "VW-NB-1", ["NB-F18"]), 201)
    refused(new_vw(client, auth, world, site, "VW-NB-2", ["NB-F25", "NB-F18"]), 409, "room_ids")


def test_rooms_of_another_warehouse_are_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    body = {
        "code": "VW-NB-MIX",
        "name": "跨库监管仓",
        "warehouse_id": site["warehouse"],
        "supervisor_org_id": world.orgs["supervisor"],
        "room_ids": [site["NB-F18"], world.rooms["DJ-F18"]],
    }
    refused(client.post("/api/v1/virtual-warehouses", headers=auth("admin"), json=body), 422, "room_ids")


def test_a_room_that_does_not_exist_is_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    body = {
        "code": "VW-NB-GHOST",
        "name": "幽灵监管仓",
        "warehouse_id": site["warehouse"],
        "supervisor_org_id": world.orgs["supervisor"],
        "room_ids": [site["NB-F18"], 9_999_999],
    }
    refused(client.post("/api/v1/virtual-warehouses", headers=auth("admin"), json=body), 422, "room_ids")


def test_the_supervisor_must_be_a_supervision_company(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    response = new_vw(
        client, auth, world, site, "VW-NB-BANK", ["NB-F18"], supervisor_org_id=world.orgs["bank"]
    )
    refused(response, 422, "supervisor_org_id")


def test_virtual_warehouse_codes_are_unique(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    refused(new_vw(client, auth, world, site, "VW-YS-F", ["NB-F18"]), 409, "code")


# --- supervision policies -------------------------------------------------------------------------


def test_the_initial_policy_follows_the_coldest_room_frozen(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18", "NB-C04"]), 201)
    rule = vw["policy"]["parameters"]["temperature"]
    assert (rule["warning_above_mc"], rule["warning_minutes"]) == (-18_000, 30)
    assert (rule["critical_above_mc"], rule["critical_minutes"]) == (-15_000, 10)
    assert vw["policy"]["reason"] == "Initial policy"


def test_the_initial_policy_follows_the_coldest_room_deep_frozen(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-D", ["NB-F18", "NB-F25", "NB-C04"]), 201)
    assert vw["policy"]["parameters"]["temperature"]["warning_above_mc"] == -25_000


def test_the_initial_policy_of_chilled_rooms_is_0_to_4_degrees(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-C", ["NB-C04"]), 201)
    rule = vw["policy"]["parameters"]["temperature"]
    assert (rule["warning_below_mc"], rule["warning_above_mc"], rule["warning_minutes"]) == (0, 4_000, 15)


def test_a_dynamic_virtual_warehouse_needs_a_floor_from_the_start(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    response = new_vw(client, auth, world, site, "VW-NB-DYN", ["NB-F18"], mode="dynamic")
    refused(response, 422, "parameters")
    assert client.get("/api/v1/virtual-warehouses", headers=auth("admin")).text.count("VW-NB-DYN") == 0


def test_a_dynamic_virtual_warehouse_starts_with_its_floor(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    parameters = {
        "mode": "dynamic",
        "temperature": {"warning_above_mc": -18_000, "warning_minutes": 30, "critical_minutes": 10},
        "min_control_value_fen": 5_000_000_00,
    }
    vw = ok(
        new_vw(client, auth, world, site, "VW-NB-DYN", ["NB-F18"], mode="dynamic", parameters=parameters), 201
    )
    assert vw["mode"] == "dynamic"
    assert vw["policy"]["parameters"]["min_control_value_fen"] == 5_000_000_00


def test_a_virtual_warehouse_whose_mode_contradicts_its_policy_is_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    parameters = {
        "mode": "dynamic",
        "temperature": {"warning_above_mc": -18_000, "warning_minutes": 30, "critical_minutes": 10},
        "min_control_quantity_g": 100_000_000,
    }
    refused(new_vw(client, auth, world, site, "VW-NB-MIX", ["NB-F18"], parameters=parameters), 422)


def policy_body(vw: dict[str, Any], reason: str, **changes: Any) -> dict[str, Any]:
    parameters = {**vw["policy"]["parameters"], **changes}
    return {"parameters": parameters, "reason": reason}


def test_a_supervision_manager_sets_a_new_policy_version_with_a_reason(
    client: TestClient, auth: Auth, db: Transaction, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18"]), 201)
    reason = "银行要求门开报警缩短到 5 分钟"
    policy = ok(
        client.post(
            f"/api/v1/virtual-warehouses/{vw['id']}/policies",
            headers=auth("supervisor"),
            json=policy_body(vw, reason, door_open_max_minutes=5),
        ),
        201,
    )
    assert policy["version"] == 2
    assert policy["reason"] == reason
    assert policy["created_by_user_id"] == world.users["supervisor"]

    history = ok(client.get(f"/api/v1/virtual-warehouses/{vw['id']}/policies", headers=auth("supervisor")))
    assert [version["version"] for version in history] == [1, 2]
    assert [version["parameters"]["door_open_max_minutes"] for version in history] == [10, 5]
    current = ok(client.get(f"/api/v1/virtual-warehouses/{vw['id']}", headers=auth("keeper")))["policy"]
    assert current["version"] == 2

    with db.session() as session:
        events = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "supervision_policy.set", AuditEvent.subject_id == policy["id"]
            )
        ).all()
    assert [(event.reason, event.actor_user_id) for event in events] == [(reason, world.users["supervisor"])]
    assert events[0].before is not None
    assert events[0].before["version"] == 1


def test_switching_to_a_dynamic_pledge_with_a_floor_changes_the_mode(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18"]), 201)
    body = policy_body(
        vw, "转为动态质押，最低控货 200 吨", mode="dynamic", min_control_quantity_g=200_000_000
    )
    ok(
        client.post(f"/api/v1/virtual-warehouses/{vw['id']}/policies", headers=auth("supervisor"), json=body),
        201,
    )
    assert (
        ok(client.get(f"/api/v1/virtual-warehouses/{vw['id']}", headers=auth("supervisor")))["mode"]
        == "dynamic"
    )


def test_a_dynamic_policy_without_a_floor_is_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18"]), 201)
    body = policy_body(vw, "转为动态质押", mode="dynamic")
    response = client.post(
        f"/api/v1/virtual-warehouses/{vw['id']}/policies", headers=auth("supervisor"), json=body
    )
    refused(response, 422, "parameters")
    history = ok(client.get(f"/api/v1/virtual-warehouses/{vw['id']}/policies", headers=auth("supervisor")))
    assert [version["version"] for version in history] == [1]


def test_a_policy_with_an_unknown_key_is_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18"]), 201)
    body = policy_body(vw, "拼错了参数名", door_open_max_minuts=5)
    response = client.post(
        f"/api/v1/virtual-warehouses/{vw['id']}/policies", headers=auth("supervisor"), json=body
    )
    refused(response, 422, "parameters.door_open_max_minuts")


def test_a_policy_change_without_a_reason_is_refused(
    client: TestClient, auth: Auth, world: World, site: dict[str, int]
) -> None:
    vw = ok(new_vw(client, auth, world, site, "VW-NB-F", ["NB-F18"]), 201)
    body = {"parameters": vw["policy"]["parameters"]}
    response = client.post(
        f"/api/v1/virtual-warehouses/{vw['id']}/policies", headers=auth("supervisor"), json=body
    )
    refused(response, 422, "reason")


@pytest.mark.parametrize(("who", "status"), [("keeper", 403), ("inspector", 404), ("supervisor2", 404)])
def test_only_the_supervising_manager_sets_policies(
    client: TestClient, auth: Auth, world: World, who: str, status: int
) -> None:
    vw_id = world.vws["ys-frozen"] if who != "inspector" else world.vws["ys-chilled"]
    current = ok(
        client.get(f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}", headers=auth("supervisor"))
    )
    body = {"parameters": current["policy"]["parameters"], "reason": "未经授权的修改"}
    refused(client.post(f"/api/v1/virtual-warehouses/{vw_id}/policies", headers=auth(who), json=body), status)


# --- release windows --------------------------------------------------------------------------


def test_release_windows_are_added_and_removed_but_never_forgotten(
    client: TestClient, auth: Auth, db: Transaction, world: World
) -> None:
    vw_id, supervisor = world.vws["ys-chilled"], auth("supervisor")
    added = ok(
        client.post(
            f"/api/v1/virtual-warehouses/{vw_id}/release-windows",
            headers=supervisor,
            json={"weekdays": "61", "start": "9:00", "end": "11:30", "note": "周末上午放货"},
        ),
        201,
    )
    assert (added["weekdays"], added["start"], added["end"]) == ("16", "09:00", "11:30")
    assert added["timezone"] == "Asia/Shanghai"
    assert added["removed_at"] is None
    listed = ok(client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=supervisor))["release_windows"]
    assert [window["id"] for window in listed] == [added["id"]]

    removed = ok(
        client.delete(f"/api/v1/virtual-warehouses/{vw_id}/release-windows/{added['id']}", headers=supervisor)
    )
    assert removed["removed_at"] is not None
    assert ok(client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=supervisor))["release_windows"] == []

    with db.session() as session:
        row = session.get_one(ReleaseWindow, added["id"])
        assert row.removed_at is not None
        assert row.note == "周末上午放货"

    again = client.delete(
        f"/api/v1/virtual-warehouses/{vw_id}/release-windows/{added['id']}", headers=supervisor
    )
    refused(again, 404)


def test_a_window_of_one_virtual_warehouse_cannot_be_removed_through_another(
    client: TestClient, auth: Auth, world: World
) -> None:
    path = (
        f"/api/v1/virtual-warehouses/{world.vws['ys-chilled']}/release-windows/{world.windows['ys-weekdays']}"
    )
    refused(client.delete(path, headers=auth("supervisor")), 404)


@pytest.mark.parametrize(
    "window",
    [
        {"weekdays": "12345", "start": "17:00", "end": "08:00"},
        {"weekdays": "12345", "start": "08:00", "end": "08:00"},
        {"weekdays": "1123", "start": "08:00", "end": "17:00"},
        {"weekdays": "8", "start": "08:00", "end": "17:00"},
        {"weekdays": "12345", "start": "08:60", "end": "17:00"},
        {"weekdays": "12345", "start": "08:00", "end": "17:00", "timezone": "Mars/Olympus_Mons"},
    ],
)
def test_a_malformed_release_window_is_refused(
    client: TestClient, auth: Auth, world: World, window: dict[str, str]
) -> None:
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['ys-chilled']}/release-windows",
        headers=auth("supervisor"),
        json=window,
    )
    assert refused(response, 422)["code"] == "validation_error"


def test_a_keeper_cannot_open_a_release_window(client: TestClient, auth: Auth, world: World) -> None:
    window = {"weekdays": "1234567", "start": "00:00", "end": "24:00"}
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}/release-windows",
        headers=auth("keeper"),
        json=window,
    )
    refused(response, 403)


# --- inspectors -----------------------------------------------------------------------------------


def test_an_assigned_inspector_sees_the_virtual_warehouse_and_an_unassigned_one_does_not(
    client: TestClient, auth: Auth, world: World
) -> None:
    vw_id, supervisor = world.vws["dj-frozen"], auth("supervisor")
    refused(client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("inspector2")), 404)

    response = client.post(
        f"/api/v1/virtual-warehouses/{vw_id}/staff",
        headers=supervisor,
        json={"user_id": world.users["inspector2"]},
    )
    assert response.status_code == 204, response.text

    seen = ok(client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("inspector2")))
    assert seen["staff_user_ids"] == [world.users["inspector2"]]
    assert vw_id in [
        vw["id"] for vw in ok(client.get("/api/v1/virtual-warehouses", headers=auth("inspector2")))
    ]
    # Ivy works at Yangshan and was not assigned here.
    refused(client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("inspector")), 404)

    unassigned = client.delete(
        f"/api/v1/virtual-warehouses/{vw_id}/staff/{world.users['inspector2']}", headers=supervisor
    )
    assert unassigned.status_code == 204, unassigned.text
    refused(client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("inspector2")), 404)


@pytest.mark.parametrize("who", ["supervisor", "keeper", "supervisor2", "bank"])
def test_only_an_inspector_of_the_supervising_organisation_can_be_assigned(
    client: TestClient, auth: Auth, world: World, who: str
) -> None:
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['dj-frozen']}/staff",
        headers=auth("supervisor"),
        json={"user_id": world.users[who]},
    )
    refused(response, 422, "user_id")


def test_an_unknown_user_cannot_be_assigned(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['dj-frozen']}/staff",
        headers=auth("supervisor"),
        json={"user_id": 9_999_999},
    )
    refused(response, 422, "user_id")


def test_an_inspector_is_assigned_only_once(client: TestClient, auth: Auth, world: World) -> None:
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}/staff",
        headers=auth("supervisor"),
        json={"user_id": world.users["inspector"]},
    )
    refused(response, 409, "user_id")


def test_another_supervision_company_cannot_assign_staff_here(
    client: TestClient, auth: Auth, world: World
) -> None:
    response = client.post(
        f"/api/v1/virtual-warehouses/{world.vws['dj-frozen']}/staff",
        headers=auth("supervisor2"),
        json={"user_id": world.users["inspector2"]},
    )
    refused(response, 404)
