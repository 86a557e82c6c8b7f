"""`coldpledge demo`, as `make demo` runs it: seeded, served, and with the evidence log running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from coldpledge.evidence.note import open_note, parse_checkpoint, parse_vkey

# The demo's simulated gateways replay a day of readings into SQLite as it starts, and a request
# can wait behind those writes longer than httpx's default five seconds on a slow machine.
REQUEST_TIMEOUT_S = 30.0


def get(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(url, timeout=REQUEST_TIMEOUT_S, **kwargs)


def post(url: str, **kwargs: Any) -> httpx.Response:
    return httpx.post(url, timeout=REQUEST_TIMEOUT_S, **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    environment = {
        **os.environ,
        "COLDPLEDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "COLDPLEDGE_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        "COLDPLEDGE_LOG_KEY_FILE": str(tmp_path / "log.key"),
        # Cheap argon2: the demo hashes nine passwords.
        "COLDPLEDGE_PASSWORD_TIME_COST": "1",
        "COLDPLEDGE_PASSWORD_MEMORY_KIB": "8",
    }
    environment.pop("COLDPLEDGE_PUBLIC_BASE_URL", None)
    output = (tmp_path / "demo.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "coldpledge.cli", "demo", "--port", str(port)],
        env=environment,
        cwd=tmp_path,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError((tmp_path / "demo.log").read_text())
        yield base
    finally:
        process.terminate()
        process.wait(20)
        output.close()


def test_the_demo_serves_its_logins_and_logs_its_seeded_history(demo: str) -> None:
    token = post(f"{demo}/api/v1/auth/token", data={"username": "bank", "password": "coldpledge-demo"})
    assert token.status_code == 200, token.text
    bank = {"Authorization": f"Bearer {token.json()['access_token']}"}
    receipts = get(f"{demo}/api/v1/receipts", headers=bank)
    assert receipts.status_code == 200
    assert len(receipts.json()) > 0

    # The bank's credit line is active, and the fall in beef has put it under a margin call.
    (facility,) = get(f"{demo}/api/v1/facilities", headers=bank).json()
    assert facility["status"] == "active"
    assert facility["risk_state"] in {"warning", "margin_call"}
    drawdowns = get(f"{demo}/api/v1/facilities/{facility['id']}/drawdowns", headers=bank).json()
    assert {drawdown["status"] for drawdown in drawdowns} == {"active", "repaid"}
    valuations = get(f"{demo}/api/v1/facilities/{facility['id']}/valuations", headers=bank).json()
    assert len(valuations) >= 30

    # The worker beside the server sequences the seeded history and signs it within seconds.
    deadline = time.monotonic() + 30
    checkpoint = get(f"{demo}/api/v1/evidence/checkpoint")
    while checkpoint.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        checkpoint = get(f"{demo}/api/v1/evidence/checkpoint")
    assert checkpoint.status_code == 200, checkpoint.text
    note, _ = open_note(checkpoint.text, [parse_vkey(get(f"{demo}/api/v1/evidence/public-key").text)])
    assert parse_checkpoint(note.text).size > 250


def test_the_demo_s_simulated_gateways_fill_the_rooms_with_readings(demo: str) -> None:
    token = post(f"{demo}/api/v1/auth/token", data={"username": "admin", "password": "coldpledge-demo"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    devices = get(f"{demo}/api/v1/devices", headers=headers).json()
    gateways = [device for device in devices if device["kind"] == "gateway"]
    assert len(gateways) >= 6, devices
    probe = next(device for device in devices if device["kind"] == "temperature")
    # Each gateway starts with the last day in its buffer and replays it over HTTP at once.
    deadline = time.monotonic() + 90
    while True:
        series = get(
            f"{demo}/api/v1/devices/{probe['id']}/readings", params={"resolution": "raw"}, headers=headers
        ).json()
        if len(series["points"]) >= 1_000 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(series["points"]) >= 1_000, len(series["points"])
    values = [point["value"] for point in series["points"]]
    assert -30 < min(values) < max(values) < 10
    # The whole day arrives, each probe's minute by minute: the room's data is complete.
    while True:
        room = get(f"{demo}/api/v1/rooms/{probe['room_id']}/cold-chain", headers=headers)
        assert room.status_code == 200, room.text
        if room.json()["completeness"] > 0.95 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert room.json()["completeness"] > 0.95, room.json()
    assert room.json()["mkt_c"] is not None
