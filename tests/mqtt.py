"""Real Mosquitto brokers for tests.

``MosquittoBroker`` runs the machine's ``mosquitto`` binary on a free loopback port with its own
configuration and persistence folder, so a test may stop, kill and restart it without touching the
shared broker on port 1883. Its configuration is the one README recommends for ingestion: a
persistent store and no cap on the messages queued for an offline persistent session (Mosquitto's
default cap, 1000, would drop readings while an ingest worker restarts).

``system_broker()`` is the broker the machine runs on 127.0.0.1:1883; under ``CI=true`` its absence
fails the test, elsewhere it skips.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
SYSTEM_HOST, SYSTEM_PORT = "127.0.0.1", 1883


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("mosquitto is not installed and CI=true")
        pytest.skip("mosquitto is not installed")


def system_broker() -> tuple[str, int]:
    if not _reachable(SYSTEM_HOST, SYSTEM_PORT):
        message = f"no MQTT broker on {SYSTEM_HOST}:{SYSTEM_PORT}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message} and CI=true")
        pytest.skip(message)
    return SYSTEM_HOST, SYSTEM_PORT


class MosquittoBroker:
    def __init__(self, folder: Path, *, port: int | None = None, extra_config: str = "") -> None:
        require_mosquitto()
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n"
            # Started as root, Mosquitto would drop to its own user, which cannot write here.
            f"user {getpass.getuser()}\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {folder}/\n"
            "autosave_interval 1\n"
            "max_queued_messages 0\n"
            "max_queued_bytes 0\n"
            "set_tcp_nodelay true\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n" + extra_config
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "broker already running"
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and config
            [MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not _reachable(self.host, self.port):
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text() if self.log.exists() else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("mosquitto did not start listening within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        """Graceful: Mosquitto writes its persistent store on SIGTERM."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=15)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)


@contextmanager
def mosquitto(folder: Path, **options: str | int) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(folder, **options)  # type: ignore[arg-type]
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with mosquitto(tmp_path / "broker") as running:
        yield running
