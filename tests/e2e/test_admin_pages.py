"""The administration pages: the operator adds organisations, users, commodities, warehouses and
virtual warehouses, a keeper its own warehouses and rooms, and every party that may its webhooks,
from the page as through the API, refused in the API's words; a role the API refuses is not
offered the form, and another party's row answers 404."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.warehouses.models import Room, VirtualWarehouse
from coldpledge.warehouses.service import current_policy
from tests.conftest import TestDB as Transaction
from tests.notify import tell
from tests.pages import htmx, sign_in_as
from tests.world import PASSWORD, World

FROZEN_ROOM = {
    "code": "YS-F30",
    "name": "新冻库",
    "kind": "room",
    "temperature_class": "frozen",
    "band_low_c": "-22",
    "band_high_c": "-18",
    "set_point_c": "-20",
}


def _row(page: str, attribute: str, value: str) -> str:
    """The table row marked ``data-<attribute>="<value>"``, to assert on what it shows."""
    found = re.search(rf'<tr data-{attribute}="{re.escape(value)}".*?</tr>', page, re.S)
    assert found, f"no row {attribute}={value}"
    return found.group(0)


# --- the index -------------------------------------------------------------------------------------


def test_the_operator_finds_every_section_and_a_bank_viewer_only_what_it_may_read(
    client: TestClient,
) -> None:
    sign_in_as(client, "admin")
    page = client.get("/admin").text
    for section in ("organisations", "users", "commodities", "warehouses", "webhooks", "deliveries"):
        assert f'data-section="{section}"' in page

    viewer = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(viewer, "bankviewer")
    page = viewer.get("/admin").text
    assert 'data-section="organisations"' in page
    assert 'data-section="webhooks"' not in page
    assert 'data-section="deliveries"' not in page


# --- organisations ---------------------------------------------------------------------------------


def test_the_operator_adds_an_organisation_and_finds_it_listed_with_its_party_type(
    client: TestClient,
) -> None:
    csrf = sign_in_as(client, "admin")
    made = client.post(
        "/admin/organisations",
        data={"name": "太平洋财产保险", "party_type": "insurer", "credit_code": "91310000132211081X"},
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    assert made.headers["HX-Refresh"] == "true"
    page = client.get("/admin/organisations").text
    row = next(
        _row(page, "organisation", org_id)
        for org_id in re.findall(r'data-organisation="(\d+)"', page)
        if "太平洋财产保险" in _row(page, "organisation", org_id)
    )
    assert "Insurer" in row
    assert "91310000132211081X" in row

    again = client.post(
        "/admin/organisations", data={"name": "太平洋财产保险", "party_type": "insurer"}, headers=htmx(csrf)
    )
    assert again.status_code == 409
    assert "already exists" in again.text


def test_a_malformed_credit_code_is_refused_on_the_field_the_api_names(client: TestClient) -> None:
    csrf = sign_in_as(client, "admin")
    answer = client.post(
        "/admin/organisations",
        data={"name": "某某公司", "party_type": "borrower", "credit_code": "12345"},
        headers=htmx(csrf),
    )
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    assert "credit_code" in answer.text


def test_a_bank_is_not_offered_to_add_organisations_or_users_and_is_refused_if_it_tries(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "bank")
    assert 'id="create-organisation"' not in client.get("/admin/organisations").text
    assert 'id="create-user"' not in client.get("/admin/users").text
    refused = client.post(
        "/admin/organisations", data={"name": "影子银行", "party_type": "bank"}, headers=htmx(csrf)
    )
    assert refused.status_code == 403
    refused = client.post(
        "/admin/users",
        data={
            "username": "mallory",
            "display_name": "Mallory",
            "organisation_id": str(world.orgs["bank"]),
            "role": "bank_risk_officer",
            "password": PASSWORD,
        },
        headers=htmx(csrf),
    )
    assert refused.status_code == 403


# --- users -----------------------------------------------------------------------------------------


def test_the_operator_adds_a_user_who_is_listed_with_the_role_and_can_sign_in(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "admin")
    made = client.post(
        "/admin/users",
        data={
            "username": "kevin",
            "display_name": "Kevin",
            "organisation_id": str(world.orgs["keeper"]),
            "role": "keeper_staff",
            "password": PASSWORD,
            "email": "",
        },
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    row = _row(client.get(f"/admin/users?organisation_id={world.orgs['keeper']}").text, "user", "kevin")
    assert "Warehouse staff" in row
    assert "中冷物流仓储" in row

    newcomer = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(newcomer, "kevin")
    assert "Kevin" in newcomer.get("/").text


def test_a_role_that_does_not_belong_in_the_organisation_is_refused_in_the_services_words(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "admin")
    answer = client.post(
        "/admin/users",
        data={
            "username": "wrongrole",
            "display_name": "Wrong",
            "organisation_id": str(world.orgs["keeper"]),
            "role": "bank_viewer",
            "password": PASSWORD,
        },
        headers=htmx(csrf),
    )
    assert answer.status_code == 422
    assert "does not belong in an organisation of type" in answer.text
    short = client.post(
        "/admin/users",
        data={
            "username": "shortpw",
            "display_name": "Short",
            "organisation_id": str(world.orgs["keeper"]),
            "role": "keeper_staff",
            "password": "short",
        },
        headers=htmx(csrf),
    )
    assert short.status_code == 422
    assert "password" in short.text


def test_the_user_list_narrowed_to_one_organisation_shows_only_its_people(
    client: TestClient, world: World
) -> None:
    sign_in_as(client, "admin")
    page = client.get(f"/admin/users?organisation_id={world.orgs['bank']}").text
    assert 'data-user="bank"' in page
    assert 'data-user="bankviewer"' in page
    assert 'data-user="keeper"' not in page


# --- commodities -----------------------------------------------------------------------------------


def test_the_operator_adds_a_commodity_and_a_keeper_is_not_offered_to(client: TestClient) -> None:
    csrf = sign_in_as(client, "admin")
    made = client.post(
        "/admin/commodities",
        data={
            "code": "SHRIMP-FROZEN",
            "name": "冻虾仁",
            "name_en": "Frozen shrimp",
            "temperature_class": "frozen",
            "hs_code": "030617",
            "shelf_life_days": "540",
        },
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    row = _row(client.get("/admin/commodities").text, "commodity", "SHRIMP-FROZEN")
    assert "冻虾仁" in row
    assert "540" in row
    assert "030617" in row

    keeper = TestClient(client.app, headers={"Accept-Language": "en"})
    keeper_csrf = sign_in_as(keeper, "keeper")
    page = keeper.get("/admin/commodities").text
    assert 'data-commodity="SHRIMP-FROZEN"' in page
    assert 'id="create-commodity"' not in page
    refused = keeper.post(
        "/admin/commodities",
        data={"code": "X1", "name": "x", "name_en": "x", "temperature_class": "frozen"},
        headers=htmx(keeper_csrf),
    )
    assert refused.status_code == 403


def test_a_shelf_life_that_is_not_a_whole_number_of_days_is_refused_as_the_api_refuses_it(
    client: TestClient,
) -> None:
    csrf = sign_in_as(client, "admin")
    answer = client.post(
        "/admin/commodities",
        data={
            "code": "SQUID",
            "name": "鱿鱼",
            "name_en": "Squid",
            "temperature_class": "frozen",
            "shelf_life_days": "half a year",
        },
        headers=htmx(csrf),
    )
    assert answer.status_code == 422
    assert "shelf_life_days" in answer.text
    assert 'data-commodity="SQUID"' not in client.get("/admin/commodities").text


# --- warehouses, rooms, virtual warehouses ---------------------------------------------------------


def test_the_operator_adds_a_warehouse_for_a_keeper_who_then_finds_it_as_its_own(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "admin")
    missing = client.post(
        "/admin/warehouses",
        data={"code": "QD-HD", "name": "青岛黄岛冷库", "address": "黄岛区", "city": "青岛"},
        headers=htmx(csrf),
    )
    assert missing.status_code == 422
    assert "Name the keeper organisation" in missing.text

    made = client.post(
        "/admin/warehouses",
        data={
            "code": "QD-HD",
            "name": "青岛黄岛冷库",
            "address": "黄岛区",
            "city": "青岛",
            "latitude": "35.96",
            "longitude": "120.19",
            "keeper_org_id": str(world.orgs["keeper2"]),
        },
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    assert made.headers["HX-Redirect"].startswith("/admin/warehouses/")

    ken = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(ken, "keeper2")
    row = _row(ken.get("/admin/warehouses").text, "warehouse", "QD-HD")
    assert "北方冷链物流有限公司" in row
    assert "青岛" in row


def test_a_keeper_creates_its_own_warehouse_without_naming_a_keeper(client: TestClient) -> None:
    csrf = sign_in_as(client, "keeper")
    page = client.get("/admin/warehouses").text
    assert 'id="create-warehouse"' in page
    assert 'name="keeper_org_id"' not in page
    made = client.post(
        "/admin/warehouses",
        data={"code": "SH-LG", "name": "临港冷库", "address": "临港新片区", "city": "上海"},
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    assert "中冷物流仓储" in _row(client.get("/admin/warehouses").text, "warehouse", "SH-LG")


def test_a_keeper_adds_a_room_to_its_warehouse_and_the_set_point_must_lie_in_the_band(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "keeper")
    yangshan = world.warehouses["yangshan"]
    outside = client.post(
        f"/admin/warehouses/{yangshan}/rooms", data={**FROZEN_ROOM, "set_point_c": "-10"}, headers=htmx(csrf)
    )
    assert outside.status_code == 422
    assert "set_point_c" in outside.text

    made = client.post(f"/admin/warehouses/{yangshan}/rooms", data=FROZEN_ROOM, headers=htmx(csrf))
    assert made.status_code == 201, made.text
    row = _row(client.get(f"/admin/warehouses/{yangshan}").text, "room", "YS-F30")
    assert "-20" in row
    assert "-22" in row

    taken = client.post(f"/admin/warehouses/{yangshan}/rooms", data=FROZEN_ROOM, headers=htmx(csrf))
    assert taken.status_code == 409


def test_another_keepers_warehouse_answers_404_and_the_operator_is_not_offered_to_add_rooms(
    client: TestClient, world: World
) -> None:
    yangshan = world.warehouses["yangshan"]
    ken_csrf = sign_in_as(client, "keeper2")
    assert client.get(f"/admin/warehouses/{yangshan}").status_code == 404
    assert (
        client.post(
            f"/admin/warehouses/{yangshan}/rooms", data=FROZEN_ROOM, headers=htmx(ken_csrf)
        ).status_code
        == 404
    )

    admin = TestClient(client.app, headers={"Accept-Language": "en"})
    csrf = sign_in_as(admin, "admin")
    page = admin.get(f"/admin/warehouses/{yangshan}").text
    assert 'id="add-room"' not in page
    assert 'id="create-virtual-warehouse"' in page
    refused = admin.post(f"/admin/warehouses/{yangshan}/rooms", data=FROZEN_ROOM, headers=htmx(csrf))
    assert refused.status_code == 403


def test_the_operator_puts_a_new_room_under_supervision_with_a_minimum_stock(
    client: TestClient, world: World, db: Transaction
) -> None:
    yangshan = world.warehouses["yangshan"]
    keeper_csrf = sign_in_as(client, "keeper")
    assert (
        client.post(
            f"/admin/warehouses/{yangshan}/rooms", data=FROZEN_ROOM, headers=htmx(keeper_csrf)
        ).status_code
        == 201
    )
    with db.session() as session:
        room_id = session.scalars(select(Room.id).where(Room.code == "YS-F30")).one()

    admin = TestClient(client.app, headers={"Accept-Language": "en"})
    csrf = sign_in_as(admin, "admin")
    assert f'name="room_ids" value="{room_id}"' in admin.get(f"/admin/warehouses/{yangshan}").text
    form = {
        "code": "VW-YS-F30",
        "name": "洋山新冻库监管仓",
        "supervisor_org_id": str(world.orgs["supervisor"]),
        "room_ids": [str(room_id)],
        "mode": "dynamic",
    }
    no_floor = admin.post(f"/admin/warehouses/{yangshan}/virtual-warehouses", data=form, headers=htmx(csrf))
    assert no_floor.status_code == 422
    assert "minimum control value or quantity" in no_floor.text

    made = admin.post(
        f"/admin/warehouses/{yangshan}/virtual-warehouses",
        data={**form, "min_control_quantity_kg": "20000"},
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    row = _row(admin.get(f"/admin/warehouses/{yangshan}").text, "virtual-warehouse", "VW-YS-F30")
    assert "中储监管服务有限公司" in row
    assert "Dynamic pledge" in row
    with db.session() as session:
        vw_id = session.scalars(select(VirtualWarehouse.id).where(VirtualWarehouse.code == "VW-YS-F30")).one()
        policy = current_policy(session, vw_id)
        assert policy is not None
        assert policy.parameters["min_control_quantity_g"] == 20_000_000

    twice = admin.post(
        f"/admin/warehouses/{yangshan}/virtual-warehouses",
        data={**form, "code": "VW-YS-F31", "mode": "static"},
        headers=htmx(csrf),
    )
    assert twice.status_code == 409
    assert "only one virtual warehouse" in twice.text


# --- webhooks and the delivery log -----------------------------------------------------------------


def test_a_keeper_registers_a_webhook_sees_its_secret_once_and_deactivates_it(client: TestClient) -> None:
    csrf = sign_in_as(client, "keeper")
    wrong = client.post("/admin/webhooks", data={"url": "ftp://hooks.example.cn/"}, headers=htmx(csrf))
    assert wrong.status_code == 422
    assert "starts with https://" in wrong.text

    made = client.post(
        "/admin/webhooks",
        data={"url": "https://hooks.keeper.example.cn/in", "kinds": "alert.firing, work_order.assigned"},
        headers=htmx(csrf),
    )
    assert made.status_code == 201, made.text
    secret = re.search(r'id="webhook-secret">([0-9a-f]{64})<', made.text)
    assert secret
    webhook_id = re.search(r'data-webhook-created="(\d+)"', made.text)
    assert webhook_id
    page = client.get("/admin/webhooks").text
    assert secret.group(1) not in page
    row = _row(page, "webhook", webhook_id.group(1))
    assert "alert.firing, work_order.assigned" in row
    assert "Deactivate" in row

    stopped = client.post(f"/admin/webhooks/{webhook_id.group(1)}/deactivate", headers=htmx(csrf))
    assert stopped.status_code == 200
    row = _row(client.get("/admin/webhooks").text, "webhook", webhook_id.group(1))
    assert "Deactivated" in row
    assert "/deactivate" not in row

    other = TestClient(client.app, headers={"Accept-Language": "en"})
    other_csrf = sign_in_as(other, "bank")
    assert (
        other.post(f"/admin/webhooks/{webhook_id.group(1)}/deactivate", headers=htmx(other_csrf)).status_code
        == 404
    )


def test_a_viewer_is_refused_the_webhooks_page_as_the_api_refuses_it(client: TestClient) -> None:
    csrf = sign_in_as(client, "bankviewer")
    assert client.get("/admin/webhooks").status_code == 403
    refused = client.post("/admin/webhooks", data={"url": "https://x.example.cn/"}, headers=htmx(csrf))
    assert refused.status_code == 403


def test_the_operator_reads_the_delivery_log_and_a_keeper_does_not_see_it(
    client: TestClient, world: World, db: Transaction
) -> None:
    keeper_csrf = sign_in_as(client, "keeper")
    registered = client.post(
        "/admin/webhooks", data={"url": "https://hooks.keeper.example.cn/log"}, headers=htmx(keeper_csrf)
    )
    assert registered.status_code == 201
    _item, delivery = tell(db.session, [world.users["keeper"]])
    assert delivery is not None
    assert 'id="delivery-log"' not in client.get("/admin/webhooks").text

    admin = TestClient(client.app, headers={"Accept-Language": "en"})
    sign_in_as(admin, "admin")
    row = _row(admin.get("/admin/webhooks?status=pending").text, "delivery", str(delivery))
    assert "https://hooks.keeper.example.cn/log" in row
    assert "alert.firing" in row
    assert "Pending" in row
    assert f'data-delivery="{delivery}"' not in admin.get("/admin/webhooks?status=sent").text
