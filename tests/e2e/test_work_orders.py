"""Work orders: assigned by severity to a named person, escalated until acknowledged, worked with
comments, photos and GPS check-ins, and closed by a reviewer who is not the one who handled it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from coldpledge.alerts.escalation import escalate_due
from coldpledge.alerts.models import WorkOrder
from coldpledge.notify.models import InboxItem
from coldpledge.warehouses.models import Warehouse
from tests.alerting import raise_alert
from tests.support import now, ok, tiny_png
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def _order_for(db: TestDB, world: World, room: str = "YS-F18", severity: str = "critical") -> int:
    alert_id = raise_alert(db.uow, world.rooms[room], severity=severity)
    with db.session() as session:
        order_id = session.scalar(select(WorkOrder.id).where(WorkOrder.alert_id == alert_id))
    assert order_id is not None
    return order_id


def _told(db: TestDB, order_id: int, kind: str) -> set[int]:
    with db.session() as session:
        return set(
            session.scalars(
                select(InboxItem.user_id).where(
                    InboxItem.kind == kind, InboxItem.subject_ref == f"work_order:{order_id}"
                )
            )
        )


def _notices(db: TestDB, order_id: int) -> int:
    """How many escalations and reminders this order has sent: other tests commit unacknowledged
    orders to the shared database, so ``escalate_due``'s own totals are not this order's."""
    with db.session() as session:
        return len(
            session.scalars(
                select(InboxItem.id).where(
                    InboxItem.kind.in_(["work_order.escalated", "work_order.reminder"]),
                    InboxItem.subject_ref == f"work_order:{order_id}",
                )
            ).all()
        )


def test_a_critical_work_order_is_handled_and_closed_by_a_reviewer_with_photo_and_check_in(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    order_id = _order_for(db, world)
    url = f"{API}/work-orders/{order_id}"
    assert _told(db, order_id, "work_order.assigned") == {world.users["inspector"]}

    ok(client.post(f"{url}/acknowledge", headers=auth("inspector"), json={"note": "马上到"}))
    visit = ok(
        client.post(
            f"{url}/check-ins",
            headers=auth("inspector"),
            json={"latitude_e6": 30_626_000, "longitude_e6": 122_066_000, "accuracy_m": 8},
        ),
        201,
    )
    # The Yangshan warehouse has no coordinates on record: the position is kept, the distance unknown.
    assert visit["distance_m"] is None
    ok(client.post(f"{url}/start", headers=auth("inspector")))
    photo = ok(
        client.post(
            f"{url}/attachments",
            headers=auth("inspector"),
            files={"file": ("door.png", tiny_png(51), "image/png")},
            data={"note": "压缩机停机"},
        ),
        201,
    )
    sha = photo["attachments"][0]
    ok(
        client.post(
            f"{url}/comments", headers=auth("supervisor"), json={"text": "照片收到", "attachments": [sha]}
        ),
        201,
    )
    assert client.get(f"{url}/attachments/{sha}", headers=auth("bank")).content == tiny_png(51)
    ok(
        client.post(
            f"{url}/resolve", headers=auth("inspector"), json={"resolution": "更换压缩机继电器，温度回落"}
        )
    )

    # The inspector who handled it may not close it, and a critical order needs the finding.
    assert client.post(f"{url}/close", headers=auth("inspector"), json={}).status_code == 403
    missing = client.post(f"{url}/close", headers=auth("supervisor"), json={})
    assert missing.status_code == 422
    closed = ok(
        client.post(
            f"{url}/close", headers=auth("supervisor"), json={"review_note": "现场照片与温度曲线一致"}
        )
    )
    assert (closed["status"], closed["reviewer_user_id"]) == ("closed", world.users["supervisor"])

    detail = ok(client.get(url, headers=auth("bank")))
    assert [c["text"] for c in detail["comments"]] == ["压缩机停机", "照片收到"]
    assert len(detail["check_ins"]) == 1
    assert [h["action"] for h in detail["history"]] == [
        "work_order.opened",
        "work_order.acknowledge",
        "work_order.check_in",
        "work_order.start",
        "work_order.comment",
        "work_order.comment",
        "work_order.resolve",
        "work_order.close",
    ]


def test_a_check_in_far_from_the_warehouse_shows_the_distance(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    with db.session() as session:
        session.execute(
            update(Warehouse)
            .where(Warehouse.id == world.warehouses["yangshan"])
            .values(latitude_e6=30_626_000, longitude_e6=122_066_000)
        )
        session.commit()
    order_id = _order_for(db, world)
    near = ok(
        client.post(
            f"{API}/work-orders/{order_id}/check-ins",
            headers=auth("inspector"),
            json={"latitude_e6": 30_626_500, "longitude_e6": 122_066_000},
        ),
        201,
    )
    far = ok(
        client.post(
            f"{API}/work-orders/{order_id}/check-ins",
            headers=auth("inspector"),
            json={"latitude_e6": 31_240_000, "longitude_e6": 121_500_000},
        ),
        201,
    )
    assert near["distance_m"] == 56
    assert far["distance_m"] > 60_000


def test_only_the_assignee_starts_and_resolves_and_resolving_needs_words(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    url = f"{API}/work-orders/{_order_for(db, world)}"
    assert client.post(f"{url}/start", headers=auth("supervisor")).status_code == 403
    ok(client.post(f"{url}/start", headers=auth("inspector")))
    assert (
        client.post(f"{url}/resolve", headers=auth("inspector"), json={"resolution": ""}).status_code == 422
    )
    assert (
        client.post(f"{url}/resolve", headers=auth("supervisor"), json={"resolution": "看过了"}).status_code
        == 403
    )


def test_a_work_order_is_never_closed_by_the_person_it_was_assigned_to(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    url = f"{API}/work-orders/{_order_for(db, world, severity='major')}"
    ok(client.post(f"{url}/assign", headers=auth("supervisor"), json={"user_id": world.users["supervisor"]}))
    ok(client.post(f"{url}/start", headers=auth("supervisor")))
    ok(client.post(f"{url}/resolve", headers=auth("supervisor"), json={"resolution": "探头移位，已复位"}))
    refused = client.post(f"{url}/close", headers=auth("supervisor"), json={"review_note": "ok"})
    assert refused.status_code == 403
    assert ok(client.get(url, headers=auth("supervisor")))["status"] == "pending_review"


def test_an_unacknowledged_order_climbs_the_chain_and_keeps_reminding_until_acknowledged(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    order_id = _order_for(db, world)
    start = now()
    escalate_due(db.uow(), start + timedelta(minutes=5))
    assert _notices(db, order_id) == 0, "not before the acknowledgement deadline"

    escalate_due(db.uow(), start + timedelta(minutes=16))
    assert _told(db, order_id, "work_order.escalated") == {
        world.users["inspector"],
        world.users["supervisor"],
    }
    escalate_due(db.uow(), start + timedelta(minutes=32))
    assert world.users["bank"] in _told(db, order_id, "work_order.escalated")
    assert world.users["bank2"] not in _told(db, order_id, "work_order.escalated")
    escalate_due(db.uow(), start + timedelta(minutes=48))
    assert _told(db, order_id, "work_order.reminder") >= {
        world.users["inspector"],
        world.users["supervisor"],
        world.users["bank"],
    }
    order = ok(client.get(f"{API}/work-orders/{order_id}", headers=auth("supervisor")))
    assert order["escalation_level"] == 2

    # The bank's risk officer, escalated to, may acknowledge: the reminders stop.
    ok(client.post(f"{API}/work-orders/{order_id}/acknowledge", headers=auth("bank")))
    told = _notices(db, order_id)
    escalate_due(db.uow(), start + timedelta(hours=2))
    assert _notices(db, order_id) == told


def test_before_escalation_only_the_assignee_and_the_managers_may_acknowledge(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    url = f"{API}/work-orders/{_order_for(db, world)}"
    assert client.post(f"{url}/acknowledge", headers=auth("bank")).status_code == 403
    ok(client.post(f"{url}/acknowledge", headers=auth("supervisor")))
    assert client.post(f"{url}/acknowledge", headers=auth("inspector")).status_code == 409


def test_a_manager_reassigns_an_order_and_the_new_assignee_sees_and_hears_of_it(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    order_id = _order_for(db, world)
    url = f"{API}/work-orders/{order_id}"
    assert client.get(url, headers=auth("inspector2")).status_code == 404
    assert (
        client.post(
            f"{url}/assign", headers=auth("supervisor"), json={"user_id": world.users["keeper"]}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{url}/assign", headers=auth("inspector"), json={"user_id": world.users["inspector2"]}
        ).status_code
        == 403
    )
    ok(client.post(f"{url}/assign", headers=auth("supervisor"), json={"user_id": world.users["inspector2"]}))
    assert ok(client.get(url, headers=auth("inspector2")))["assignee_user_id"] == world.users["inspector2"]
    assert world.users["inspector2"] in _told(db, order_id, "work_order.assigned")


def test_a_manager_cancels_a_false_alarm_and_the_inspector_may_not(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    url = f"{API}/work-orders/{_order_for(db, world)}"
    assert client.post(f"{url}/cancel", headers=auth("inspector"), json={"reason": "误报"}).status_code == 403
    cancelled = ok(client.post(f"{url}/cancel", headers=auth("supervisor"), json={"reason": "探头校准误报"}))
    assert cancelled["status"] == "cancelled"
    assert cancelled["allowed_actions"] == []
    assert (
        client.post(f"{url}/comments", headers=auth("supervisor"), json={"text": "补充"}).status_code == 409
    )


def test_a_manager_raises_a_stocktake_on_a_room_it_supervises(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    body = {"kind": "stocktake", "title": "月度盘点", "room_id": world.rooms["YS-C04"]}
    made = ok(client.post(f"{API}/work-orders", headers=auth("supervisor"), json=body), 201)
    # Nobody is assigned to the chilled virtual warehouse: the manager gets it.
    assert (made["status"], made["assignee_user_id"], made["severity"]) == (
        "assigned",
        world.users["supervisor"],
        "minor",
    )
    assert client.get(f"{API}/work-orders/{made['id']}", headers=auth("inspector")).status_code == 404
    assert client.post(f"{API}/work-orders", headers=auth("supervisor2"), json=body).status_code == 422
    assert (
        client.post(
            f"{API}/work-orders", headers=auth("supervisor"), json={**body, "kind": "alert_response"}
        ).status_code
        == 422
    )
    assert client.post(f"{API}/work-orders", headers=auth("inspector"), json=body).status_code == 403


def test_comments_may_only_refer_to_photos_that_were_uploaded(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    url = f"{API}/work-orders/{_order_for(db, world)}"
    refused = client.post(
        f"{url}/comments", headers=auth("inspector"), json={"text": "见照片", "attachments": ["ab" * 32]}
    )
    assert refused.status_code == 422
    assert client.get(f"{url}/attachments/{'ab' * 32}", headers=auth("inspector")).status_code == 404


def test_counts_tell_on_time_from_overdue(db: TestDB, world: World, client: TestClient, auth: Auth) -> None:
    before = ok(client.get(f"{API}/work-orders/counts", headers=auth("supervisor")))
    order_id = _order_for(db, world)
    after = ok(client.get(f"{API}/work-orders/counts", headers=auth("supervisor")))
    assert after["on_time"] - before["on_time"] == 1
    with db.session() as session:
        session.execute(
            update(WorkOrder)
            .where(WorkOrder.id == order_id)
            .values(acknowledge_by=now() - timedelta(minutes=1))
        )
        session.commit()
    late = ok(client.get(f"{API}/work-orders/counts", headers=auth("supervisor")))
    assert late["overdue"] - before["overdue"] == 1
    assert late["total"] == after["total"]


def test_work_orders_are_listed_per_role(db: TestDB, world: World, client: TestClient, auth: Auth) -> None:
    order_id = _order_for(db, world)

    def ids(persona: str, **params: Any) -> set[int]:
        return {
            row["id"] for row in ok(client.get(f"{API}/work-orders", params=params, headers=auth(persona)))
        }

    assert order_id in ids("bank")
    assert order_id not in ids("bank2")
    assert order_id in ids("inspector", status="assigned", severity="critical", kind="alert_response")
    assert order_id not in ids("inspector", status="closed")
    assert order_id in ids("keeper", room_id=world.rooms["YS-F18"], assignee_user_id=world.users["inspector"])
