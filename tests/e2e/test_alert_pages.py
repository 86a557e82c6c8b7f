"""The alert and work-order pages: each viewer's alerts with the steps its role may take, each step
taken from the page changing the alert as the API shows it, and work orders by SLA."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.alerting import raise_alert, work_order_of
from tests.conftest import TestDB as Transaction
from tests.pages import htmx, sign_in_as
from tests.world import World


def test_the_supervisor_acknowledges_then_resolves_an_alert_from_the_page(
    client: TestClient, db: Transaction, world: World
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])
    csrf = sign_in_as(client, "supervisor")
    page = client.get("/alerts").text
    assert f'data-alert="{alert_id}" data-status="open" data-severity="critical"' in page
    assert f'href="/m/work-orders/{work_order_of(db.session, alert_id)}"' in page
    acknowledged = client.post(f"/alerts/{alert_id}/acknowledge", headers=htmx(csrf))
    assert acknowledged.status_code == 200, acknowledged.text
    assert 'data-status="acknowledged"' in acknowledged.text
    resolved = client.post(
        f"/alerts/{alert_id}/resolve", data={"text": "压缩机复位，温度回落"}, headers=htmx(csrf)
    )
    assert resolved.status_code == 200, resolved.text
    assert client.get(f"/api/v1/alerts/{alert_id}").json()["status"] == "resolved"


def test_resolving_without_saying_what_was_done_is_refused_as_the_api_refuses_it(
    client: TestClient, db: Transaction, world: World
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])
    csrf = sign_in_as(client, "supervisor")
    answer = client.post(f"/alerts/{alert_id}/resolve", data={"text": "x"}, headers=htmx(csrf))
    assert answer.status_code == 422
    assert "resolution" in answer.text
    assert client.get(f"/api/v1/alerts/{alert_id}").json()["status"] == "open"


def test_alerts_filter_by_state_and_severity_and_count_live_ones(
    client: TestClient, db: Transaction, world: World
) -> None:
    critical = raise_alert(db.uow, world.rooms["YS-F18"])
    minor = raise_alert(db.uow, world.rooms["YS-F25"], severity="minor", rule="humidity_band")
    sign_in_as(client, "supervisor")
    only_minor = client.get("/alerts", params={"severity": "minor"}).text
    assert f'data-alert="{minor}"' in only_minor
    assert f'data-alert="{critical}"' not in only_minor
    counts = re.search(r'data-severity="critical">[^<]*?(\d+)<', client.get("/alerts").text)
    assert counts
    assert int(counts.group(1)) >= 1


def test_an_alert_in_another_keepers_warehouse_is_not_listed_nor_reachable(
    client: TestClient, db: Transaction, world: World
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["BF-F18"])
    csrf = sign_in_as(client, "supervisor")
    assert f'data-alert="{alert_id}"' not in client.get("/alerts").text
    assert client.post(f"/alerts/{alert_id}/acknowledge", headers=htmx(csrf)).status_code == 404


def test_a_viewer_without_the_right_is_offered_no_steps(
    client: TestClient, db: Transaction, world: World
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])
    sign_in_as(client, "bankviewer")
    page = client.get("/alerts").text
    assert f'data-alert="{alert_id}"' in page  # the bank's pledged goods are in that room
    assert f'hx-post="/alerts/{alert_id}/' not in page


def test_work_orders_show_their_sla_and_link_to_their_page(
    client: TestClient, db: Transaction, world: World
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])
    order_id = work_order_of(db.session, alert_id)
    sign_in_as(client, "supervisor")
    page = client.get("/work-orders").text
    assert f'data-work-order="{order_id}" data-sla="on_time"' in page
    assert f'href="/m/work-orders/{order_id}"' in page


# --- managing work orders: create, assign, cancel ---------------------------------------------------


def test_the_supervision_manager_creates_a_work_order_from_the_page(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    csrf = sign_in_as(client, "supervisor")
    page = client.get("/work-orders").text
    assert 'hx-post="/work-orders"' in page
    assert f'<option value="{world.users["inspector"]}">' in page  # the people the API accepts
    assert f'<option value="{world.users["keeper"]}">' not in page
    answer = client.post(
        "/work-orders",
        data={
            "kind": "patrol",
            "severity": "major",
            "title": "夜间巡库",
            "virtual_warehouse_id": str(world.vws["ys-frozen"]),
            "assignee_user_id": str(world.users["inspector"]),
        },
        headers=htmx(csrf),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["HX-Refresh"] == "true"
    made = client.get("/api/v1/work-orders", params={"kind": "patrol"}, headers=auth("supervisor")).json()
    assert [(o["title"], o["status"], o["assignee_user_id"]) for o in made] == [
        ("夜间巡库", "assigned", world.users["inspector"])
    ]


def test_a_work_order_without_a_place_or_with_a_short_title_is_refused_as_the_api_refuses_it(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    csrf = sign_in_as(client, "supervisor")
    nowhere = client.post("/work-orders", data={"kind": "stocktake", "title": "盘点"}, headers=htmx(csrf))
    api = client.post(
        "/api/v1/work-orders", json={"kind": "stocktake", "title": "盘点"}, headers=auth("supervisor")
    )
    assert nowhere.status_code == api.status_code == 422
    assert api.json()["detail"] in nowhere.text
    short = client.post(
        "/work-orders",
        data={"kind": "stocktake", "title": "x", "room_id": str(world.rooms["YS-F18"])},
        headers=htmx(csrf),
    )
    assert short.status_code == 422
    assert "title" in short.text
    elsewhere = client.post(
        "/work-orders",
        data={"kind": "stocktake", "title": "盘点", "room_id": str(world.rooms["BF-F18"])},
        headers=htmx(csrf),
    )
    api_elsewhere = client.post(
        "/api/v1/work-orders",
        json={"kind": "stocktake", "title": "盘点", "room_id": world.rooms["BF-F18"]},
        headers=auth("supervisor"),
    )
    assert elsewhere.status_code == api_elsewhere.status_code == 422  # another supervisor's room
    assert api_elsewhere.json()["detail"] in elsewhere.text


def test_the_manager_assigns_then_cancels_a_work_order_and_the_row_follows(
    client: TestClient, db: Transaction, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    order_id = work_order_of(db.session, raise_alert(db.uow, world.rooms["YS-F18"]))
    csrf = sign_in_as(client, "supervisor")
    page = client.get("/work-orders").text
    assert f'hx-post="/work-orders/{order_id}/assign"' in page
    assert f'hx-post="/work-orders/{order_id}/cancel"' in page
    keeper = client.post(
        f"/work-orders/{order_id}/assign", data={"user_id": str(world.users["keeper"])}, headers=htmx(csrf)
    )
    api = client.post(
        f"/api/v1/work-orders/{order_id}/assign",
        json={"user_id": world.users["keeper"]},
        headers=auth("supervisor"),
    )
    assert keeper.status_code == api.status_code == 422
    assert api.json()["detail"] in html.unescape(keeper.text)
    assigned = client.post(
        f"/work-orders/{order_id}/assign",
        data={"user_id": str(world.users["inspector2"]), "note": "就近处理"},
        headers=htmx(csrf),
    )
    assert assigned.status_code == 200, assigned.text
    assert f'data-assignee="{world.users["inspector2"]}"' in assigned.text
    reasonless = client.post(f"/work-orders/{order_id}/cancel", data={"reason": "x"}, headers=htmx(csrf))
    assert reasonless.status_code == 422
    assert "reason" in reasonless.text
    cancelled = client.post(f"/work-orders/{order_id}/cancel", data={"reason": "误报"}, headers=htmx(csrf))
    assert cancelled.status_code == 200, cancelled.text
    assert 'data-status="cancelled"' in cancelled.text
    assert f'hx-post="/work-orders/{order_id}/' not in cancelled.text  # nothing more to do
    order = client.get(f"/api/v1/work-orders/{order_id}", headers=auth("supervisor")).json()
    assert (order["status"], order["cancel_reason"]) == ("cancelled", "误报")


def test_an_inspector_is_offered_no_management_steps(
    client: TestClient, db: Transaction, world: World
) -> None:
    order_id = work_order_of(db.session, raise_alert(db.uow, world.rooms["YS-F18"]))
    csrf = sign_in_as(client, "inspector")
    page = client.get("/work-orders").text
    assert f'data-work-order="{order_id}"' in page
    assert 'hx-post="/work-orders"' not in page
    assert f'hx-post="/work-orders/{order_id}/' not in page
    refused = client.post(f"/work-orders/{order_id}/cancel", data={"reason": "误报"}, headers=htmx(csrf))
    assert refused.status_code == 403
