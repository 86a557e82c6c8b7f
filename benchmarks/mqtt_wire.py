"""A minimal MQTT 3.1.1 publisher over a plain socket, for load generation in benchmarks only.

This is benchmark tooling, not product code: the product speaks MQTT through paho. The publisher
processes of ``benchmarks/ingest.py`` share a small machine with the system they measure, and a
paho client spent about 45 µs of CPU on each small QoS 1 message, which the ingest worker then
lacked: it builds each packet when it is published, wakes its network thread through a socket
pair, writes each packet with a send of its own and reads each PUBACK with three ``recv`` calls,
under locks and with a callback. Real devices would burn that CPU elsewhere, so the load generator
should burn almost none here. It does only what a load generator needs:

- ``Outbox`` encodes every PUBLISH packet (QoS 1) back to back in one buffer before any clock
  starts, with packet identifiers 1..65535 assigned in order and reused cyclically, and the
  PUBACKs it expects for them;
- ``WirePublisher`` connects (CONNECT with a clean session, checks the CONNACK), keeps at most
  ``inflight`` messages unacknowledged and writes up to 64 KiB of packets per ``sendall``. Once
  the window is full it waits (``poll`` with ``SO_RCVLOWAT``) for half of the window's PUBACKs,
  bytes that are certain to come, or a few milliseconds, whichever is first; so it wakes about
  once per half window rather than once per PUBACK (which alone cost 4 to 7 µs a message),
  reads what came in one ``recv`` and checks it with one comparison against the PUBACKs
  expected. A PUBACK out of order, a PINGRESP or a packet split across reads sends that read
  through a parser which accepts any packet identifier in flight, and fails clearly on anything
  else. A window never reuses an identifier whose PUBACK has not arrived, since it runs from the
  oldest message still unacknowledged.

No will, no authentication, no TLS, no retransmission: a broken connection fails the run.

Mosquitto does not throttle it: a QoS 1 PUBLISH is acknowledged as it is handled, and the per
client ``max_inflight_messages`` (left at its default by ``tests.mqtt.MosquittoBroker``) limits
the broker's own outgoing messages, and version 5 publishers through the Receive Maximum of the
CONNACK, which MQTT 3.1.1 does not have.

    python -m benchmarks.mqtt_wire selftest [--messages 70000]

publishes through a private Mosquitto to a paho subscriber and checks that every payload arrives
once and intact, with identifiers reused and payloads at the edges of the remaining-length
encoding; it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import random
import select
import socket
import tempfile
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_PACKET_ID = 65_535
MAX_REMAINING_LENGTH = 268_435_455
WRITE_BYTES = 64 * 1024
PUBACK, PINGRESP = 0x40, 0xD0
PINGREQ, DISCONNECT = b"\xc0\x00", b"\xe0\x00"
# Without any packet for 1.5 keepalives the broker drops the client; a quiet read pings it.
KEEPALIVE_SECONDS = 60
QUIET_SECONDS = 20
# The longest a publisher waits for half its window of PUBACKs before it reads those that came.
NUDGE_SECONDS = 0.02
# A nudge lasts as long as half a window takes at this rate, more than Mosquitto acknowledges one
# client here, so that it never stalls a small window for long.
NUDGE_RATE = 100_000
STALL_SECONDS = 120
CONNACK_REFUSALS = {
    1: "unacceptable protocol version",
    2: "client identifier rejected",
    3: "server unavailable",
    4: "bad user name or password",
    5: "not authorised",
}


class BrokerError(RuntimeError):
    """The broker refused, closed the connection, went quiet or sent what a publisher never gets."""


# --- encoding ---------------------------------------------------------------------------------


def remaining_length(length: int) -> bytes:
    """MQTT's variable byte integer: seven bits a byte, least significant first."""
    if not 0 <= length <= MAX_REMAINING_LENGTH:
        raise ValueError(f"an MQTT packet cannot carry {length} bytes")
    encoded = bytearray()
    while True:
        length, digit = divmod(length, 128)
        encoded.append(digit | 0x80 if length else digit)
        if not length:
            return bytes(encoded)


def utf8_string(text: str) -> bytes:
    raw = text.encode()
    if len(raw) > 0xFFFF:
        raise ValueError(f"an MQTT string is at most 65535 bytes, not {len(raw)}")
    return len(raw).to_bytes(2, "big") + raw


def connect_packet(client_id: str, keepalive: int = KEEPALIVE_SECONDS) -> bytes:
    # Protocol name, level 4 (3.1.1), flags with only clean session, keepalive; payload: client id.
    body = utf8_string("MQTT") + bytes([4, 0x02]) + keepalive.to_bytes(2, "big") + utf8_string(client_id)
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: str, body: bytes, identifier: int) -> bytes:
    """A QoS 1 PUBLISH, neither retained nor a duplicate."""
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"cannot publish to {topic!r}")
    head = utf8_string(topic) + identifier.to_bytes(2, "big")
    return b"\x32" + remaining_length(len(head) + len(body)) + head + body


def packet_id(sequence: int) -> int:
    """The identifier of the ``sequence``-th message (from 0): 1..65535, then 1 again."""
    return sequence % MAX_PACKET_ID + 1


@dataclass(frozen=True)
class Outbox:
    """Every PUBLISH packet back to back, where each starts, and the PUBACKs expected in order."""

    stream: bytes
    offsets: list[int]  # packet i is stream[offsets[i]:offsets[i + 1]]
    acks: bytes

    @classmethod
    def of(cls, messages: Sequence[tuple[str, bytes]]) -> Outbox:
        packets = [publish_packet(topic, body, packet_id(i)) for i, (topic, body) in enumerate(messages)]
        offsets = [0]
        for packet in packets:
            offsets.append(offsets[-1] + len(packet))
        acks = b"".join(b"\x40\x02" + packet_id(i).to_bytes(2, "big") for i in range(len(packets)))
        return cls(b"".join(packets), offsets, acks)

    def __len__(self) -> int:
        return len(self.offsets) - 1


# --- the connection ---------------------------------------------------------------------------


@dataclass
class _Window:
    """Messages [oldest, sent) of an outbox may be in flight; ``acked`` counts every PUBACK."""

    outbox: Outbox
    sent: int = 0
    oldest: int = 0
    acked: int = 0
    early: bytearray = field(init=False)  # acknowledged while an older message was not

    def __post_init__(self) -> None:
        self.early = bytearray(len(self.outbox))

    def take(self, data: bytes) -> bytes:
        """Count the PUBACKs in ``data``; return the bytes of a packet not complete yet."""
        whole = len(data) & ~3
        start = 4 * self.oldest
        if whole and self.acked == self.oldest and data[:whole] == self.outbox.acks[start : start + whole]:
            self.oldest += whole // 4
            self.acked = self.oldest
            return self._parse(data[whole:])
        return self._parse(data)

    def _parse(self, data: bytes) -> bytes:
        at = 0
        while at < len(data):
            kind = data[at]
            if kind not in (PUBACK, PINGRESP):
                raise BrokerError(f"unexpected MQTT packet type 0x{kind:02x} from the broker")
            size = 4 if kind == PUBACK else 2
            if len(data) - at < size:
                break
            if data[at + 1] != size - 2:
                raise BrokerError(f"malformed packet 0x{kind:02x} (remaining length {data[at + 1]})")
            if kind == PUBACK:
                self._acknowledge(int.from_bytes(data[at + 2 : at + 4], "big"))
            at += size
        return data[at:]

    def _acknowledge(self, identifier: int) -> None:
        # The window is at most 65535 messages from the oldest, so an identifier names one of them.
        sequence = self.oldest + (identifier - 1 - self.oldest) % MAX_PACKET_ID
        if identifier == 0 or sequence >= self.sent or self.early[sequence]:
            raise BrokerError(f"PUBACK for packet identifier {identifier}, which is not in flight")
        self.early[sequence] = 1
        self.acked += 1
        while self.oldest < self.sent and self.early[self.oldest]:
            self.oldest += 1


def _closed(window: _Window) -> BrokerError:
    total = len(window.outbox)
    return BrokerError(f"the broker closed the connection after {window.acked} of {total} PUBACKs")


class WirePublisher:
    """One MQTT 3.1.1 connection that publishes an ``Outbox`` at QoS 1."""

    def __init__(self, host: str, port: int, client_id: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.settimeout(None)  # sendall blocks; reads wait in poll
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.readable = select.poll()
        self.readable.register(self.sock, select.POLLIN)
        self.low_water = 1
        self.sock.sendall(connect_packet(client_id))
        connack = self._read(4)
        if connack[:2] != b"\x20\x02":
            raise BrokerError(f"expected a CONNACK, got {connack!r}")
        if connack[3]:
            refusal = CONNACK_REFUSALS.get(connack[3], "unknown return code")
            raise BrokerError(f"the broker refused the connection: {connack[3]} ({refusal})")

    def ping(self) -> None:
        """PINGREQ and its PINGRESP; only while nothing is being published."""
        self.sock.sendall(PINGREQ)
        if (answer := self._read(2)) != b"\xd0\x00":
            raise BrokerError(f"expected a PINGRESP, got {answer!r}")

    def publish(self, outbox: Outbox, inflight: int) -> None:
        """Publish every message, at most ``inflight`` unacknowledged; return once all are."""
        if not 1 <= inflight <= MAX_PACKET_ID:
            raise ValueError(f"the inflight window is 1..{MAX_PACKET_ID}, not {inflight}")
        window = _Window(outbox)
        try:
            self._publish(window, inflight)
        except ConnectionError as error:
            raise _closed(window) from error

    def _publish(self, window: _Window, inflight: int) -> None:
        total, offsets = len(window.outbox), window.outbox.offsets
        stream = memoryview(window.outbox.stream)
        refill = max(1, inflight // 2)
        nudge = min(NUDGE_SECONDS, refill / NUDGE_RATE)
        pending = b""
        progress = time.monotonic()
        while window.acked < total:
            limit = min(total, window.oldest + inflight)
            while window.sent < limit:
                start = offsets[window.sent]
                end = bisect_right(offsets, start + WRITE_BYTES, window.sent + 1, limit + 1) - 1
                end = max(end, window.sent + 1)  # a packet larger than one write goes alone
                self.sock.sendall(stream[start : offsets[end]])
                window.sent = end
            # Every message in flight brings a PUBACK, so these bytes will come: a PINGRESP only
            # adds to them, and the bytes pending begin a PUBACK (or a PINGRESP).
            wanted = 4 * min(refill, window.sent - window.acked) - len(pending)
            data = self._receive(wanted, WRITE_BYTES, nudge)
            if data == b"":
                raise _closed(window)
            if data is None:
                if time.monotonic() - progress > STALL_SECONDS:
                    raise BrokerError(f"no PUBACK for {STALL_SECONDS} s after {window.acked} of {total}")
                self.sock.sendall(PINGREQ)
                continue
            acked = window.acked
            pending = window.take(pending + data)
            if window.acked > acked:
                progress = time.monotonic()

    def disconnect(self) -> None:
        try:
            self.sock.sendall(DISCONNECT)
        finally:
            self.sock.close()

    def _receive(self, wanted: int, most: int, nudge: float) -> bytes | None:
        """Up to ``most`` bytes once ``wanted`` have arrived, or after ``nudge`` seconds what has;
        None after QUIET_SECONDS without any, b"" once the broker has closed the connection.

        The low-water mark spares a wakeup per PUBACK, each a TCP segment of its own. The kernel
        counts it in bytes not yet read, so a ``recv`` that has read some and waits for more can
        miss the last ones (MSG_WAITALL does): poll waits, and the read never does. The nudge:
        while nothing is sent the kernel delays its ACKs (40 ms), and the broker, out of
        congestion window after a few tiny segments, stops sending PUBACKs until one comes; the
        PUBLISH packets sent once these PUBACKs are read carry the ACK. Its wakeups cost CPU per
        second, not per message, and it is short only for a small window, which it would stall.
        """
        self._low_water(wanted)
        if not self.readable.poll(1000 * nudge):
            self._low_water(1)
            if not self.readable.poll(1000 * QUIET_SECONDS):
                return None
        try:
            return self.sock.recv(most, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except ConnectionError:
            return b""

    def _low_water(self, size: int) -> None:
        if size != self.low_water:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
            self.low_water = size

    def _read(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            more = self._receive(size - len(data), size - len(data), 0)
            if not more:
                raise BrokerError(f"the broker sent {data!r} and then closed or went quiet")
            data += more
        return data


# --- self-check -------------------------------------------------------------------------------


def _check_parser() -> None:
    """What Mosquitto does not send: PUBACKs split, out of order, mixed with a PINGRESP, or wrong."""
    outbox = Outbox.of([("selftest/parser", b"")] * (MAX_PACKET_ID + 10))

    def in_flight(oldest: int, sent: int) -> _Window:
        return _Window(outbox, sent=sent, oldest=oldest, acked=oldest)

    def puback(sequence: int) -> bytes:
        return b"\x40\x02" + packet_id(sequence).to_bytes(2, "big")

    # Identifiers wrapped around, a PINGRESP among them, every read a single byte.
    window, pending = in_flight(MAX_PACKET_ID - 2, MAX_PACKET_ID + 3), b""
    stream = puback(MAX_PACKET_ID - 2) + puback(MAX_PACKET_ID - 1) + b"\xd0\x00"
    stream += b"".join(puback(s) for s in range(MAX_PACKET_ID, MAX_PACKET_ID + 3))
    for byte in stream:
        pending = window.take(pending + bytes([byte]))
    assert (window.acked, window.oldest, pending) == (MAX_PACKET_ID + 3, MAX_PACKET_ID + 3, b"")

    window = in_flight(0, 3)
    pending = window.take(puback(2) + puback(0)[:3])
    assert (window.acked, window.oldest, pending) == (1, 0, puback(0)[:3])
    pending = window.take(pending + puback(0)[3:] + puback(1))
    assert (window.acked, window.oldest, pending) == (3, 3, b"")

    for wrong, complaint in [
        (puback(3), "not in flight"),  # not sent yet
        (puback(1) + puback(1), "not in flight"),  # twice
        (b"\x40\x02\x00\x00", "not in flight"),  # identifier 0
        (b"\x30\x05", "unexpected MQTT packet type 0x30"),  # a PUBLISH: we subscribe to nothing
        (b"\x40\x03\x00\x01\x00", "malformed"),
    ]:
        try:
            in_flight(0, 3).take(wrong)
        except BrokerError as error:
            if complaint not in str(error):
                raise AssertionError(f"{wrong!r}: {error}") from error
        else:
            raise AssertionError(f"{wrong!r} was accepted")


def _sized(topic: str, remaining: int, rng: random.Random) -> tuple[str, bytes]:
    """A message whose PUBLISH has exactly ``remaining`` bytes after its fixed header."""
    return topic, rng.randbytes(remaining - len(utf8_string(topic)) - 2)


def selftest(messages: int) -> dict[str, Any]:
    """Publish through a private Mosquitto to a paho subscriber; every payload once and intact."""
    # Here, not at the top: publisher processes import this module and need neither.
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from tests.mqtt import MosquittoBroker

    # The examples of the specification (MQTT 3.1.1, 2.2.3), and the largest length there is.
    for value, encoded in [
        (0, "00"),
        (127, "7f"),
        (128, "8001"),
        (16_383, "ff7f"),
        (16_384, "808001"),
        (2_097_151, "ffff7f"),
        (2_097_152, "80808001"),
        (MAX_REMAINING_LENGTH, "ffffff7f"),
    ]:
        assert remaining_length(value).hex() == encoded, (value, remaining_length(value).hex())
    _check_parser()

    rng = random.Random(7)
    # Multi-byte UTF-8 in the topics: their length prefix counts bytes, not characters.
    small = [
        (f"selftest/small/温度/{i % 13}", f"{i}:".encode() + rng.randbytes(i % 300)) for i in range(messages)
    ]
    edges = (127, 128, 16_383, 16_384, WRITE_BYTES - 1, WRITE_BYTES + 5, 2_097_151, 2_097_152)
    large = [("selftest/large/empty", b""), *(_sized(f"selftest/large/{n}", n, rng) for n in edges)]
    cases = [
        ("identifiers_reused", small, 1000),
        ("widest_window", small, MAX_PACKET_ID),
        ("remaining_length_edges", large * 3, 2),
    ]
    received: list[tuple[str, bytes]] = []
    lock = threading.Lock()
    subscribed = threading.Event()

    def on_connect(client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if not reason.is_failure:
            client.subscribe("selftest/#", qos=1)

    def on_subscribe(_client: mqtt.Client, _userdata: Any, _mid: int, reasons: Any, _props: Any) -> None:
        if not any(reason.is_failure for reason in reasons):
            subscribed.set()

    def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with lock:
            received.append((message.topic, bytes(message.payload)))

    report: dict[str, Any] = {"remaining_length_examples": "ok", "parser": "ok"}
    with tempfile.TemporaryDirectory(prefix="coldpledge-mqtt-wire-") as folder:
        broker = MosquittoBroker(Path(folder) / "broker")
        broker.start()
        subscriber = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="selftest-sub", protocol=mqtt.MQTTv5)
        try:
            subscriber.on_connect = on_connect
            subscriber.on_subscribe = on_subscribe
            subscriber.on_message = on_message
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            properties.ReceiveMaximum = MAX_PACKET_ID
            subscriber.connect(broker.host, broker.port, clean_start=True, properties=properties)
            subscriber.loop_start()
            if not subscribed.wait(10):
                raise RuntimeError("the self-check's subscriber could not subscribe")
            for name, sent, inflight in cases:
                with lock:
                    received.clear()
                outbox = Outbox.of(sent)
                publisher = WirePublisher(broker.host, broker.port, f"selftest-{name}")
                cpu, started = time.thread_time(), time.monotonic()
                publisher.publish(outbox, inflight)
                cpu, seconds = time.thread_time() - cpu, time.monotonic() - started
                publisher.disconnect()
                deadline = time.monotonic() + 60
                while len(received) < len(sent) and time.monotonic() < deadline:
                    time.sleep(0.05)
                time.sleep(0.5)  # a duplicate would come now
                with lock:
                    arrived = Counter(received)
                expected = Counter(sent)
                report[name] = {
                    "messages": len(sent),
                    "inflight": inflight,
                    "payload_bytes": sum(len(body) for _, body in sent),
                    "received": arrived.total(),
                    "missing": (expected - arrived).total(),
                    "duplicated_or_altered": (arrived - expected).total(),
                    "publish_seconds": round(seconds, 3),
                    "publisher_cpu_us_per_message": round(1e6 * cpu / len(sent), 2),
                    "ok": arrived == expected,
                }
        finally:
            subscriber.disconnect()
            subscriber.loop_stop()
            broker.kill()
        report["broker_log"] = broker.log.read_text().splitlines()[-5:] if broker.log.exists() else []
    report["ok"] = all(report[name]["ok"] for name, _, _ in cases)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=("selftest",))
    parser.add_argument("--messages", type=int, default=70_000, help="small messages per case")
    args = parser.parse_args()
    report = selftest(args.messages)
    print(json.dumps(report, ensure_ascii=False), flush=True)
    if not report["ok"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
