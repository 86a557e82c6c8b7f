"""Devices send telemetry over HTTP with their token; operators read it back and see dead letters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from coldpledge.iot.models import DeadLetter, Reading, TelemetryMessage
from tests.conftest import TestDB as Transaction
from tests.iot import new_device, reading
from tests.world import World

Auth = Callable[[str], dict[str, str]]
T0 = datetime(2026, 11, 29, 0, 0, tzinfo=UTC)


def test_a_device_posts_signed_readings_and_they_are_read_back(
    db: Transaction, client: TestClient, world: World, auth: Auth
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    now = datetime.now(UTC)
    body = probe.raw(
        [reading(now - timedelta(seconds=60 - i), -19.5 + i / 10) for i in range(10)], sent_at=now
    )
    response = client.post(
        "/api/v1/telemetry", content=body, headers={"Authorization": f"Bearer {probe.token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 10

    again = client.post("/api/v1/telemetry", content=body, headers={"Authorization": f"Bearer {probe.token}"})
    assert again.json()["status"] == "duplicate"

    series = client.get(
        f"/api/v1/devices/{probe.id}/readings",
        params={
            "from": (now - timedelta(hours=1)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
        },
        headers=auth("bank"),
    )
    assert series.status_code == 200, series.text
    assert series.json()["resolution"] == "raw"
    assert [p["value"] for p in series.json()["points"]] == [round(-19.5 + i / 10, 1) for i in range(10)]

    with db.reader() as session:
        assert (
            session.scalar(select(func.count()).select_from(Reading).where(Reading.device_id == probe.id))
            == 10
        )
        assert (
            session.scalar(
                select(func.count())
                .select_from(TelemetryMessage)
                .where(TelemetryMessage.device_id == probe.id)
            )
            == 1
        )


def test_a_message_with_a_bad_signature_is_refused_and_kept_as_a_dead_letter(
    db: Transaction, client: TestClient, world: World, auth: Auth
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    now = datetime.now(UTC)
    document = probe.message([reading(now, -19.0)], sent_at=now)
    document["readings"][0]["value"] = -5.0  # changed after signing
    from coldpledge.iot.payload import encode

    response = client.post(
        "/api/v1/telemetry", content=encode(document), headers={"Authorization": f"Bearer {probe.token}"}
    )
    assert response.status_code == 422, response.text
    assert "bad_signature" in response.json()["detail"]
    letters = client.get("/api/v1/ingest/dead-letters", params={"device": probe.code}, headers=auth("admin"))
    assert letters.status_code == 200
    assert [row["reason"] for row in letters.json()] == ["bad_signature"]
    with db.reader() as session:
        assert (
            session.scalar(
                select(func.count()).select_from(DeadLetter).where(DeadLetter.device_code == probe.code)
            )
            == 1
        )
