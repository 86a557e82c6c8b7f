"""Supervision policies of warehouses, rooms and commodities through the HTTP API: templates,
copies, versions with reasons in the audit trail, and the policy in force in a room. Who may do
what is in the permission matrix; which policy wins is in tests/integration/test_policy_precedence.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from tests.conftest import TestDB as Transaction
from tests.support import ok
from tests.world import World

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def events_of(db: Transaction, policy_id: int) -> list[AuditEvent]:
    with db.session() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action == "supervision_policy.set", AuditEvent.subject_id == policy_id)
                .order_by(AuditEvent.id)
            )
        )


def test_the_templates_give_one_policy_per_temperature_class(client: TestClient, auth: Auth) -> None:
    found = ok(client.get(f"{API}/policy-templates", headers=auth("bankviewer")))
    lines = {item["temperature_class"]: item["parameters"]["temperature"] for item in found}
    assert lines["frozen"]["warning_above_mc"] == -18_000
    assert lines["deep_frozen"]["warning_above_mc"] == -25_000
    assert (lines["chilled"]["warning_below_mc"], lines["chilled"]["warning_above_mc"]) == (0, 4_000)
    assert {item["ref"] for item in found} == {
        "policy_template:frozen",
        "policy_template:deep_frozen",
        "policy_template:chilled",
    }


def test_a_room_policy_starts_as_a_copy_of_a_template_and_its_changes_keep_old_and_new_values(
    client: TestClient, auth: Auth, db: Transaction, world: World
) -> None:
    room = world.rooms["YS-F18"]
    first = ok(
        client.post(
            f"{API}/rooms/{room}/policies",
            headers=auth("supervisor"),
            json={"template": "frozen", "reason": "按冷冻模板建立冷间策略"},
        ),
        201,
    )
    assert (first["scope"], first["scope_id"], first["version"]) == ("room", room, 1)
    assert first["ref"] == f"supervision_policy:room:{room}:v1"
    assert first["temperature_class"] == "frozen"
    assert first["parameters"]["temperature"]["warning_above_mc"] == -18_000
    [created] = events_of(db, first["id"])
    assert created.before is None
    assert created.after is not None
    assert created.after["_data"] == {"copied_from": "policy_template:frozen"}
    assert created.reason == "按冷冻模板建立冷间策略"

    reason = "客户要求: 门开 5 分钟即报警"
    changed = {**first["parameters"], "door_open_max_minutes": 5}
    second = ok(
        client.post(
            f"{API}/rooms/{room}/policies",
            headers=auth("supervisor"),
            json={"parameters": changed, "reason": reason},
        ),
        201,
    )
    assert (second["version"], second["temperature_class"]) == (2, "frozen")
    [event] = events_of(db, second["id"])
    assert event.before is not None
    assert event.after is not None
    assert (event.before["version"], event.before["parameters"]["door_open_max_minutes"]) == (1, 10)
    assert (event.after["version"], event.after["parameters"]["door_open_max_minutes"]) == (2, 5)
    assert (event.reason, event.actor_user_id) == (reason, world.users["supervisor"])

    history = ok(client.get(f"{API}/rooms/{room}/policies", headers=auth("bank")))
    assert [(v["version"], v["parameters"]["door_open_max_minutes"]) for v in history] == [(1, 10), (2, 5)]


def test_a_policy_can_be_copied_from_another_policy(client: TestClient, auth: Auth, world: World) -> None:
    source = ok(
        client.get(f"{API}/virtual-warehouses/{world.vws['ys-frozen']}/policies", headers=auth("admin"))
    )[-1]
    copy = ok(
        client.post(
            f"{API}/commodities/{world.commodities['SHRIMP-FZ']}/policies",
            headers=auth("admin"),
            json={"copy_from_policy_id": source["id"], "reason": "白虾沿用洋山冷冻监管仓的策略"},
        ),
        201,
    )
    assert (copy["scope"], copy["parameters"], copy["temperature_class"]) == (
        "commodity",
        source["parameters"],
        source["temperature_class"],
    )


def test_a_copy_into_a_dynamic_virtual_warehouse_keeps_its_pledge_terms(
    client: TestClient, auth: Auth, world: World
) -> None:
    vw = world.vws["dj-frozen"]
    current = ok(client.get(f"{API}/virtual-warehouses/{vw}", headers=auth("supervisor")))["policy"]
    dynamic = {**current["parameters"], "mode": "dynamic", "min_control_quantity_g": 20_000_000}
    ok(
        client.post(
            f"{API}/virtual-warehouses/{vw}/policies",
            headers=auth("supervisor"),
            json={"parameters": dynamic, "reason": "转为动态质押"},
        ),
        201,
    )
    copied = ok(
        client.post(
            f"{API}/virtual-warehouses/{vw}/policies",
            headers=auth("supervisor"),
            json={"template": "deep_frozen", "reason": "改存深冷货物"},
        ),
        201,
    )
    assert copied["parameters"]["temperature"]["warning_above_mc"] == -25_000
    assert (copied["parameters"]["mode"], copied["parameters"]["min_control_quantity_g"]) == (
        "dynamic",
        20_000_000,
    )
    assert copied["temperature_class"] == "deep_frozen"
    assert ok(client.get(f"{API}/virtual-warehouses/{vw}", headers=auth("keeper")))["mode"] == "dynamic"


def test_the_effective_policy_of_a_room_says_where_each_part_came_from(
    client: TestClient, auth: Auth, world: World
) -> None:
    room, vw = world.rooms["YS-F18"], world.vws["ys-frozen"]
    pork = ok(
        client.post(
            f"{API}/commodities/{world.commodities['PORK-FZ']}/policies",
            headers=auth("admin"),
            json={"template": "frozen", "reason": "猪肉按冷冻模板"},
        ),
        201,
    )
    found = ok(client.get(f"{API}/rooms/{room}/effective-policy", headers=auth("bank")))
    sources = {part["part"]: part["source"] for part in found["parts"]}
    assert sources["temperature"]["ref"] == pork["ref"]
    assert sources["monitoring"]["ref"] == pork["ref"]
    assert sources["pledge"] == {
        "scope": "virtual_warehouse",
        "ref": f"supervision_policy:virtual_warehouse:{vw}:v1",
        "temperature_class": "deep_frozen",
        "scope_id": vw,
        "policy_id": sources["pledge"]["policy_id"],
        "version": 1,
    }
    fields = {part["part"]: part["fields"] for part in found["parts"]}
    assert fields["temperature"] == ["temperature"]
    assert "min_control_value_fen" in fields["pledge"]
    assert "door_open_max_minutes" in fields["monitoring"]
    assert sorted(name for names in fields.values() for name in names) == sorted(found["parameters"])
    assert (
        found["ref"]
        == f"temperature={pork['ref']};monitoring={pork['ref']};pledge={sources['pledge']['ref']}"
    )


def test_a_warehouse_shared_with_another_supervisor_takes_no_warehouse_policy(
    client: TestClient, auth: Auth, world: World
) -> None:
    # Sue's company is given a virtual warehouse in Yangshan too, over a new room.
    yangshan = world.warehouses["yangshan"]
    room = ok(
        client.post(
            f"{API}/warehouses/{yangshan}/rooms",
            headers=auth("keeper"),
            json={
                "code": "YS-F40",
                "name": "YS-F40 room",
                "temperature_class": "frozen",
                "set_point_c": "-20",
                "band_low_c": "-22",
                "band_high_c": "-18",
            },
        ),
        201,
    )
    body = {
        "code": "VW-YS-SUE",
        "name": "华信洋山监管仓",
        "warehouse_id": yangshan,
        "supervisor_org_id": world.orgs["supervisor2"],
        "room_ids": [room["id"]],
    }
    ok(client.post(f"{API}/virtual-warehouses", headers=auth("admin"), json=body), 201)
    answer = client.post(
        f"{API}/warehouses/{yangshan}/policies",
        headers=auth("supervisor"),
        json={"template": "frozen", "reason": "整库统一策略"},
    )
    assert answer.status_code == 403, answer.text
    # Each may still set the policy of its own rooms.
    ok(
        client.post(
            f"{API}/rooms/{room['id']}/policies",
            headers=auth("supervisor2"),
            json={"template": "frozen", "reason": "华信自己的冷间"},
        ),
        201,
    )


def bad(
    client: TestClient, auth: Auth, url: str, body: dict[str, Any], who: str = "supervisor"
) -> dict[str, Any]:
    answer = client.post(url, headers=auth(who), json=body)
    assert answer.status_code == 422, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_policy_body_names_exactly_one_source(client: TestClient, auth: Auth, world: World) -> None:
    url = f"{API}/rooms/{world.rooms['YS-F18']}/policies"
    template = ok(client.get(f"{API}/policy-templates", headers=auth("supervisor")))[0]
    bad(client, auth, url, {"reason": "什么也没给"})
    bad(client, auth, url, {"template": "frozen", "parameters": template["parameters"], "reason": "给了两个"})
    bad(client, auth, url, {"template": "frozen", "temperature_class": "chilled", "reason": "模板自带温区"})


def test_a_warehouse_policy_from_parameters_names_its_temperature_class(
    client: TestClient, auth: Auth, world: World
) -> None:
    template = ok(client.get(f"{API}/policy-templates", headers=auth("supervisor")))[0]
    url = f"{API}/warehouses/{world.warehouses['dongjiang']}/policies"
    found = bad(client, auth, url, {"parameters": template["parameters"], "reason": "未说明温区"})
    assert found["field"] == "temperature_class"
    made = ok(
        client.post(
            url,
            headers=auth("supervisor"),
            json={"parameters": template["parameters"], "temperature_class": "chilled", "reason": "冷藏整库"},
        ),
        201,
    )
    assert (made["scope"], made["temperature_class"]) == ("warehouse", "chilled")


def test_a_policy_cannot_be_copied_from_one_the_caller_cannot_see(
    client: TestClient, auth: Auth, world: World
) -> None:
    north = ok(client.get(f"{API}/virtual-warehouses/{world.vws['north']}/policies", headers=auth("admin")))[
        0
    ]
    found = bad(
        client,
        auth,
        f"{API}/rooms/{world.rooms['YS-F18']}/policies",
        {"copy_from_policy_id": north["id"], "reason": "抄别家的策略"},
    )
    assert found["field"] == "copy_from_policy_id"
