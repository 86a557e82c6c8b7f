"""`coldpledge demo`, as `make demo` runs it: seeded, served, and with the evidence log running."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest

from coldpledge.evidence.note import open_note, parse_checkpoint, parse_vkey


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
        # Cheap argon2: the demo hashes eight passwords.
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
    token = httpx.post(f"{demo}/api/v1/auth/token", data={"username": "bank", "password": "coldpledge-demo"})
    assert token.status_code == 200, token.text
    receipts = httpx.get(
        f"{demo}/api/v1/receipts", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert receipts.status_code == 200
    assert len(receipts.json()) > 0

    # The worker beside the server sequences the seeded history and signs it within seconds.
    deadline = time.monotonic() + 30
    checkpoint = httpx.get(f"{demo}/api/v1/evidence/checkpoint")
    while checkpoint.status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.5)
        checkpoint = httpx.get(f"{demo}/api/v1/evidence/checkpoint")
    assert checkpoint.status_code == 200, checkpoint.text
    note, _ = open_note(checkpoint.text, [parse_vkey(httpx.get(f"{demo}/api/v1/evidence/public-key").text)])
    assert parse_checkpoint(note.text).size > 250
