"""The processes of ``benchmarks/ingest.py`` besides the ingest worker, and how they are measured.

The MQTT clients run as processes of their own, so that their CPU time is their own and they never
compete for the benchmark's interpreter lock:

    python -m benchmarks.ingest_processes publish --port P --messages FILE [--inflight N]
    python -m benchmarks.ingest_processes subscribe --port P --expect N --work json|parse [--keys FILE]

A publisher loads its share of pre-built, pre-signed messages (a pickled list of (topic, bytes)),
encodes every PUBLISH packet, connects (MQTT 3.1.1), prints ``ready``, waits for a line on standard
input, publishes everything at QoS 1 as fast as its inflight window allows and prints one JSON line
(``messages``, ``started``, ``finished``, ``cpu_s``) once every message is acknowledged. It is not
paho but the bare publisher of ``benchmarks/mqtt_wire.py``, which spends a few microseconds of CPU
on a message where paho spent about 45: the publishers share the machine with what they measure.

The bare subscriber is the baseline: it subscribes as the ingest worker does (MQTT 5, QoS 1, the
same Receive Maximum), prints ``ready`` once subscribed, does the least work a consumer must on
each message (``json.loads``; or the ingest service's ``payload.parse`` plus the signature check)
and never touches a database. It prints one JSON line when ``--expect`` messages have arrived.

Times are ``time.monotonic()``, which on Linux is one clock for every process of the machine. CPU
and memory of any process come from ``/proc``; py-spy samples the worker on request.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import pickle
import select
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from benchmarks.mqtt_wire import QUIET_SECONDS, Outbox, WirePublisher
from coldpledge.iot import payload

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


# --- inside the client processes --------------------------------------------------------------


def peak_rss_mb() -> float:
    """VmHWM of this process: the most resident memory it has had."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def publish(host: str, port: int, messages_file: Path, inflight: int) -> dict[str, Any]:
    messages: list[tuple[str, bytes]] = pickle.loads(messages_file.read_bytes())  # noqa: S301 - our own file
    outbox = Outbox.of(messages)
    client = WirePublisher(host, port, client_id=f"bench-pub-{uuid.uuid4().hex[:8]}")
    print("ready", flush=True)
    # Pings while it waits: the other processes may take longer to start than the keepalive.
    while not select.select([sys.stdin], [], [], QUIET_SECONDS)[0]:
        client.ping()
    sys.stdin.readline()
    cpu = time.process_time()
    started = time.monotonic()
    client.publish(outbox, inflight)
    finished = time.monotonic()
    client.disconnect()
    return {
        "messages": len(messages),
        "started": started,
        "finished": finished,
        "cpu_s": round(time.process_time() - cpu, 3),
    }


def _worker(work: str, keys_file: Path | None) -> Callable[[bytes], bool]:
    """What the baseline does with each message; False when a signature does not verify."""
    if work == "json":

        def bare(raw: bytes) -> bool:
            json.loads(raw)
            return True

        return bare
    keys: dict[str, bytes] = {}
    if keys_file is not None:
        keys = {code: base64.b64decode(key) for code, key in json.loads(keys_file.read_text()).items()}

    def parse(raw: bytes) -> bool:
        message = payload.parse(raw, now=datetime.now(UTC))
        if message.signature is None:
            return True
        return payload.verify_signature(message, keys[message.device])

    return parse


def subscribe(
    host: str, port: int, topic: str, expect: int, work: str, keys_file: Path | None, receive_maximum: int
) -> dict[str, Any]:
    handle = _worker(work, keys_file)
    received = failed = 0
    first = last = 0.0
    everything = threading.Event()
    subscribed = threading.Event()

    def on_connect(client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not reason.is_failure:
            client.subscribe(topic, qos=1)

    def on_subscribe(_client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        if not any(reason.is_failure for reason in reasons):
            subscribed.set()

    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        nonlocal received, failed, first, last
        if not received:
            first = time.monotonic()
        if not handle(bytes(message.payload)):
            failed += 1
        received += 1
        if received == expect:
            last = time.monotonic()
            everything.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"bench-sub-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = receive_maximum
    client.connect(host, port, keepalive=60, clean_start=True, properties=properties)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("the baseline subscriber could not subscribe")
    print("ready", flush=True)
    cpu = time.process_time()
    if not everything.wait(3600):
        raise RuntimeError(f"only {received} of {expect} messages arrived")
    cpu = time.process_time() - cpu
    client.disconnect()
    client.loop_stop()
    return {
        "received": received,
        "signature_failures": failed,
        "first": first,
        "last": last,
        "cpu_s": round(cpu, 3),
        "rss_peak_mb": peak_rss_mb(),
    }


# --- the benchmark's handles on them ----------------------------------------------------------


def _client(role: str, port: int, *options: str, stdin: bool = False) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "benchmarks.ingest_processes", role, "--port", str(port), *options]
    return subprocess.Popen(  # noqa: S603 - our own script
        command, cwd=ROOT, stdin=subprocess.PIPE if stdin else None, stdout=subprocess.PIPE, text=True
    )


def _ready(process: subprocess.Popen[str], what: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"{what} did not start (exit {process.poll()}): {line!r}")


class Publishers:
    """Publisher processes, connected and waiting for ``go``."""

    def __init__(self, port: int, files: list[Path], inflight: int) -> None:
        self.processes = [
            _client("publish", port, "--messages", str(path), "--inflight", str(inflight), stdin=True)
            for path in files
        ]
        for process in self.processes:
            _ready(process, "a publisher")

    def go(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()

    def results(self) -> list[dict[str, Any]]:
        """Each publisher's figures, once it has had every message acknowledged."""
        found = []
        for process in self.processes:
            assert process.stdout is not None
            line = process.stdout.readline()
            if process.wait(timeout=60) != 0 or not line:
                raise RuntimeError(f"a publisher failed (exit {process.returncode})")
            found.append(json.loads(line))
        return found


def publishing(found: list[dict[str, Any]]) -> dict[str, float]:
    started = min(r["started"] for r in found)
    return {
        "publish_seconds": round(max(r["finished"] for r in found) - started, 3),
        "publisher_cpu_s": round(sum(r["cpu_s"] for r in found), 2),
    }


def bare_subscriber(
    port: int, broker_pid: int, publishers: Publishers, expect: int, work: str, keys: Path, window: int
) -> dict[str, Any]:
    """Publish everything to a bare subscriber; figures from the first publish to the last message."""
    options = ["--expect", str(expect), "--work", work, "--keys", str(keys), "--receive-maximum", str(window)]
    subscriber = _client("subscribe", port, *options)
    _ready(subscriber, "the baseline subscriber")
    watch = Watch({"subscriber": subscriber.pid, "broker": broker_pid})
    publishers.go()
    assert subscriber.stdout is not None
    line = subscriber.stdout.readline()
    figures = watch.stop()
    if subscriber.wait(timeout=60) != 0 or not line:
        raise RuntimeError(f"the baseline subscriber failed (exit {subscriber.returncode})")
    outcome = json.loads(line)
    found = publishers.results()
    seconds = outcome["last"] - min(r["started"] for r in found)
    return {
        "seconds": round(seconds, 3),
        **figures,
        **publishing(found),
        "messages_per_s": round(expect / seconds),
        "signature_failures": outcome["signature_failures"],
        "subscriber_rss_peak_mb": outcome["rss_peak_mb"],
    }


# --- measurement ------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mb(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    # user nice system idle iowait irq softirq steal; guest time is already counted in user.
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def database_server_cpu() -> dict[int, float]:
    """CPU seconds of each PostgreSQL server process on this machine (the postmaster, its
    backends and helpers), by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                found[int(entry.name)] = cpu_seconds(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


@dataclass
class Watch:
    """CPU seconds of some processes, and how many of the machine's cores were busy, from the
    moment it is made until ``stop``. With ``database``, also the CPU of the PostgreSQL server
    on this machine (``database_cpu_s``): the processes living at ``stop``, less what each had at
    the start (a backend that ended in between is missed, one that began is counted whole)."""

    pids: dict[str, int]
    database: bool = False

    def __post_init__(self) -> None:
        self.cpu = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.server = database_server_cpu() if self.database else {}
        self.machine = _machine_ticks()

    def stop(self) -> dict[str, float]:
        busy, total = _machine_ticks()
        figures = {
            f"{name}_cpu_s": round(cpu_seconds(pid) - self.cpu[name], 2) for name, pid in self.pids.items()
        }
        if self.database:
            server = database_server_cpu()
            figures["database_cpu_s"] = round(
                sum(seconds - self.server.get(pid, 0.0) for pid, seconds in server.items()), 2
            )
        busy_share = (busy - self.machine[0]) / max(1, total - self.machine[1])
        figures["machine_busy_cores"] = round((os.cpu_count() or 1) * busy_share, 2)
        return figures


def start_profile(py_spy: str, pid: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling ``pid`` until it is sent SIGINT; raw (collapsed stack) output."""
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(output)]
    command += ["--rate", "100", "--nonblocking", "--duration", "3600"]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def summarise_profile(path: Path, top: int = 25) -> dict[str, Any]:
    """Functions by samples of their own (the innermost frame) and by samples anywhere in the
    stack, in percent of all samples of threads that were running."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = [_frame(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count

    def table(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / max(1, total), 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "own_percent": table(own), "inclusive_percent": table(inclusive)}


def _frame(frame: str) -> str:
    """``function (path/to/file.py:123)`` without the line number and with a short path."""
    name, _, where = frame.partition(" (")
    file = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{name} ({file})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=("publish", "subscribe"))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--messages", type=Path, help="publish: pickled list of (topic, bytes)")
    parser.add_argument("--inflight", type=int, default=1000, help="publish: QoS 1 inflight window, 1..65535")
    parser.add_argument("--topic", default="coldpledge/v1/+/+/+/telemetry", help="subscribe: filter")
    parser.add_argument("--expect", type=int, default=0, help="subscribe: messages to wait for")
    parser.add_argument("--work", choices=("json", "parse"), default="json", help="subscribe: per message")
    parser.add_argument("--keys", type=Path, help="subscribe: JSON {device code: base64 public key}")
    parser.add_argument("--receive-maximum", type=int, default=2000, help="subscribe: MQTT 5 window")
    args = parser.parse_args()
    if args.role == "publish":
        result = publish(args.host, args.port, args.messages, args.inflight)
    else:
        result = subscribe(
            args.host, args.port, args.topic, args.expect, args.work, args.keys, args.receive_maximum
        )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
