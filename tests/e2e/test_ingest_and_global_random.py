"""Ingest runs in worker threads beside other code, so judging readings must not move the
process's shared ``random`` state: Hypothesis fails any test whose strategies see it move, and a
seeded simulation beside the ingest would stop being reproducible."""

from __future__ import annotations

import random
from datetime import timedelta

from fastapi.testclient import TestClient

from coldpledge.db import utcnow
from coldpledge.iot.payload import encode
from tests.conftest import TestDB as Transaction
from tests.iot import new_device, reading
from tests.world import World


def test_storing_and_judging_readings_leaves_the_global_random_state_alone(
    client: TestClient, db: Transaction, world: World
) -> None:
    probe = new_device(db.uow(), world.who("admin"), world.rooms["YS-F18"])
    now = utcnow()
    body = encode(probe.message([reading(now - timedelta(seconds=5), -19.5)], sent_at=now))
    before = random.getstate()
    headers = {"Authorization": f"Bearer {probe.token}"}
    answer = client.post("/api/v1/telemetry", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert random.getstate() == before
