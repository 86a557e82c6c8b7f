"""`coldpledge devices register ... --json`, as an installer runs it, and the credentials it prints
working for real: the token over HTTP and the topic on the broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.iot import payload
from coldpledge.iot.models import Device
from tests.iot import public_pem
from tests.world import World


def run(settings: Settings, *arguments: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "COLDPLEDGE_DATABASE_URL": settings.database_url,
        "COLDPLEDGE_ENV": "test",
    }
    return subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "coldpledge.cli", *arguments],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_register_prints_the_device_its_secrets_and_its_topic_as_json(
    database: Database, settings: Settings, world: World, tmp_path: Path, client: TestClient
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "probe.pub.pem"
    pem.write_text(public_pem(key))
    room = world.rooms["YS-F18"]
    done = run(
        settings,
        "devices",
        "register",
        "--room",
        str(room),
        "--kind",
        "temperature",
        "--public-key",
        str(pem),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert set(printed) >= {"id", "code", "http_token", "mqtt_username", "mqtt_password", "topic"}
    assert printed["topic"].startswith("coldpledge/v1/")
    assert printed["topic"].endswith(f"/{printed['code']}/telemetry")
    assert printed["signing"] is True
    with database.reading() as session:
        device = session.get(Device, printed["id"])
        assert device is not None
        assert device.room_id == room
        assert device.token_sha256 != printed["http_token"]  # only a hash is kept
        assert (
            session.scalar(
                select(AuditEvent.action).where(AuditEvent.subject_ref == f"device:{printed['code']}")
            )
            == "device.register"
        )

    now = datetime.now(UTC)
    document = payload.sign(
        {
            "device": printed["code"],
            "seq": 1,
            "sent_at": payload.format_ts(now),
            "readings": [
                {"ts": payload.format_ts(now), "metric": "temperature", "value": -18.9, "unit": "Cel"}
            ],
        },
        key,
    )
    response = client.post(
        "/api/v1/telemetry",
        content=payload.encode(document),
        headers={"Authorization": f"Bearer {printed['http_token']}"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 1


def test_register_refuses_a_device_without_a_key_unless_told_it_cannot_sign(
    settings: Settings, world: World
) -> None:
    room = str(world.rooms["YS-F18"])
    refused = run(settings, "devices", "register", "--room", room, "--kind", "temperature", "--json")
    assert refused.returncode != 0
    assert "--unsigned" in refused.stderr
    accepted = run(settings, "devices", "register", "--room", room, "--kind", "door", "--unsigned", "--json")
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["signing"] is False
    gateway = run(
        settings, "devices", "register", "--room", room, "--kind", "gateway", "--unsigned", "--json"
    )
    assert gateway.returncode != 0
    assert "gateway" in gateway.stderr.lower()


def test_broker_files_let_each_device_publish_only_under_its_own_topic(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    room = str(world.rooms["YS-F18"])
    made = json.loads(
        run(settings, "devices", "register", "--room", room, "--kind", "door", "--unsigned", "--json").stdout
    )
    out = tmp_path / "broker"
    environment = {**os.environ, "COLDPLEDGE_DATABASE_URL": settings.database_url, "COLDPLEDGE_ENV": "test"}
    done = subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "coldpledge.cli", "devices", "broker-files", "--out", str(out)],
        env=environment,
        input="ingest-secret\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    passwords = (out / "mosquitto.passwd").read_text()
    acl = (out / "mosquitto.acl").read_text()
    assert f"{made['mqtt_username']}:$7$101$" in passwords
    assert f"user {made['mqtt_username']}\ntopic write {made['topic'].rsplit('/', 1)[0]}/#" in acl
    assert "user coldpledge-ingest\ntopic read coldpledge/v1/#" in acl


def test_a_mosquitto_with_those_files_takes_a_device_s_messages_only_on_its_own_topic(
    database: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    import threading
    import time
    import uuid

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from coldpledge.iot.models import Reading
    from coldpledge.iot.worker import IngestWorker
    from tests.mqtt import mosquitto

    room = str(world.rooms["YS-F18"])
    mine = json.loads(
        run(settings, "devices", "register", "--room", room, "--kind", "door", "--unsigned", "--json").stdout
    )
    other = json.loads(
        run(settings, "devices", "register", "--room", room, "--kind", "door", "--unsigned", "--json").stdout
    )
    out = tmp_path / "files"
    environment = {**os.environ, "COLDPLEDGE_DATABASE_URL": settings.database_url, "COLDPLEDGE_ENV": "test"}
    subprocess.run(  # noqa: S603 - our own command
        [sys.executable, "-m", "coldpledge.cli", "devices", "broker-files", "--out", str(out)],
        env=environment,
        input="ingest-secret\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    (out / "mosquitto.passwd").chmod(0o644)  # the broker drops to our own user; it reads the file
    config = f"password_file {out / 'mosquitto.passwd'}\nacl_file {out / 'mosquitto.acl'}\n"
    with mosquitto(tmp_path / "broker", extra_config=config) as broker:
        url = f"mqtt://coldpledge-ingest:ingest-secret@{broker.host}:{broker.port}"
        worker = IngestWorker(
            database, settings, mqtt_url=url, client_id=f"acl-{uuid.uuid4().hex[:6]}", session_expiry=60
        )
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,), kwargs={"maintenance": False}, daemon=True)
        thread.start()
        try:
            assert worker.subscribed.wait(10), "the ingest user may subscribe"
            acknowledged: list[int] = []
            device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=mine["code"], protocol=mqtt.MQTTv5)
            device.username_pw_set(mine["mqtt_username"], mine["mqtt_password"])
            device.on_publish = lambda _c, _u, _mid, reason, _p: acknowledged.append(reason.value)
            device.connect(broker.host, broker.port)
            device.loop_start()
            now = datetime.now(UTC)
            for target, seq in ((mine, 1), (other, 2)):
                body = payload.encode(
                    {
                        "device": target["code"],
                        "seq": seq,
                        "sent_at": payload.format_ts(now),
                        "readings": [
                            {"ts": payload.format_ts(now), "metric": "door", "value": 1, "unit": "/"}
                        ],
                    }
                )
                device.publish(target["topic"], body, qos=1).wait_for_publish(10)
            device.disconnect()
            device.loop_stop()
            # Mosquitto accepts its own topic (0) and refuses the other's as not authorised (0x87).
            assert acknowledged == [0, 0x87]
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with database.reading() as session:
                    stored = session.scalars(
                        select(Reading.device_id).where(Reading.device_id.in_([mine["id"], other["id"]]))
                    ).all()
                if stored:
                    break
                time.sleep(0.2)
            time.sleep(0.5)
            with database.reading() as session:
                stored = session.scalars(
                    select(Reading.device_id).where(Reading.device_id.in_([mine["id"], other["id"]]))
                ).all()
            assert stored == [mine["id"]]

            intruder = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            intruder.username_pw_set(mine["mqtt_username"], "not-the-password")
            refused: list[bool] = []
            intruder.on_connect = lambda _c, _u, _f, reason, _p: refused.append(reason.is_failure)
            intruder.connect(broker.host, broker.port)
            intruder.loop_start()
            deadline = time.monotonic() + 5
            while not refused and time.monotonic() < deadline:
                time.sleep(0.1)
            intruder.loop_stop()
            assert refused == [True]
        finally:
            stop.set()
            thread.join(timeout=20)
