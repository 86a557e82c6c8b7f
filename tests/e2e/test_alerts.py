"""Alerts: from rule transitions to one open alert per condition, scoped to whoever owns the room,
with its work order, its notifications and its evidence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from coldpledge.alerts.models import WorkOrder
from coldpledge.audit.models import AuditEvent
from coldpledge.evidence.models import EvidenceRef
from coldpledge.notify.models import InboxItem
from coldpledge.warehouses import supervision
from coldpledge.warehouses.models import PolicyScope, TemperatureClass
from coldpledge.warehouses.policy import default_parameters
from coldpledge.warehouses.schemas import PolicyIn
from tests.alerting import apply, change, raise_alert
from tests.support import now, ok
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

Auth = Callable[[str], dict[str, str]]
API = "/api/v1"


def test_a_critical_condition_opens_an_alert_and_a_work_order_for_the_assigned_inspector(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])

    alert = ok(client.get(f"{API}/alerts/{alert_id}", headers=auth("supervisor")))
    assert (alert["status"], alert["condition"], alert["severity"]) == ("open", "firing", "critical")
    assert alert["trigger"]["value_mc"] == -14_800
    assert alert["room_id"] == world.rooms["YS-F18"]
    assert alert["warehouse_id"] == world.warehouses["yangshan"]
    assert alert["virtual_warehouse_id"] == world.vws["ys-frozen"]
    assert [entry["action"] for entry in alert["history"]] == ["alert.opened"]
    order = ok(client.get(f"{API}/work-orders/{alert['work_order_id']}", headers=auth("inspector")))
    assert (order["kind"], order["status"], order["assignee_user_id"]) == (
        "alert_response",
        "assigned",
        world.users["inspector"],
    )


def test_a_critical_alert_reaches_at_least_three_people_including_the_bank_with_goods_there(
    db: TestDB, world: World
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])
    with db.session() as session:
        told = set(
            session.scalars(
                select(InboxItem.user_id).where(
                    InboxItem.kind == "alert.critical", InboxItem.subject_ref == f"alert:{alert_id}"
                )
            )
        )
    expected = {world.users[name] for name in ("inspector", "supervisor", "bank", "keeper")}
    assert told == expected
    assert world.users["bank2"] not in told


def test_a_policy_asking_for_more_recipients_makes_the_platform_operators_make_up_the_number(
    db: TestDB, world: World
) -> None:
    parameters = default_parameters(TemperatureClass.FROZEN).model_copy(update={"alert_recipients_min": 5})
    supervision.set_policy(
        db.uow(),
        world.who("supervisor"),
        PolicyScope.VIRTUAL_WAREHOUSE,
        world.vws["ys-frozen"],
        PolicyIn(parameters=parameters, reason="GSP 之上：关键告警至少通知五人"),
    )
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"])
    with db.session() as session:
        told = set(
            session.scalars(
                select(InboxItem.user_id).where(
                    InboxItem.kind == "alert.critical", InboxItem.subject_ref == f"alert:{alert_id}"
                )
            )
        )
    on_site = {world.users[name] for name in ("inspector", "supervisor", "bank", "keeper")}
    assert on_site < told
    assert world.users["admin"] in told
    assert len(told) >= 5


def test_the_same_condition_firing_again_keeps_one_alert_and_one_work_order(db: TestDB, world: World) -> None:
    room = world.rooms["YS-F18"]
    first = raise_alert(db.uow, room)
    second = raise_alert(db.uow, room)
    assert first == second
    with db.session() as session:
        assert (
            session.scalar(select(func.count()).select_from(WorkOrder).where(WorkOrder.alert_id == first))
            == 1
        )


def test_a_pending_condition_is_not_yet_an_incident_and_one_that_clears_leaves_nothing_open(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    room = world.rooms["YS-F25"]
    subject = f"room:{room}"
    (alert,) = apply(db.uow, room, change("pending", subject=subject, severity="major"))
    assert alert.status == "pending"
    assert (
        ok(client.get(f"{API}/work-orders", params={"alert_id": alert.id}, headers=auth("supervisor"))) == []
    )

    (withdrawn,) = apply(db.uow, room, change("resolved", subject=subject, severity="major"))
    assert withdrawn.id == alert.id
    assert (withdrawn.status, withdrawn.condition) == ("closed", "resolved")


def test_a_pending_condition_that_fires_becomes_the_open_alert(db: TestDB, world: World) -> None:
    room = world.rooms["YS-F25"]
    subject = f"room:{room}"
    start = now()
    (pending,) = apply(db.uow, room, change("pending", subject=subject, at=start))
    (firing,) = apply(db.uow, room, change("firing", subject=subject, at=start + timedelta(minutes=10)))
    assert firing.id == pending.id
    assert firing.status == "open"
    assert firing.first_transition_at == start
    assert firing.triggered_at == start + timedelta(minutes=10)


def test_a_cleared_condition_resolves_the_alert_and_a_manager_closes_it(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    room = world.rooms["YS-C04"]
    subject = f"room:{room}"
    (alert,) = apply(db.uow, room, change(subject=subject, severity="minor"))
    ok(client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=auth("keeper"), json={"note": "在查"}))
    apply(db.uow, room, change("resolved", subject=subject, severity="minor"))

    resolved = ok(client.get(f"{API}/alerts/{alert.id}", headers=auth("supervisor")))
    assert (resolved["status"], resolved["condition"]) == ("resolved", "resolved")
    assert resolved["allowed_actions"] == ["close"]
    assert client.post(f"{API}/alerts/{alert.id}/close", headers=auth("inspector")).status_code == 404
    closed = ok(client.post(f"{API}/alerts/{alert.id}/close", headers=auth("supervisor"), json={}))
    assert closed["status"] == "closed"
    # The next time the condition comes, it is a new alert.
    later = now() + timedelta(hours=2)
    (again,) = apply(db.uow, room, change(subject=subject, severity="minor", at=later))
    assert again.id != alert.id


def test_a_condition_back_soon_after_clearing_reopens_its_alert_and_is_flapping_at_the_third_return(
    db: TestDB, world: World
) -> None:
    room = world.rooms["YS-F25"]
    subject = f"room:{room}"
    start = now()
    (alert,) = apply(db.uow, room, change(subject=subject, severity="minor", at=start))
    for flip in range(1, 4):
        moment = start + timedelta(minutes=10 * flip)
        apply(db.uow, room, change("resolved", subject=subject, severity="minor", at=moment))
        (back,) = apply(
            db.uow, room, change(subject=subject, severity="minor", at=moment + timedelta(minutes=5))
        )
        assert back.id == alert.id
        assert back.flips == flip
    assert back.flapping


def test_a_minor_alert_opens_no_work_order(db: TestDB, world: World, client: TestClient, auth: Auth) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"], severity="minor", rule="door_open")
    assert ok(client.get(f"{API}/alerts/{alert_id}", headers=auth("supervisor")))["work_order_id"] is None


def test_a_major_alert_that_turns_critical_tightens_its_work_order(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    room = world.rooms["YS-F18"]
    subject = f"room:{room}"
    (alert,) = apply(db.uow, room, change(subject=subject, severity="major"))
    apply(db.uow, room, change(subject=subject, severity="critical"))
    detail = ok(client.get(f"{API}/alerts/{alert.id}", headers=auth("supervisor")))
    assert detail["severity"] == "critical"
    order = ok(client.get(f"{API}/work-orders/{detail['work_order_id']}", headers=auth("supervisor")))
    assert order["severity"] == "critical"
    opened = order["opened_at"]
    assert order["acknowledge_by"] > opened


def test_each_party_sees_the_alerts_on_what_it_owns_and_nothing_else(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    on_collateral = raise_alert(db.uow, world.rooms["YS-F18"])
    empty_room = raise_alert(db.uow, world.rooms["YS-C04"])
    for persona in ("bank", "bankviewer", "borrower", "keeper", "supervisor", "inspector", "admin"):
        assert client.get(f"{API}/alerts/{on_collateral}", headers=auth(persona)).status_code == 200, persona
    for persona in ("bank2", "borrower2", "keeper2", "supervisor2", "inspector2", "insurer", "guarantor"):
        assert client.get(f"{API}/alerts/{on_collateral}", headers=auth(persona)).status_code == 404, persona
    # Nobody's goods are in the chilled room: only its keeper and its supervisor see its alerts.
    for persona in ("bank", "borrower", "inspector"):
        assert client.get(f"{API}/alerts/{empty_room}", headers=auth(persona)).status_code == 404, persona
    for persona in ("keeper", "supervisor"):
        assert client.get(f"{API}/alerts/{empty_room}", headers=auth(persona)).status_code == 200, persona
    listed = {row["id"] for row in ok(client.get(f"{API}/alerts", headers=auth("bank")))}
    assert on_collateral in listed
    assert empty_room not in listed


def test_alerts_are_listed_by_status_severity_rule_room_and_time(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    room = world.rooms["YS-F18"]
    critical = raise_alert(db.uow, room)
    minor = raise_alert(db.uow, room, severity="minor", rule="door_open")

    def ids(**params: Any) -> set[int]:
        return {
            row["id"] for row in ok(client.get(f"{API}/alerts", params=params, headers=auth("supervisor")))
        }

    assert {critical, minor} <= ids(room_id=room, status="open")
    assert critical not in ids(severity="minor")
    assert ids(rule="door_open", room_id=room) >= {minor}
    assert critical not in ids(rule="door_open")
    assert critical not in ids(**{"to": (now() - timedelta(hours=1)).isoformat()})
    assert critical in ids(**{"from": (now() - timedelta(hours=1)).isoformat()})


def test_counts_give_the_open_alerts_by_severity(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    before = ok(client.get(f"{API}/alerts/counts", headers=auth("bank")))
    raise_alert(db.uow, world.rooms["YS-F18"])
    raise_alert(db.uow, world.rooms["YS-F18"], severity="major", rule="sensor_disagreement")
    raise_alert(db.uow, world.rooms["YS-C04"])
    after = ok(client.get(f"{API}/alerts/counts", headers=auth("bank")))
    assert after["critical"] - before["critical"] == 1
    assert after["major"] - before["major"] == 1
    assert after["total"] - before["total"] == 2


def test_every_alert_transition_is_evidenced_for_the_room_the_warehouse_and_the_receipts_there(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    room = world.rooms["YS-F18"]
    subject = f"room:{room}"
    (alert,) = apply(db.uow, room, change("pending", subject=subject))
    apply(db.uow, room, change("firing", subject=subject))
    apply(db.uow, room, change("resolved", subject=subject))
    receipt = ok(client.get(f"{API}/receipts/{world.receipts['pledged']}", headers=auth("bank")))["code"]
    with db.session() as session:
        actions = list(
            session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_type == "alert", AuditEvent.subject_id == alert.id)
                .order_by(AuditEvent.id)
            )
        )
        assert actions == ["alert.pending", "alert.opened", "alert.resolved"]
        refs = set(
            session.scalars(
                select(EvidenceRef.ref).where(
                    EvidenceRef.ref.in_(
                        [
                            f"alert:{alert.id}",
                            f"room:{room}",
                            "warehouse:SH-YS",
                            "virtual_warehouse:VW-YS-F",
                            f"receipt:{receipt}",
                        ]
                    )
                )
            )
        )
    assert refs == {
        f"alert:{alert.id}",
        f"room:{room}",
        "warehouse:SH-YS",
        "virtual_warehouse:VW-YS-F",
        f"receipt:{receipt}",
    }


def test_only_supervision_and_the_keeper_acknowledge_an_alert(
    db: TestDB, world: World, client: TestClient, auth: Auth
) -> None:
    alert_id = raise_alert(db.uow, world.rooms["YS-F18"], severity="minor", rule="door_open")
    assert client.post(f"{API}/alerts/{alert_id}/acknowledge", headers=auth("borrower")).status_code == 403
    acknowledged = ok(client.post(f"{API}/alerts/{alert_id}/acknowledge", headers=auth("inspector")))
    assert acknowledged["status"] == "acknowledged"
    again = client.post(f"{API}/alerts/{alert_id}/acknowledge", headers=auth("supervisor"))
    assert again.status_code == 409
    assert again.json()["allowed_actions"] == ["resolve"]
    resolved = client.post(
        f"{API}/alerts/{alert_id}/resolve", headers=auth("supervisor"), json={"resolution": "门已关"}
    )
    assert ok(resolved)["resolved_by_user_id"] == world.users["supervisor"]
