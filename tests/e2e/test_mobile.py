"""The phone app's work orders (/m/): a field inspector sees the orders assigned to them, most urgent
first, and works one through the same services as the JSON API, whose refusals it shows word for
word."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient

from tests.alerting import raise_alert, work_order_of
from tests.pages import htmx, sign_in_as
from tests.support import ok, tiny_png
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]


def _order(db: TestDB, world: World, room: str, severity: str, rule: str = "temperature_band") -> int:
    return work_order_of(db.session, raise_alert(db.uow, world.rooms[room], severity=severity, rule=rule))


def _listed(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-order-id="(\d+)"', html)]


def _done(response: Any) -> str:
    """The work order as it now stands, which every action answers with."""
    assert response.status_code == 200, response.text
    assert 'id="work-order"' in response.text
    return str(response.text)


def _api(client: TestClient, auth: Auth, order_id: int) -> dict[str, Any]:
    detail: dict[str, Any] = ok(client.get(f"/api/v1/work-orders/{order_id}", headers=auth("inspector")))
    return detail


def test_the_inspector_sees_the_work_orders_assigned_to_them_most_urgent_first(
    db: TestDB, world: World, client: TestClient
) -> None:
    major = _order(db, world, "YS-F25", "major")
    critical = _order(db, world, "YS-F18", "critical")
    elsewhere = _order(db, world, "DJ-F18", "critical")
    sign_in_as(client, "inspector")

    page = client.get("/m/")

    assert page.status_code == 200
    listed = _listed(page.text)
    assert critical in listed
    assert major in listed
    assert listed.index(critical) < listed.index(major)
    assert elsewhere not in listed
    assert 'rel="manifest" href="/m/manifest.webmanifest"' in page.text
    assert "YS-F18 room" in page.text  # where: the room the inspector walks to


def test_the_supervision_manager_sees_the_orders_of_every_warehouse_it_supervises(
    db: TestDB, world: World, client: TestClient
) -> None:
    yangshan = _order(db, world, "YS-F18", "major")
    dongjiang = _order(db, world, "DJ-F18", "major")
    sign_in_as(client, "supervisor")

    listed = _listed(client.get("/m/").text)

    assert {yangshan, dongjiang} <= set(listed)


def test_a_work_order_in_another_warehouse_is_not_found(db: TestDB, world: World, client: TestClient) -> None:
    elsewhere = _order(db, world, "DJ-F18", "critical")
    csrf = sign_in_as(client, "inspector")

    assert client.get(f"/m/work-orders/{elsewhere}").status_code == 404
    refused = client.post(f"/m/work-orders/{elsewhere}/acknowledge", headers=htmx(csrf))
    assert refused.status_code == 404


def test_the_inspector_works_an_order_through_and_the_api_shows_each_step(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    order_id = _order(db, world, "YS-F18", "critical")
    csrf = sign_in_as(client, "inspector")
    url = f"/m/work-orders/{order_id}"
    page = client.get(url)
    assert 'data-status="assigned"' in page.text
    assert 'data-acknowledged="no"' in page.text
    assert f'action="{url}/acknowledge"' in page.text

    acknowledged = client.post(f"{url}/acknowledge", headers=htmx(csrf))
    assert acknowledged.status_code == 200
    assert 'data-acknowledged="yes"' in acknowledged.text
    assert f'action="{url}/acknowledge"' not in acknowledged.text
    assert _api(client, auth, order_id)["acknowledged_by_user_id"] == world.users["inspector"]

    data = {"latitude_e6": "30626000", "longitude_e6": "122066000", "accuracy_m": "12"}
    _done(client.post(f"{url}/check-in", data=data, headers=htmx(csrf)))
    with_photo = client.post(
        f"{url}/comment",
        data={"text": "门封条完好"},
        files={"photo": ("door.png", tiny_png(71), "image/png")},
        headers=htmx(csrf),
    )
    assert with_photo.status_code == 200
    _done(client.post(f"{url}/comment", data={"text": "温度已回落"}, headers=htmx(csrf)))
    _done(client.post(f"{url}/start", headers=htmx(csrf)))
    resolved = client.post(f"{url}/resolve", data={"resolution": "更换继电器，温度回落"}, headers=htmx(csrf))

    assert 'data-status="pending_review"' in resolved.text
    detail = _api(client, auth, order_id)
    assert detail["status"] == "pending_review"
    assert detail["resolution"] == "更换继电器，温度回落"
    assert [(c["latitude_e6"], c["accuracy_m"]) for c in detail["check_ins"]] == [(30_626_000, 12)]
    assert [c["text"] for c in detail["comments"]] == ["门封条完好", "温度已回落"]
    sha = detail["comments"][0]["attachments"][0]
    assert f"/api/v1/work-orders/{order_id}/attachments/{sha}" in resolved.text
    assert client.get(f"/api/v1/work-orders/{order_id}/attachments/{sha}").content == tiny_png(71)
    # Resolved, the order offers the inspector nothing more; its reviewer closes it.
    assert f'action="{url}/close"' not in resolved.text
    reviewer = sign_in_as(client, "supervisor")
    assert f'action="{url}/close"' in client.get(url).text
    closed = client.post(f"{url}/close", data={"review_note": "照片与温度曲线一致"}, headers=htmx(reviewer))
    assert 'data-status="closed"' in closed.text
    assert _api(client, auth, order_id)["status"] == "closed"


def test_an_action_without_the_security_token_is_refused_and_changes_nothing(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    order_id = _order(db, world, "YS-F18", "major")
    sign_in_as(client, "inspector")

    refused = client.post(f"/m/work-orders/{order_id}/acknowledge", headers={"HX-Request": "true"})

    assert refused.status_code == 403
    assert "security token" in refused.text
    assert _api(client, auth, order_id)["acknowledged_at"] is None


def test_a_refusal_reads_as_the_apis_own_message(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    order_id = _order(db, world, "YS-F18", "major")
    csrf = sign_in_as(client, "inspector")
    url = f"/m/work-orders/{order_id}"
    api = f"/api/v1/work-orders/{order_id}"

    # Not started yet: the state machine refuses, in the API's words.
    early = client.post(f"{url}/resolve", data={"resolution": "已处理"}, headers=htmx(csrf))
    api_early = client.post(f"{api}/resolve", json={"resolution": "已处理"}, headers=auth("inspector"))
    assert (early.status_code, api_early.status_code) == (409, 409)
    assert api_early.json()["detail"] in early.text

    _done(client.post(f"{url}/start", headers=htmx(csrf)))
    # Too short a resolution: the same field named, the same sentence.
    short = client.post(f"{url}/resolve", data={"resolution": "x"}, headers=htmx(csrf))
    api_short = client.post(f"{api}/resolve", json={"resolution": "x"}, headers=auth("inspector"))
    assert (short.status_code, api_short.status_code) == (422, 422)
    assert api_short.json()["detail"] in short.text
    assert 'role="alert"' in short.text

    empty = client.post(f"{url}/comment", data={"text": ""}, headers=htmx(csrf))
    api_empty = client.post(f"{api}/comments", json={"text": ""}, headers=auth("inspector"))
    assert empty.status_code == 422
    assert api_empty.json()["detail"] in empty.text


def test_the_web_app_manifest_opens_the_phone_app_standalone(client: TestClient) -> None:
    manifest = client.get("/m/manifest.webmanifest")

    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert (body["start_url"], body["display"]) == ("/m/", "standalone")
    assert "冷链监管" in body["name"]
    assert "coldpledge" in body["name"]
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_signed_out_the_phone_app_sends_to_the_sign_in_page_and_back(client: TestClient) -> None:
    response = client.get("/m/", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fm%2F"


def test_the_service_worker_is_served_for_the_phone_app_s_scope_and_always_checked_for_a_new_one(
    client: TestClient,
) -> None:
    worker = client.get("/m/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["cache-control"] == "no-cache"
    assert '"/m/offline"' in worker.text


def test_the_page_for_no_network_names_nobody_and_speaks_chinese_by_default(client: TestClient) -> None:
    page = client.get("/m/offline", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    assert "没有网络" in page.text
    assert "csrf" not in page.text.lower()
