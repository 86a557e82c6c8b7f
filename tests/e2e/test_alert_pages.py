"""The alert and work-order pages: each viewer's alerts with the steps its role may take, each step
taken from the page changing the alert as the API shows it, and work orders by SLA."""

from __future__ import annotations

import re

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
