"""The gateway's on-disk buffer: sealing, sequence numbers, acknowledgements, restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from coldpledge.iot.edge.buffer import Backlog, Buffer, ForeignBuffer
from coldpledge.iot.edge.driver import Measurement
from coldpledge.iot.payload import SCALE, parse, verify_signature

GATEWAY = "GW-7Q2M4K"
T0 = datetime(2026, 11, 29, 1, 2, 3, 456_000, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def open_buffer(path: Path) -> Buffer:
    return Buffer(path / "buffer.sqlite3", gateway=GATEWAY, first_seq=1)


def capture_temperatures(buffer: Buffer, *seconds: float) -> None:
    for second in seconds:
        buffer.capture(at(second), [Measurement("TMP-3XK9PA", "temperature", -18.0 - second / 10)])


def seal(buffer: Buffer, limit: int = 50) -> int:
    message = buffer.seal(key=KEY, sent_at=at(3600), limit=limit)
    assert message is not None
    return message.seq


def test_the_sequence_continues_after_the_buffer_is_reopened(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    capture_temperatures(buffer, 1, 2)
    assert [seal(buffer, limit=1), seal(buffer, limit=1)] == [1, 2]
    buffer.acknowledge([1, 2])
    buffer.close()

    reopened = open_buffer(tmp_path)
    capture_temperatures(reopened, 3)
    assert seal(reopened) == 3
    assert reopened.last_seq == 3


def test_acknowledging_a_message_deletes_that_message_only(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    capture_temperatures(buffer, 1, 2, 3)
    for _ in range(3):
        seal(buffer, limit=1)

    assert buffer.acknowledge([2]) == 1
    assert buffer.acknowledge([2]) == 0  # a second PUBACK for the same message changes nothing

    assert [message.seq for message in buffer.pending(10)] == [1, 3]
    assert buffer.backlog() == Backlog(readings=2, messages=2)


def test_a_message_sent_again_is_byte_identical_to_the_first_send(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    capture_temperatures(buffer, 1, 2)
    sealed = buffer.seal(key=KEY, sent_at=at(60), limit=50)
    first_send = buffer.pending(1)[0].payload
    buffer.close()

    after_restart = open_buffer(tmp_path).pending(1)[0].payload

    assert sealed is not None
    assert sealed.payload == first_send == after_restart
    message = parse(after_restart, now=at(3600))
    public_key = KEY.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    assert verify_signature(message, public_key)
    assert (message.device, message.seq, message.sent_at) == (GATEWAY, 1, at(60))


def test_captured_readings_survive_reopening_the_buffer(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    capture_temperatures(buffer, 1, 2, 3)
    buffer.close()

    reopened = open_buffer(tmp_path)
    assert reopened.backlog() == Backlog(readings=3, messages=0)
    seal(reopened)
    message = parse(reopened.pending(1)[0].payload, now=at(3600))
    assert [reading.ts for reading in message.readings] == [at(1), at(2), at(3)]
    assert [reading.value_u for reading in message.readings] == [-18_100_000, -18_200_000, -18_300_000]


def test_messages_take_readings_in_capture_order_and_keep_their_capture_times(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    capture_temperatures(buffer, 1, 2, 3, 4, 5)
    seal(buffer, limit=2)
    seal(buffer, limit=2)
    seal(buffer, limit=2)

    times = [
        [reading.ts for reading in parse(message.payload, now=at(3600)).readings]
        for message in buffer.pending(10)
    ]
    assert times == [[at(1), at(2)], [at(3), at(4)], [at(5)]]
    assert buffer.seal(key=KEY, sent_at=at(3600), limit=2) is None


def test_the_gateways_own_readings_carry_no_device_and_whole_numbers_stay_whole(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)
    buffer.capture(at(1), [Measurement(None, "backlog", 1234.0), Measurement("DOR-4M7Q2T", "door", 1.0)])
    seal(buffer)

    document = json.loads(buffer.pending(1)[0].payload)
    assert document["readings"] == [
        {"ts": "2026-11-29T01:02:04.456Z", "metric": "backlog", "value": 1234, "unit": "count"},
        {"device": "DOR-4M7Q2T", "ts": "2026-11-29T01:02:04.456Z", "metric": "door", "value": 1, "unit": "/"},
    ]
    readings = parse(buffer.pending(1)[0].payload, now=at(3600)).readings
    assert [(reading.device, reading.value_u) for reading in readings] == [
        (GATEWAY, 1234 * SCALE),
        ("DOR-4M7Q2T", 1 * SCALE),
    ]


def test_it_refuses_the_buffer_of_another_gateway(tmp_path: Path) -> None:
    open_buffer(tmp_path).close()

    with pytest.raises(ForeignBuffer, match=GATEWAY):
        Buffer(tmp_path / "buffer.sqlite3", gateway="GW-OTHER1")


def test_it_refuses_a_value_that_is_not_a_number(tmp_path: Path) -> None:
    buffer = open_buffer(tmp_path)

    with pytest.raises(ValueError, match="not a number"):
        buffer.capture(at(1), [Measurement("TMP-3XK9PA", "temperature", float("nan"))])
    assert buffer.backlog() == Backlog(readings=0, messages=0)


def test_a_new_buffer_numbers_on_from_the_clock_so_a_replaced_one_never_reuses_a_seq(tmp_path: Path) -> None:
    lost = Buffer(tmp_path / "lost.sqlite3", gateway=GATEWAY)
    lost.capture(at(0), [Measurement("TMP-1", "temperature", -18.0)])
    sealed = lost.seal(key=KEY, sent_at=at(0), limit=10)
    lost.close()
    assert sealed is not None
    replacement = Buffer(tmp_path / "replacement.sqlite3", gateway=GATEWAY)
    replacement.capture(at(1), [Measurement("TMP-1", "temperature", -18.1)])
    replaced = replacement.seal(key=KEY, sent_at=at(1), limit=10)
    assert replaced is not None
    assert replaced.seq > sealed.seq
    assert sealed.seq < 2**53
