"""The inbox and virtual-warehouse supervision pages: each viewer's own notifications, newest
first, marked read as the API marks them; a virtual warehouse's rooms, policy and its versions,
release windows and inspectors, changed from the page as the API changes them, by those it allows."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from coldpledge.db import utcnow
from coldpledge.notify.service import notify
from coldpledge.web.supervision_pages import router
from tests.conftest import TestDB as Transaction
from tests.pages import htmx, sign_in_as
from tests.world import World


@pytest.fixture
def app(db: Transaction) -> FastAPI:
    built = db.app()
    if not any(getattr(route, "path", None) == "/inbox" for route in built.routes):
        built.include_router(router)  # until app.py includes it
    return built


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"Accept-Language": "en"}) as test_client:
        yield test_client


def _tell(db: Transaction, user_id: int, title: str, minutes_ago: int) -> None:
    uow = db.uow()
    with uow:
        notify(
            uow,
            user_ids=[user_id],
            kind="work_order.assigned",
            subject_ref="work_order:1",
            title=title,
            body=title,
            severity="major",
            at=utcnow() - timedelta(minutes=minutes_ago),
        )
        uow.commit()


# --- the inbox -------------------------------------------------------------------------------------


def test_the_inbox_lists_the_viewers_own_notifications_newest_first_and_marks_them_read(
    client: TestClient, db: Transaction, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    _tell(db, world.users["inspector"], "较早的通知", 30)
    _tell(db, world.users["inspector"], "最新的通知", 1)
    _tell(db, world.users["inspector2"], "别人的通知", 1)
    csrf = sign_in_as(client, "inspector")
    page = client.get("/inbox").text
    assert "别人的通知" not in page
    assert page.index("最新的通知") < page.index("较早的通知")
    items = client.get("/api/v1/inbox", headers=auth("inspector")).json()
    newest = next(item["id"] for item in items if item["title"] == "最新的通知")
    assert f'data-inbox-item="{newest}" data-read="no"' in page
    read = client.post(f"/inbox/{newest}/read", headers=htmx(csrf))
    assert read.status_code == 200, read.text
    assert f'data-inbox-item="{newest}" data-read="yes"' in read.text
    assert next(
        i for i in client.get("/api/v1/inbox", headers=auth("inspector")).json() if i["id"] == newest
    )["read_at"]
    others = client.get("/api/v1/inbox", headers=auth("inspector2")).json()
    assert client.post(f"/inbox/{others[0]['id']}/read", headers=htmx(csrf)).status_code == 404
    assert client.post("/inbox/read-all", headers=htmx(csrf)).headers["HX-Refresh"] == "true"
    assert client.get("/api/v1/inbox/unread-count", headers=auth("inspector")).json() == {"unread": 0}
    assert 'data-unread="0"' in client.get("/inbox").text


# --- virtual warehouses ----------------------------------------------------------------------------


def test_the_supervisor_sees_rooms_policy_history_windows_and_staff(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    vw_id = world.vws["ys-frozen"]
    sign_in_as(client, "supervisor")
    assert f'href="/virtual-warehouses/{vw_id}"' in client.get("/virtual-warehouses").text
    page = client.get(f"/virtual-warehouses/{vw_id}").text
    api = client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("supervisor")).json()
    for room in api["rooms"]:
        assert f'data-room="{room["id"]}"' in page
    assert f'data-policy-version="{api["policy"]["version"]}"' in page
    for window in api["release_windows"]:
        assert f'data-window="{window["id"]}"' in page
    assert api["staff_user_ids"] == [world.users["inspector"]]
    assert f'data-staff="{world.users["inspector"]}"' in page
    assert 'id="add-window"' in page
    assert f'<option value="{world.users["inspector2"]}">' in page  # may be assigned
    assert f'<option value="{world.users["inspector"]}">' not in page  # already is


def test_release_windows_are_added_and_removed_from_the_page_with_the_apis_refusals(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    vw_id = world.vws["ys-chilled"]
    csrf = sign_in_as(client, "supervisor")
    bad = {"weekdays": "119", "start": "08:00", "end": "17:00"}
    refused = client.post(f"/virtual-warehouses/{vw_id}/release-windows", data=bad, headers=htmx(csrf))
    api = client.post(
        f"/api/v1/virtual-warehouses/{vw_id}/release-windows", json=bad, headers=auth("supervisor")
    )
    assert refused.status_code == api.status_code == 422
    assert "weekdays" in refused.text
    added = client.post(
        f"/virtual-warehouses/{vw_id}/release-windows",
        data={"weekdays": "67", "start": "09:00", "end": "12:00", "note": "周末上午"},
        headers=htmx(csrf),
    )
    assert added.status_code == 200, added.text
    windows = client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("supervisor")).json()[
        "release_windows"
    ]
    window = next(w for w in windows if w["note"] == "周末上午")
    assert (window["weekdays"], window["start"], window["end"]) == ("67", "09:00", "12:00")
    removed = client.post(
        f"/virtual-warehouses/{vw_id}/release-windows/{window['id']}/remove", headers=htmx(csrf)
    )
    assert removed.status_code == 200, removed.text
    after = client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("supervisor")).json()
    assert window["id"] not in [w["id"] for w in after["release_windows"]]
    again = client.post(
        f"/virtual-warehouses/{vw_id}/release-windows/{window['id']}/remove", headers=htmx(csrf)
    )
    assert again.status_code == 404


def test_inspectors_are_assigned_and_unassigned_from_the_page_with_the_apis_refusals(
    client: TestClient, world: World, auth: Callable[[str], dict[str, str]]
) -> None:
    vw_id = world.vws["ys-frozen"]
    csrf = sign_in_as(client, "supervisor")
    keeper = {"user_id": world.users["keeper"]}
    refused = client.post(f"/virtual-warehouses/{vw_id}/staff", data=keeper, headers=htmx(csrf))
    api = client.post(f"/api/v1/virtual-warehouses/{vw_id}/staff", json=keeper, headers=auth("supervisor"))
    assert refused.status_code == api.status_code == 422
    assert api.json()["detail"] in html.unescape(refused.text)
    twice = client.post(
        f"/virtual-warehouses/{vw_id}/staff", data={"user_id": world.users["inspector"]}, headers=htmx(csrf)
    )
    assert twice.status_code == 409
    assigned = client.post(
        f"/virtual-warehouses/{vw_id}/staff", data={"user_id": world.users["inspector2"]}, headers=htmx(csrf)
    )
    assert assigned.status_code == 200, assigned.text
    staff = client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("supervisor")).json()[
        "staff_user_ids"
    ]
    assert world.users["inspector2"] in staff
    unassigned = client.post(
        f"/virtual-warehouses/{vw_id}/staff/{world.users['inspector2']}/remove", headers=htmx(csrf)
    )
    assert unassigned.status_code == 200, unassigned.text
    staff = client.get(f"/api/v1/virtual-warehouses/{vw_id}", headers=auth("supervisor")).json()[
        "staff_user_ids"
    ]
    assert staff == [world.users["inspector"]]


def test_viewers_without_the_right_are_offered_no_changes_and_refused_them(
    client: TestClient, world: World
) -> None:
    vw_id = world.vws["ys-frozen"]
    csrf = sign_in_as(client, "inspector")
    page = client.get(f"/virtual-warehouses/{vw_id}")
    assert page.status_code == 200
    assert "hx-post" not in page.text.split("<main", 1)[-1].replace('hx-post="/logout"', "")
    refused = client.post(
        f"/virtual-warehouses/{vw_id}/staff", data={"user_id": world.users["inspector2"]}, headers=htmx(csrf)
    )
    assert refused.status_code in (403, 404)
    sign_in_as(client, "supervisor2")
    assert client.get(f"/virtual-warehouses/{vw_id}").status_code == 404
