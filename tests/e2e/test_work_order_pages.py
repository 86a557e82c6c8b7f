"""A work order's desktop page: the assignee acknowledges, starts, comments with a photo and resolves
it with a photo, and a reviewer of the supervisor closes it, each step as the API takes it and
refused in the API's words; people outside the order's place do not reach it."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.pages import htmx, sign_in_as
from tests.support import tiny_png
from tests.world import World

Auth = Callable[[str], dict[str, str]]


def patrol(client: TestClient, world: World, auth: Auth, severity: str = "major") -> int:
    """A patrol of the Yangshan frozen rooms, raised by Sam and assigned to Ivy."""
    made = client.post(
        "/api/v1/work-orders",
        json={
            "kind": "patrol",
            "severity": severity,
            "title": "夜间巡库",
            "virtual_warehouse_id": world.vws["ys-frozen"],
            "assignee_user_id": world.users["inspector"],
        },
        headers=auth("supervisor"),
    )
    assert made.status_code == 201, made.text
    order_id: int = made.json()["id"]
    return order_id


def test_the_assignee_works_a_work_order_from_its_page_and_the_manager_closes_it(
    client: TestClient, world: World, auth: Auth
) -> None:
    order_id = patrol(client, world, auth)
    csrf = sign_in_as(client, "inspector")
    page = client.get(f"/work-orders/{order_id}").text
    assert 'id="acknowledge"' in page
    assert 'id="start"' in page
    assert 'id="close"' not in page  # the assignee does not review its own work
    acknowledged = client.post(f"/work-orders/{order_id}/acknowledge", headers=htmx(csrf))
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.headers["HX-Refresh"] == "true"
    assert 'id="acknowledge"' not in client.get(f"/work-orders/{order_id}").text
    started = client.post(f"/work-orders/{order_id}/start", data={"note": "已到库区"}, headers=htmx(csrf))
    assert started.status_code == 200, started.text
    commented = client.post(
        f"/work-orders/{order_id}/comments",
        data={"text": "3号门密封条破损"},
        files={"photo": ("door.png", tiny_png(901), "image/png")},
        headers=htmx(csrf),
    )
    assert commented.status_code == 201, commented.text
    resolved = client.post(
        f"/work-orders/{order_id}/resolve",
        data={"resolution": "已更换密封条，复查温度正常"},
        files={"photo": ("fixed.png", tiny_png(902), "image/png")},
        headers=htmx(csrf),
    )
    assert resolved.status_code == 200, resolved.text
    order = client.get(f"/api/v1/work-orders/{order_id}", headers=auth("supervisor")).json()
    assert order["status"] == "pending_review"
    assert order["resolution"] == "已更换密封条，复查温度正常"
    assert [c["text"] for c in order["comments"]] == ["3号门密封条破损", ""]
    photos = [sha for c in order["comments"] for sha in c["attachments"]]
    assert len(photos) == 2
    page = client.get(f"/work-orders/{order_id}").text
    assert 'id="resolve"' not in page
    for sha in photos:
        assert f'href="/api/v1/work-orders/{order_id}/attachments/{sha}"' in page
        assert client.get(f"/api/v1/work-orders/{order_id}/attachments/{sha}").content.startswith(b"\x89PNG")

    manager = TestClient(client.app, headers={"Accept-Language": "en"})
    manager_csrf = sign_in_as(manager, "supervisor")
    assert 'id="close"' in manager.get(f"/work-orders/{order_id}").text
    closed = manager.post(
        f"/work-orders/{order_id}/close", data={"review_note": "复核照片无误"}, headers=htmx(manager_csrf)
    )
    assert closed.status_code == 200, closed.text
    order = manager.get(f"/api/v1/work-orders/{order_id}", headers=auth("supervisor")).json()
    assert (order["status"], order["review_note"]) == ("closed", "复核照片无误")
    assert 'data-action="work_order.close"' in manager.get(f"/work-orders/{order_id}").text


def test_a_resolution_or_comment_the_api_refuses_is_refused_on_the_page_and_changes_nothing(
    client: TestClient, world: World, auth: Auth
) -> None:
    order_id = patrol(client, world, auth)
    csrf = sign_in_as(client, "inspector")
    assert client.post(f"/work-orders/{order_id}/start", headers=htmx(csrf)).status_code == 200
    page = client.post(
        f"/work-orders/{order_id}/resolve",
        data={"resolution": "x"},
        files={"photo": ("fixed.png", tiny_png(903), "image/png")},
        headers=htmx(csrf),
    )
    api = client.post(
        f"/api/v1/work-orders/{order_id}/resolve", json={"resolution": "x"}, headers=auth("inspector")
    )
    assert page.status_code == api.status_code == 422
    assert "resolution" in page.text
    assert 'role="alert"' in page.text
    empty = client.post(f"/work-orders/{order_id}/comments", data={"text": ""}, headers=htmx(csrf))
    assert empty.status_code == 422
    assert "text" in empty.text
    script = client.post(
        f"/work-orders/{order_id}/comments",
        data={"text": "照片"},
        files={"photo": ("photo.png", b"#!/bin/sh\n", "image/png")},
        headers=htmx(csrf),
    )
    assert script.status_code == 415
    order = client.get(f"/api/v1/work-orders/{order_id}", headers=auth("inspector")).json()
    assert (order["status"], order["comments"]) == ("in_progress", [])


def test_the_manager_assigns_from_the_work_orders_page_and_the_page_shows_it_afresh(
    client: TestClient, world: World, auth: Auth
) -> None:
    order_id = patrol(client, world, auth)
    csrf = sign_in_as(client, "supervisor")
    page = client.get(f"/work-orders/{order_id}").text
    assert 'id="assign"' in page
    assert 'id="start"' not in page  # the order is Ivy's to work
    assigned = client.post(
        f"/work-orders/{order_id}/assign",
        data={"user_id": str(world.users["inspector2"]), "answer": "page"},
        headers=htmx(csrf),
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.headers["HX-Refresh"] == "true"
    assert 'id="assignee">Ian<' in client.get(f"/work-orders/{order_id}").text
    listed = client.get("/work-orders").text
    assert f'href="/work-orders/{order_id}"' in listed


def test_another_supervisor_does_not_reach_the_order_and_a_keeper_is_offered_no_step_of_it(
    client: TestClient, world: World, auth: Auth
) -> None:
    order_id = patrol(client, world, auth)
    sign_in_as(client, "supervisor2")
    assert client.get(f"/work-orders/{order_id}", headers={"Accept": "text/html"}).status_code == 404
    keeper = TestClient(client.app, headers={"Accept-Language": "en"})
    csrf = sign_in_as(keeper, "keeper")
    page = keeper.get(f"/work-orders/{order_id}")
    assert page.status_code == 200  # the keeper sees the work done in its warehouse
    for step in ('id="acknowledge"', 'id="start"', 'id="resolve"', 'id="close"', 'id="assign"'):
        assert step not in page.text
    started = keeper.post(f"/work-orders/{order_id}/start", headers=htmx(csrf))
    api = keeper.post(f"/api/v1/work-orders/{order_id}/start", headers=auth("keeper"))
    assert started.status_code == api.status_code == 403
