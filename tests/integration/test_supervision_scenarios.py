"""The supervision scenarios of issue 5, end to end through the real path: devices publish over
MQTT to a real Mosquitto, the ingest worker stores the readings and judges them in the same
transaction, the scheduler escalates, and people act through the API.

1. A frozen room's compressor fails: a warning, then a critical alert at the readings' times; the
   work order goes to the warehouse's inspector, escalates to the supervision manager when nobody
   acknowledges it within the SLA, is acknowledged, commented with a photo, resolved and closed by
   a reviewer; the room recovers and the condition resolves. Every step is in the evidence outbox.
2. A probe is moved into a cold box while the room warms: the sensor-disagreement rule catches it.

The readings carry event times in the past (hours ago, one a minute), so the whole story is
replayed in seconds; the only waiting is for the worker's commits, polled with a deadline. The
scenarios commit, so they run in a database of their own (``tests.scenario.private_site``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.iot.models import Reading
from coldpledge.notify.models import InboxItem
from coldpledge.rules import scheduler
from coldpledge.warehouses import service as warehouses
from tests.conftest import POSTGRES_URL
from tests.iot import Sender, new_device
from tests.mqtt import MosquittoBroker, mosquitto
from tests.scenario import Publisher, Site, private_site, worker_thread
from tests.support import tiny_png, wait_for

pytestmark = pytest.mark.timeout(300)

PATIENCE_S = 60.0


@pytest.fixture(scope="module")
def site(settings: Settings) -> Iterator[Site]:
    with private_site(settings, POSTGRES_URL) as built:
        # DJ-F18 is alone in its virtual warehouse, under the frozen template; its supervisor
        # (中储监管, Sam) puts an inspector (Ian) on it, who is who the alerts go to first.
        warehouses.assign_staff(
            built.uow(),
            built.world.who("supervisor"),
            built.world.vws["dj-frozen"],
            built.world.users["inspector2"],
        )
        yield built


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with mosquitto(tmp_path / "broker") as running:
        yield running


def minute(start: datetime, n: int) -> datetime:
    return start + timedelta(minutes=n)


def probes(site: Site, room: str, count: int) -> list[Sender]:
    return [new_device(site.uow(), site.world.who("admin"), site.world.rooms[room]) for _ in range(count)]


def stored(site: Site, senders: list[Sender]) -> int:
    with site.reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Reading)
                .where(Reading.device_id.in_([sender.id for sender in senders]))
            )
            or 0
        )


def alerts(site: Site, subject: str, rule: str) -> list[Alert]:
    with site.reading() as session:
        return list(
            session.scalars(
                select(Alert).where(Alert.subject == subject, Alert.rule == rule).order_by(Alert.id)
            )
        )


def the_alert(site: Site, subject: str, rule: str) -> Alert:
    (alert,) = alerts(site, subject, rule)
    return alert


def history(site: Site, subject_ref: str) -> list[tuple[AuditEvent, int]]:
    """The audit events on a subject, oldest first, each with how many evidence entries it has."""
    with site.reading() as session:
        rows = session.execute(
            select(AuditEvent, func.count(EvidenceOutbox.id))
            .outerjoin(EvidenceOutbox, EvidenceOutbox.audit_event_id == AuditEvent.id)
            .where(AuditEvent.subject_ref == subject_ref)
            .group_by(AuditEvent.id)
            .order_by(AuditEvent.id)
        ).all()
        return [(event, int(entries)) for event, entries in rows]


def transition_at(event: AuditEvent) -> datetime:
    data: dict[str, Any] = (event.after or {})["_data"]["transition"]
    return datetime.fromisoformat(str(data["at"]).replace("Z", "+00:00"))


def compressor_failure() -> tuple[list[float], list[float]]:
    """A frozen room at -20 °C whose compressor fails, one reading a minute: minutes 0–75 and
    then its recovery, minutes 76–100.

    Never more than 3 °C in 10 minutes (no rate-of-rise alert): -20 °C for 10 minutes; 0.3 °C a
    minute to -17.9 °C at minute 16, the first reading above -18 °C; 0.05 °C a minute to -16.45 °C
    at minute 45; 0.2 °C a minute from there, first above -15 °C at minute 53 (-14.85 °C), to
    -10.45 °C at minute 75. Repaired, it cools 1 °C a minute: -19.45 °C at minute 84, the first
    reading back past the hysteresis margin (-18.5 °C), and -20 °C from minute 85."""
    failing = [-20.0] * 10
    failing += [round(-19.7 + 0.3 * (m - 10), 2) for m in range(10, 17)]
    failing += [round(-17.9 + 0.05 * (m - 16), 2) for m in range(17, 46)]
    failing += [round(-16.45 + 0.2 * (m - 45), 2) for m in range(46, 76)]
    recovering = [max(round(-10.45 - (m - 75), 2), -20.0) for m in range(76, 101)]
    return failing, recovering


def test_a_failing_compressor_is_alerted_escalated_handled_and_closed_with_every_step_evidenced(
    site: Site, broker: MosquittoBroker
) -> None:
    world = site.world
    (probe,) = probes(site, "DJ-F18", 1)
    subject = f"device:{probe.id}"
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=3)
    failing, recovering = compressor_failure()
    assert (failing[15], failing[16]) == (-18.2, -17.9), "minute 16 is the first above -18 °C"
    assert (failing[52], failing[53]) == (-15.05, -14.85), "minute 53 is the first above -15 °C"
    assert (recovering[83 - 76], recovering[84 - 76]) == (-18.45, -19.45), "minute 84 back past -18.5 °C"

    publisher = Publisher(broker.host, broker.port)
    try:
        with worker_thread(site.database, site.settings, broker.url):
            sent = publisher.readings([(probe, failing)], start)
            wait_for(lambda: stored(site, [probe]) == sent, PATIENCE_S, "the failing room's readings")

            # --- the alert: pending from the first reading above -18 °C, a warning (major) 30
            # minutes later, critical 10 minutes after the first reading above -15 °C.
            alert = the_alert(site, subject, "temperature_band")
            assert alert.room_id == world.rooms["DJ-F18"]
            assert alert.virtual_warehouse_id == world.vws["dj-frozen"]
            assert alert.status == "open"
            assert alert.condition == "firing"
            assert alert.severity == "critical"
            assert alert.first_transition_at == minute(start, 16)
            assert alert.triggered_at == minute(start, 63)
            assert alert.trigger["value_mc"] == -12_850
            assert alert.trigger["device"] == probe.id
            steps = history(site, alert.subject_ref)
            assert [event.action for event, _ in steps] == [
                "alert.pending",
                "alert.opened",
                "alert.severity_raised",
            ]
            pending, warning, critical = (event for event, _ in steps)
            assert transition_at(pending) == minute(start, 16)
            assert (warning.after or {})["severity"] == "major"
            assert transition_at(warning) == minute(start, 46), "30 minutes above -18 °C"
            assert (critical.after or {})["severity"] == "critical"
            assert transition_at(critical) == minute(start, 63), "10 minutes above -15 °C"
            assert not alerts(site, subject, "rate_of_rise"), "never 3 °C within 10 minutes"

            # --- the work order: one, opened by the warning, assigned to the inspector on the
            # warehouse, raised to critical with the alert.
            with site.reading() as session:
                (order,) = session.scalars(select(WorkOrder).where(WorkOrder.alert_id == alert.id)).all()
                critical_told = set(
                    session.scalars(
                        select(InboxItem.user_id).where(
                            InboxItem.kind == "alert.critical", InboxItem.subject_ref == alert.subject_ref
                        )
                    )
                )
                assigned_told = set(
                    session.scalars(
                        select(InboxItem.user_id).where(
                            InboxItem.kind == "work_order.assigned",
                            InboxItem.subject_ref == order.subject_ref,
                        )
                    )
                )
            assert order.kind == "alert_response"
            assert order.status == "assigned"
            assert order.severity == "critical"
            assert order.assignee_user_id == world.users["inspector2"]
            assert order.acknowledge_by == order.opened_at + timedelta(minutes=15), "the critical SLA"
            assert assigned_told == {world.users["inspector2"]}
            assert len(critical_told) >= 3, "a critical alert reaches at least three people"
            assert {world.users["inspector2"], world.users["supervisor"]} <= critical_told

            # --- nobody acknowledges within 15 minutes: the scheduler escalates it to the
            # supervision manager, once, and not before the deadline.
            early = scheduler.tick(site.database, site.settings, order.acknowledge_by - timedelta(minutes=1))
            assert "work_order.escalated" not in [
                event.action for event, _ in history(site, order.subject_ref)
            ]
            late = order.acknowledge_by + timedelta(minutes=1)
            report = scheduler.tick(site.database, site.settings, late)
            assert not [name for name, done in {**early, **report}.items() if "error" in done]
            assert report["escalation"]["escalated"] >= 1
            with site.reading() as session:
                escalated = session.get_one(WorkOrder, order.id)
                told = set(
                    session.scalars(
                        select(InboxItem.user_id).where(
                            InboxItem.kind == "work_order.escalated",
                            InboxItem.subject_ref == order.subject_ref,
                        )
                    )
                )
            assert escalated.escalation_level == 1
            assert world.users["supervisor"] in told

            # --- the inspector acknowledges, checks in, photographs and comments, through the API.
            site.offset = late - datetime.now(UTC) + timedelta(minutes=1)
            ian, sam = site.auth("inspector2"), site.auth("supervisor")
            with site.client() as client:
                listed = client.get("/api/v1/work-orders", params={"alert_id": alert.id}, headers=ian)
                assert listed.status_code == 200, listed.text
                assert [row["id"] for row in listed.json()] == [order.id]
                answer = client.post(f"/api/v1/work-orders/{order.id}/acknowledge", json={}, headers=ian)
                assert answer.status_code == 200, answer.text
                answer = client.post(f"/api/v1/alerts/{alert.id}/acknowledge", json={}, headers=ian)
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "acknowledged"
                answer = client.post(f"/api/v1/work-orders/{order.id}/start", json={}, headers=ian)
                assert answer.status_code == 200, answer.text
                answer = client.post(
                    f"/api/v1/work-orders/{order.id}/check-ins",
                    json={"latitude_e6": 38_983_000, "longitude_e6": 117_744_000, "accuracy_m": 8},
                    headers=ian,
                )
                assert answer.status_code == 201, answer.text
                photo = client.post(
                    f"/api/v1/work-orders/{order.id}/attachments",
                    files={"file": ("compressor.png", tiny_png(77), "image/png")},
                    data={"note": "压缩机停机，冷风机结霜"},
                    headers=ian,
                )
                assert photo.status_code == 201, photo.text
                (sha256,) = photo.json()["attachments"]
                answer = client.post(
                    f"/api/v1/work-orders/{order.id}/comments",
                    json={"text": "已联系维修，压缩机更换启动电容", "attachments": [sha256]},
                    headers=ian,
                )
                assert answer.status_code == 201, answer.text

            # Acknowledged: the scheduler leaves it alone from now on (the device's own silence
            # since the last reading is another alert, with its own work order).
            scheduler.tick(site.database, site.settings, late + timedelta(hours=2))
            after = [event.action for event, _ in history(site, order.subject_ref)]
            assert after.count("work_order.escalated") == 1
            assert "work_order.reminded" not in after

            # --- repaired, the room cools back: the condition resolves 5 minutes (clear_minutes)
            # after the first reading back past the margin.
            sent += publisher.readings([(probe, recovering)], minute(start, 76))
            wait_for(lambda: stored(site, [probe]) == sent, PATIENCE_S, "the recovering room's readings")
            recovered = the_alert(site, subject, "temperature_band")
            assert recovered.condition == "resolved"
            assert recovered.status == "resolved"
            assert recovered.last_transition_at == minute(start, 89)

            # --- the inspector resolves the order; only a reviewer, not the inspector, closes it.
            site.offset += timedelta(minutes=30)
            ian, sam = site.auth("inspector2"), site.auth("supervisor")
            with site.client() as client:
                answer = client.post(
                    f"/api/v1/work-orders/{order.id}/resolve",
                    json={"resolution": "更换压缩机启动电容，库温恢复至 -20 °C；货物温度抽检合格"},
                    headers=ian,
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "pending_review"
                refused = client.post(
                    f"/api/v1/work-orders/{order.id}/close", json={"review_note": "自查"}, headers=ian
                )
                assert refused.status_code == 403, refused.text
                answer = client.post(
                    f"/api/v1/work-orders/{order.id}/close",
                    json={"review_note": "复核：维修单与照片一致，温度记录已恢复"},
                    headers=sam,
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "closed"
                detail = client.get(f"/api/v1/alerts/{alert.id}", headers=sam)
                assert detail.status_code == 200, detail.text
                assert detail.json()["status"] == "closed"
                got = client.get(f"/api/v1/work-orders/{order.id}/attachments/{sha256}", headers=sam)
                assert got.status_code == 200
                assert got.content == tiny_png(77)
    finally:
        publisher.close()

    # --- every step is in the audit trail, and each audit event has its evidence entry.
    alert_steps = history(site, alert.subject_ref)
    assert [event.action for event, _ in alert_steps] == [
        "alert.pending",
        "alert.opened",
        "alert.severity_raised",
        "alert.acknowledged",
        "alert.resolved",
        "alert.closed",
    ]
    order_steps = history(site, order.subject_ref)
    assert [event.action for event, _ in order_steps] == [
        "work_order.opened",
        "work_order.severity_raised",
        "work_order.escalated",
        "work_order.acknowledge",
        "work_order.start",
        "work_order.check_in",
        "work_order.comment",
        "work_order.comment",
        "work_order.resolve",
        "work_order.close",
    ]
    assert all(entries == 1 for _, entries in alert_steps + order_steps), "one evidence entry per step"
    by_action = {event.action: event for event, _ in alert_steps + order_steps}
    assert by_action["work_order.close"].actor_user_id == world.users["supervisor"]
    assert by_action["alert.closed"].actor_user_id == world.users["supervisor"]
    assert by_action["work_order.resolve"].actor_user_id == world.users["inspector2"]
    with site.reading() as session:
        related = session.scalars(
            select(EvidenceOutbox.entry).where(
                EvidenceOutbox.audit_event_id == by_action["alert.severity_raised"].id
            )
        ).one()
    assert f"room:{world.rooms['DJ-F18']}".encode() in related, "the room's owners find it in evidence"


def tamper(
    site: Site, broker: MosquittoBroker, room: str, offsets: tuple[float, ...]
) -> tuple[Sender, list[Sender], datetime]:
    """Everyone at -20 °C for 10 minutes; then one probe sits in a cold box at -25 °C while the
    room warms 0.2 °C a minute (its other probes ``offsets`` apart), past -15 °C at minute 35
    (-14.8 °C), to -12 °C at minute 49. The moved probe, its peers, and when it started."""
    moved, *peers = probes(site, room, 1 + len(offsets))
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    series = [(moved, [-20.0] * 10 + [-25.0] * 40)]
    for offset, peer in zip(offsets, peers, strict=True):
        series.append((peer, [round(-20.0 + offset + 0.2 * max(m - 9, 0), 2) for m in range(50)]))
    assert min(values[-1] for _, values in series[1:]) > -15, "the room warms past -15 °C"
    publisher = Publisher(broker.host, broker.port)
    try:
        with worker_thread(site.database, site.settings, broker.url):
            sent = publisher.readings(series, start)
            wait_for(lambda: stored(site, [moved, *peers]) == sent, PATIENCE_S, "the room's readings")
    finally:
        publisher.close()
    return moved, peers, start


def test_a_probe_moved_into_a_cold_box_while_the_room_warms_is_caught_disagreeing_with_its_peers(
    site: Site, broker: MosquittoBroker
) -> None:
    moved, peers, start = tamper(site, broker, "BF-F18", (-0.1, 0.0, 0.1))

    alert = the_alert(site, f"device:{moved.id}", "sensor_disagreement")
    assert alert.severity == "critical"
    assert alert.status == "open"
    assert alert.room_id == site.world.rooms["BF-F18"]
    # 5 °C below its peers from its first reading in the box, for the rule's 15 minutes.
    assert alert.first_transition_at == minute(start, 10)
    assert alert.triggered_at == minute(start, 25)
    assert alert.trigger["value_mc"] == -25_000
    assert alert.trigger["room_median_mc"] > -20_000
    for peer in peers:
        assert not alerts(site, f"device:{peer.id}", "sensor_disagreement"), "the peers agree"
    with site.reading() as session:
        order = session.scalars(select(WorkOrder).where(WorkOrder.alert_id == alert.id)).one()
        told = set(
            session.scalars(
                select(InboxItem.user_id).where(
                    InboxItem.kind == "alert.critical", InboxItem.subject_ref == alert.subject_ref
                )
            )
        )
    assert order.severity == "critical"
    # No inspector on this warehouse and no active pledge on its goods: the supervision manager
    # handles it, the keeper hears of it, and the platform's operator makes the third.
    assert order.assignee_user_id == site.world.users["supervisor2"]
    assert told == {site.world.users[name] for name in ("supervisor2", "keeper2", "admin")}


def test_with_only_two_peers_the_cold_box_probe_is_the_only_one_found_disagreeing(
    site: Site, broker: MosquittoBroker
) -> None:
    moved, peers, _ = tamper(site, broker, "YS-F25", (-0.1, 0.1))

    assert the_alert(site, f"device:{moved.id}", "sensor_disagreement").severity == "critical"
    for peer in peers:
        assert not alerts(site, f"device:{peer.id}", "sensor_disagreement"), "the peers agree"
