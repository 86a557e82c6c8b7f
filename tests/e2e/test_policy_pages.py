"""The supervision policy pages: the templates and each scope's policy at a glance, and a new
version set from a scope's page, refused as the API refuses it and offered only to those who may."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.world import World


def frozen_form(reason: str, **changes: str) -> dict[str, str]:
    """The new-version form filled in as the frozen template reads, in degrees and percent."""
    fields = {
        "source": "parameters",
        "warning_above": "-18",
        "warning_below": "",
        "warning_minutes": "30",
        "critical_above": "-15",
        "critical_below": "",
        "critical_minutes": "10",
        "door_open_max_minutes": "10",
        "device_offline_intervals": "3",
        "stocktake_interval_days": "7",
        "expiry_warning_days": "30",
        "mode": "static",
        "min_control_value_yuan": "",
        "min_control_quantity_kg": "",
        "ltv_warning_pct": "80",
        "ltv_liquidation_pct": "90",
        "price_stale_business_days": "3",
        "reason": reason,
    }
    return fields | changes


def test_the_policies_page_shows_the_templates_and_each_scopes_own_version(
    client: TestClient, world: World
) -> None:
    sign_in_as(client, "supervisor")
    page = client.get("/policies")
    assert page.status_code == 200
    for temperature_class in ("frozen", "deep_frozen", "chilled"):
        assert f'data-template="{temperature_class}"' in page.text
    assert f'data-scope="virtual_warehouse:{world.vws["ys-frozen"]}" data-version="1"' in page.text
    assert f'data-scope="room:{world.rooms["YS-F18"]}" data-version="0"' in page.text
    assert f'data-scope="commodity:{world.commodities["PORK-FZ"]}" data-version="0"' in page.text
    assert f'href="/policies/room/{world.rooms["YS-F18"]}#new-version"' in page.text


def test_a_supervision_manager_sets_a_rooms_policy_from_the_form_and_it_is_in_force_there(
    client: TestClient, world: World
) -> None:
    room = world.rooms["YS-F18"]
    csrf = sign_in_as(client, "supervisor")
    form_page = client.get(f"/policies/room/{room}").text
    assert 'id="set-policy"' in form_page
    assert 'name="warning_above" value="-18"' in form_page  # prefilled from the room's class template

    answer = client.post(
        f"/policies/room/{room}",
        data=frozen_form("客户要求更严的报警线", warning_above="-20.5", door_open_max_minutes="5"),
        headers=htmx(csrf),
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["HX-Refresh"] == "true"

    page = client.get(f"/policies/room/{room}").text
    assert 'data-current-version="1"' in page
    assert 'data-warning-above="-20500"' in page
    assert f'data-part="temperature" data-source="supervision_policy:room:{room}:v1"' in page
    api = client.get(f"/api/v1/rooms/{room}/policies").json()
    assert [(v["version"], v["parameters"]["door_open_max_minutes"]) for v in api] == [(1, 5)]
    assert api[0]["reason"] == "客户要求更严的报警线"


def test_an_inverted_temperature_band_is_refused_with_the_apis_own_message(
    client: TestClient, world: World
) -> None:
    room = world.rooms["YS-C04"]
    csrf = sign_in_as(client, "supervisor")
    fields = frozen_form("冷藏温带写反了", warning_above="0", warning_below="4", temperature_class="chilled")
    answer = client.post(f"/policies/room/{room}", data=fields, headers=htmx(csrf))
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text
    message = "the lower warning line must be below the upper warning line"
    assert message in answer.text

    template: dict[str, Any] = client.get("/api/v1/policy-templates").json()[2]["parameters"]
    inverted = {
        **template,
        "temperature": {**template["temperature"], "warning_below_mc": 4000, "warning_above_mc": 0},
    }
    api = client.post(
        f"/api/v1/rooms/{room}/policies",
        json={"parameters": inverted, "reason": "冷藏温带写反了"},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 422
    assert message in api.json()["errors"][0]["message"]
    assert 'data-current-version="0"' in client.get(f"/policies/room/{room}").text


def test_a_temperature_typed_as_words_names_its_field(client: TestClient, world: World) -> None:
    csrf = sign_in_as(client, "supervisor")
    answer = client.post(
        f"/policies/room/{world.rooms['YS-F18']}",
        data=frozen_form("写错了", critical_above="minus fifteen"),
        headers=htmx(csrf),
    )
    assert answer.status_code == 422
    assert "°C" in answer.text


def test_a_new_version_can_start_from_a_template_or_a_copy_of_another_version(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "admin")
    pork = world.commodities["PORK-FZ"]
    answer = client.post(
        f"/policies/commodity/{pork}",
        data={"source": "template", "template": "deep_frozen", "reason": "猪肉按深冷模板"},
        headers=htmx(csrf),
    )
    assert answer.status_code == 201, answer.text
    vw_policy = client.get(f"/api/v1/virtual-warehouses/{world.vws['ys-frozen']}/policies").json()[-1]
    shrimp = world.commodities["SHRIMP-FZ"]
    assert f'<option value="{vw_policy["id"]}">' in client.get(f"/policies/commodity/{shrimp}").text
    copied = client.post(
        f"/policies/commodity/{shrimp}",
        data={"source": "copy", "copy_from_policy_id": str(vw_policy["id"]), "reason": "白虾沿用监管仓策略"},
        headers=htmx(csrf),
    )
    assert copied.status_code == 201, copied.text

    page = client.get("/policies").text
    assert f'data-scope="commodity:{pork}" data-version="1"' in page
    assert f'data-scope="commodity:{shrimp}" data-version="1"' in page
    assert 'data-warning-above="-25000"' in client.get(f"/policies/commodity/{pork}").text


def test_a_bank_reads_the_policies_but_is_offered_no_form_and_may_not_set_one(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "bank")
    page = client.get("/policies").text
    assert "#new-version" not in page
    pork = world.commodities["PORK-FZ"]
    scope_page = client.get(f"/policies/commodity/{pork}")
    assert scope_page.status_code == 200
    assert 'id="set-policy"' not in scope_page.text
    answer = client.post(
        f"/policies/commodity/{pork}",
        data={"source": "template", "template": "frozen", "reason": "银行想改"},
        headers=htmx(csrf),
    )
    assert answer.status_code == 403


def test_another_supervisors_room_answers_404_to_its_page_and_its_form(
    client: TestClient, world: World
) -> None:
    csrf = sign_in_as(client, "supervisor2")
    room = world.rooms["YS-F18"]
    assert client.get(f"/policies/room/{room}", headers={"Accept": "text/html"}).status_code == 404
    answer = client.post(f"/policies/room/{room}", data=frozen_form("不是我的"), headers=htmx(csrf))
    assert answer.status_code == 404
    assert f'data-scope="room:{room}"' not in client.get("/policies").text
    assert client.get("/policies/galaxy/1", headers={"Accept": "text/html"}).status_code == 404
