"""The gateway as a process: started from its TOML file, publishing, and stopping cleanly on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from paho.mqtt.client import Client, MQTTMessage
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from coldpledge.iot.edge.buffer import Backlog, Buffer
from coldpledge.iot.payload import parse
from tests.mqtt import MosquittoBroker, mosquitto

GATEWAY = "GW-7Q2M4K"
TOPIC = f"coldpledge/v1/ORG-1/WH-1/{GATEWAY}/telemetry"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    with mosquitto(tmp_path / "broker") as running:
        yield running


def write_config(folder: Path, broker: MosquittoBroker) -> Path:
    key = Ed25519PrivateKey.generate()
    (folder / "gateway.pem").write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path = folder / "edge.toml"
    path.write_text(
        f"""
gateway = "{GATEWAY}"
topic = "{TOPIC}"
private_key = "gateway.pem"
buffer = "var/buffer.sqlite3"
batch_readings = 4
flush_interval_seconds = 0.5
backlog_report_seconds = 1

[mqtt]
url = "{broker.url}"

[[drivers]]
kind = "simulator"
interval_seconds = 0.1
sensors = [{{ code = "TMP-3XK9PA", metrics = ["temperature", "humidity"] }}]
""",
        encoding="utf-8",
    )
    return path


class Collector:
    """Sequence numbers of the messages published on the gateway's topic."""

    def __init__(self, broker: MosquittoBroker) -> None:
        self._lock = threading.Lock()
        self._seqs: set[int] = set()
        subscribed = threading.Event()
        self.client = Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.subscribe(TOPIC, qos=1)
        self.client.loop_start()
        assert subscribed.wait(10), "could not subscribe"

    def seqs(self) -> set[int]:
        with self._lock:
            return set(self._seqs)

    def _on_message(self, client: Client, userdata: object, message: MQTTMessage) -> None:
        seq = parse(bytes(message.payload), now=datetime.now(UTC)).seq
        with self._lock:
            self._seqs.add(seq)


@pytest.fixture
def collector(broker: MosquittoBroker) -> Iterator[Collector]:
    collector = Collector(broker)
    yield collector
    collector.client.disconnect()
    collector.client.loop_stop()


def test_the_gateway_publishes_until_sigterm_then_stops_with_nothing_left_behind(
    tmp_path: Path, broker: MosquittoBroker, collector: Collector
) -> None:
    config = write_config(tmp_path, broker)
    process = subprocess.Popen(  # noqa: S603 - our own command
        [sys.executable, "-m", "coldpledge.cli", "edge", "--config", str(config)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while len(collector.seqs()) < 3:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "no messages from the gateway"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, errors
    assert "SIGTERM: stopping" in errors
    buffer = Buffer(tmp_path / "var" / "buffer.sqlite3", gateway=GATEWAY)
    assert buffer.backlog() == Backlog(readings=0, messages=0)
    first_seq, last_seq = buffer.first_seq, buffer.last_seq
    buffer.close()
    deadline = time.monotonic() + 10
    while collector.seqs() != set(range(first_seq, last_seq + 1)):
        assert time.monotonic() < deadline, (
            f"received {sorted(collector.seqs())}, sealed {first_seq}..{last_seq}"
        )
        time.sleep(0.05)
