"""The fast parse of a telemetry message answers exactly as the general parse does, for any bytes.

Payloads are written here as JSON text rather than through ``json.dumps``, so that they can hold
what a sender's own encoder might write: a key twice, ``NaN``, numbers in any notation, escapes,
lone surrogates, a byte-order mark.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from coldpledge.iot import payload

NOW = datetime(2026, 11, 29, 1, 2, 3, 456_000, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


class Raw(str):
    """JSON text written as it is."""


class Obj(list[tuple[str, Any]]):
    """A JSON object as its members in order, so that a key may come twice."""


def text(value: Any, ascii_only: bool) -> str:
    if isinstance(value, Raw):
        return value
    if isinstance(value, dict):
        value = Obj(value.items())
    if isinstance(value, Obj):
        members = (f"{json.dumps(k, ensure_ascii=ascii_only)}:{text(v, ascii_only)}" for k, v in value)
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(text(item, ascii_only) for item in value) + "]"
    return json.dumps(value, ensure_ascii=ascii_only)


def wire(value: Any, ascii_only: bool = False) -> bytes:
    # surrogatepass: a lone surrogate goes out as the bytes Python's JSON parser takes back.
    return text(value, ascii_only).encode("utf-8", "surrogatepass")


def outcome(parse: Any, raw: bytes) -> str:
    """Everything a caller can see of one parse, as text (NaN is never equal to itself)."""
    try:
        message = parse(raw, now=NOW)
    except payload.PayloadError as error:
        params = {name: str(value) for name, value in error.params.items()}
        return repr(("refused", error.reason, error.message, params, str(error)))
    return repr(
        (
            message.device,
            message.seq,
            message.sent_at,
            message.readings,
            message.rejected,
            message.signature,
            message.raw,
            message.document,
        )
    )


def stamp(moment: datetime, form: int) -> str:
    return [
        payload.format_ts(moment),
        moment.isoformat(),
        moment.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat(),
        moment.isoformat().replace("T", "t"),
        moment.isoformat().replace("T", " "),
        moment.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        moment.replace(tzinfo=None).isoformat(),
    ][form]


def moments(latest: datetime) -> st.SearchStrategy[datetime]:
    return st.datetimes(
        min_value=datetime(2026, 11, 28),  # noqa: DTZ001 (the zone is given below)
        max_value=latest.replace(tzinfo=None),
        timezones=st.just(UTC),
    )


past_stamps = moments(NOW).map(payload.format_ts)
odd_stamps = st.one_of(
    st.builds(stamp, moments(NOW + timedelta(minutes=10)), st.integers(0, 6)),
    moments(NOW + timedelta(days=1)).map(payload.format_ts),
    st.sampled_from(
        [
            "2026-11-29T01:02:03.1234567Z",
            "2026-11-29T01:02:60Z",
            "2026-11-29T01:02:03z",
            "2026-11-29",
            "2026-11-29T01:02:03+0530",
            "2026-11-29T01:02:03.000100+05:30:00.999900",
            "20261129T010203Z",
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-11-29T01:02:03.000000000000000000000000000Z",
            payload.format_ts(NOW + payload.MAX_FUTURE_SKEW),
            payload.format_ts(NOW + payload.MAX_FUTURE_SKEW + timedelta(milliseconds=1)),
            "",
        ]
    ),
    st.text(max_size=12),
)
good_devices = st.from_regex(r"(TMP|GW)-[0-9A-Z]{6}", fullmatch=True) | st.text(min_size=1, max_size=64)
devices = st.one_of(
    good_devices,
    st.text(min_size=60, max_size=68),
    st.sampled_from(["", "温度计-甲", "\U0001f9ca" * 64, "\U0001f9ca" * 65]),
)
good_values = st.one_of(
    st.floats(-200, 200).map(lambda x: round(x, 2)),
    st.floats(-1e12, 1e12),
    st.integers(-(10**12), 10**12),
    st.sampled_from([85.0, -127.0, 85, -127, 0, -0.0, 1e12, -1e12]),
)
number_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(min_value=-(10**13), max_value=10**13).map(str),
    st.from_regex(r"-?(0|[1-9][0-9]{0,20})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?", fullmatch=True),
    st.sampled_from(
        [
            "85.0", "-127.0", "85", "-127", "85.00", "8.5e1", "-1.27E2", "1000000000000",
            "1000000000001", "-1000000000000.0", "1e12", "1.0000000000001e12", "1e400", "-1e400",
            "1e-400", "-0", "-0.0", "NaN", "Infinity", "-Infinity", "9" * 30, "1" + "0" * 5000,
        ]
    ),
)  # fmt: skip
odd_scalars: st.SearchStrategy[Any] = st.sampled_from(
    [None, True, 1, 1.5, "", [], {}, Raw('"\\ud800"'), Raw('"\\ude00\\ud83d"')]
)
values = good_values | number_texts.map(Raw) | st.sampled_from([False, "1"]) | odd_scalars
metric_names = st.sampled_from(sorted(payload.METRICS))
A_SIGNATURE = base64.b64encode(KEY.sign(b"any")).decode()


@st.composite
def objects(draw: st.DrawFn, members: dict[str, Any]) -> Obj:
    """``members`` in any order, maybe one missing, with a stranger key, or with a key twice."""
    pairs = Obj(draw(st.permutations(list(members.items()))))
    if pairs and draw(st.integers(0, 9)) == 0:
        del pairs[draw(st.integers(0, len(pairs) - 1))]
    if draw(st.integers(0, 9)) == 0:
        pairs.insert(draw(st.integers(0, len(pairs))), (draw(st.text(max_size=6)), draw(odd_scalars)))
    if pairs and draw(st.integers(0, 9)) == 0:
        key = draw(st.sampled_from([k for k, _ in pairs]))
        again = draw(st.sampled_from([v for _, v in pairs]) | odd_scalars)
        pairs.insert(draw(st.integers(0, len(pairs))), (key, again))
    return pairs


@st.composite
def good_readings(draw: st.DrawFn) -> Obj:
    metric = draw(metric_names)
    item = Obj(
        [
            ("ts", draw(past_stamps)),
            ("metric", metric),
            ("value", draw(good_values)),
            ("unit", payload.METRICS[metric].unit),
        ]
    )
    if draw(st.booleans()):
        item.append(("device", draw(good_devices)))
    return Obj(draw(st.permutations(item)))


def mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 4
) -> st.SearchStrategy[Any]:
    """``bad`` once in ``one_in`` draws, so that a case has one or two things wrong, not everything."""
    return st.integers(1, one_in).flatmap(lambda n: bad if n == one_in else good)


@st.composite
def any_readings(draw: st.DrawFn) -> Any:
    metric = draw(mostly(metric_names, st.sampled_from(["temp", "Temperature"]) | odd_scalars))
    known = payload.METRICS.get(metric) if isinstance(metric, str) else None
    unit = known.unit if known is not None else "Cel"
    members = {
        "ts": draw(mostly(past_stamps, odd_stamps | odd_scalars)),
        "metric": metric,
        "value": draw(mostly(good_values, values)),
        "unit": draw(mostly(st.just(unit), st.sampled_from(["Cel", "%RH", "cel", ""]) | odd_scalars)),
    }
    if draw(st.booleans()):
        members["device"] = draw(mostly(good_devices, devices | odd_scalars))
    return draw(mostly(objects(members), odd_scalars, one_in=10))


def good_messages() -> st.SearchStrategy[Obj]:
    return st.builds(
        lambda device, seq, sent_at, readings, sig: Obj(
            [("device", device), ("seq", seq), ("sent_at", sent_at), ("readings", readings)]
            + ([("sig", sig)] if sig is not None else [])
        ),
        good_devices,
        st.integers(0, 2**53 - 1),
        past_stamps,
        st.lists(good_readings(), min_size=1, max_size=4),
        st.none() | st.just(A_SIGNATURE),
    )


bad_signatures = st.sampled_from(["", "!!!!", "AAAA", A_SIGNATURE[:-4]]) | odd_scalars


@st.composite
def any_messages(draw: st.DrawFn) -> Any:
    """Messages with one thing or another wrong, in the message or in its readings."""
    members = {
        "device": draw(mostly(good_devices, devices | odd_scalars)),
        "seq": draw(mostly(st.integers(0, 2**53 - 1), st.sampled_from([-1, 2**53, 2**64]) | values)),
        "sent_at": draw(mostly(past_stamps, odd_stamps | odd_scalars)),
        "readings": draw(mostly(st.lists(any_readings(), min_size=1, max_size=4), st.just([]) | odd_scalars)),
        "sig": draw(mostly(st.just(A_SIGNATURE), bad_signatures)),
    }
    return draw(mostly(objects(members), odd_scalars, one_in=10))


def mangled(raw: bytes) -> st.SearchStrategy[bytes]:
    """What a transport or a careless encoder might do to a message."""
    return st.one_of(
        st.just(b"\xef\xbb\xbf" + raw),
        st.just(b" \t\r\n" + raw + b"\n "),
        st.just(raw + b" x"),
        st.integers(0, len(raw)).map(lambda n: raw[:n]),
        st.tuples(st.integers(0, len(raw)), st.binary(min_size=1, max_size=3)).map(
            lambda cut: raw[: cut[0]] + cut[1] + raw[cut[0] :]
        ),
        st.just(raw.decode("utf-8", "surrogatepass").encode("utf-16", "surrogatepass")),
    )


@given(good_messages(), st.booleans())
@settings(max_examples=200)
def test_a_well_formed_message_takes_the_fast_path_and_parses_as_the_general_path_does(
    document: Obj, ascii_only: bool
) -> None:
    raw = wire(document, ascii_only)
    assert payload._parse_common(raw, NOW) is not None
    assert outcome(payload.parse, raw) == outcome(payload._parse_general, raw)


@given(good_messages() | any_messages(), st.booleans())
@settings(max_examples=1000)
def test_any_message_parses_as_the_general_path_parses_it(document: Any, ascii_only: bool) -> None:
    raw = wire(document, ascii_only)
    assert outcome(payload.parse, raw) == outcome(payload._parse_general, raw)


@given(st.binary(max_size=80) | (good_messages() | any_messages()).map(wire).flatmap(mangled))
@settings(max_examples=500)
def test_any_bytes_parse_as_the_general_path_parses_them(raw: bytes) -> None:
    assert outcome(payload.parse, raw) == outcome(payload._parse_general, raw)


A_READING = {"ts": "2026-11-29T01:00:00Z", "metric": "temperature", "value": -18.5, "unit": "Cel"}


def one_reading(message: dict[str, Any], reading: dict[str, Any]) -> bytes:
    document = {
        "device": "GW-1",
        "seq": 1,
        "sent_at": "2026-11-29T01:02:03Z",
        "readings": [A_READING | reading],
    }
    return wire({k: v for k, v in (document | message).items() if v is not ...})


DEVICES_AT_BOUNDS = ["", "x" * 64, "x" * 65, "冰" * 64, "冰" * 65, None, 7]
VALUES_AT_BOUNDS = [
    *("1000000000000", "1000000000001", "-1000000000000", "-1000000000001", "999999999999"),
    *("1e12", "1.0000000000000002e12", "-1e12", "999999999999.9999", "1e400", "NaN", "-Infinity"),
    *("true", "null", '"1"', "85", "85.0", "-127", "-127.0", "60", "60.000001", "-0", "-0.0"),
    *("0.1e-400", "123456789.123456789"),
]
# NOW + MAX_FUTURE_SKEW is 01:07:03.456; stamps are cut to the millisecond before the comparison.
STAMPS_AT_BOUNDS = ["2026-11-29T01:07:03.456Z", "2026-11-29T01:07:03.4569Z", "2026-11-29T01:07:03.457Z"]
READINGS_AT_BOUNDS: list[Any] = [
    [],
    None,
    {},
    [None],
    [[]],
    [A_READING] * payload.MAX_READINGS,
    [A_READING] * (payload.MAX_READINGS + 1),
]
BOUNDARIES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    *(({"device": d}, {}) for d in [*DEVICES_AT_BOUNDS, ...]),
    *(({}, {"device": d}) for d in DEVICES_AT_BOUNDS),
    *(({"seq": n}, {}) for n in [-1, 0, 2**53 - 1, 2**53, True, 1.0, Raw("1e0"), Raw("-0")]),
    *(({"readings": r}, {}) for r in READINGS_AT_BOUNDS),
    *(({"sig": sig}, {}) for sig in [None, "", 64, A_SIGNATURE, A_SIGNATURE[:-2], A_SIGNATURE + "=="]),
    *(({}, {"value": Raw(v)}) for v in VALUES_AT_BOUNDS),
    *(({}, {"ts": ts}) for ts in STAMPS_AT_BOUNDS),
    *(({"sent_at": ts}, {}) for ts in ["2026-11-29", "2026-11-29T01:02:03", "x" * 41, STAMPS_AT_BOUNDS[2]]),
]


@given(number_texts)
@settings(max_examples=500)
def test_a_value_in_any_json_notation_is_read_as_the_general_path_reads_it(number: str) -> None:
    raw = one_reading({}, {"value": Raw(number)})
    assert outcome(payload.parse, raw) == outcome(payload._parse_general, raw)


@pytest.mark.parametrize(("message", "reading"), BOUNDARIES)
def test_a_value_at_either_side_of_a_bound_parses_as_the_general_path_parses_it(
    message: dict[str, Any], reading: dict[str, Any]
) -> None:
    raw = one_reading(message, reading)
    assert outcome(payload.parse, raw) == outcome(payload._parse_general, raw)


@pytest.mark.parametrize("key", ["device", "ts", "metric", "unit", "value"])
@pytest.mark.parametrize("first", ["TMP-9", "2026-11-29T01:01:00Z", "humidity", "%RH", 7, True, None])
def test_a_key_written_twice_in_a_reading_counts_with_its_last_value(key: str, first: Any) -> None:
    item = Obj(
        [
            (key, first),
            ("ts", "2026-11-29T01:00:00Z"),
            ("metric", "temperature"),
            ("value", -18.5),
            ("unit", "Cel"),
        ]
    )
    if key == "device":
        item.append(("device", "TMP-1"))
    raw = wire(
        Obj([("device", "GW-1"), ("seq", 1), ("sent_at", "2026-11-29T01:02:03Z"), ("readings", [item])])
    )
    assert outcome(payload.parse, raw) == outcome(payload._parse_general, raw)
    reading = payload.parse(raw, now=NOW).readings[0]
    assert (reading.device, reading.value_u) == ("TMP-1" if key == "device" else "GW-1", -18_500_000)


def test_the_document_of_a_fast_parse_is_what_json_reads() -> None:
    raw = one_reading({"seq": 41}, {"metric": "door", "value": 1, "unit": "/", "device": "DR-3XK9PA"})
    assert payload._parse_common(raw, NOW) is not None
    message = payload.parse(raw, now=NOW)
    assert message.document == json.loads(raw)
    assert message.readings[0].value_u == 1_000_000
    assert type(message.readings[0].value_u) is int


def test_a_signature_over_a_message_written_in_another_layout_still_verifies() -> None:
    document = {
        "device": "GW-7Q2M4K",
        "seq": 41,
        "sent_at": "2026-11-29T01:02:03.456Z",
        "readings": [{"ts": "2026-11-29T01:02:00Z", "metric": "temperature", "value": -19.2, "unit": "Cel"}],
    }
    public_key = KEY.public_key().public_bytes_raw()
    raw = json.dumps(payload.sign(document, KEY), indent=2).encode()
    message = payload.parse(raw, now=NOW)
    assert message.as_sent_unsigned is None
    assert payload.verify_signature(message, public_key)
    tampered = payload.parse(raw.replace(b"-19.2", b"-9.2"), now=NOW)
    assert not payload.verify_signature(tampered, public_key)


def test_a_reading_whose_metric_is_not_text_is_rejected_and_the_others_kept() -> None:
    raw = (
        b'{"device":"TMP-1","seq":1,"sent_at":"2026-11-29T01:02:03Z","readings":['
        b'{"ts":"2026-11-29T01:00:00Z","metric":["temperature"],"value":1,"unit":"Cel"},'
        b'{"ts":"2026-11-29T01:00:00Z","metric":"temperature","value":1,"unit":"Cel"}]}'
    )
    message = payload.parse(raw, now=NOW)
    assert [(r.index, r.reason) for r in message.rejected] == [(0, "unknown_metric")]
    assert len(message.readings) == 1


def test_a_timestamp_past_the_end_of_the_calendar_in_utc_is_malformed() -> None:
    raw = (
        b'{"device":"TMP-1","seq":1,"sent_at":"2026-11-29T01:02:03Z","readings":['
        b'{"ts":"0001-01-01T00:00:00+01:00","metric":"temperature","value":1,"unit":"Cel"}]}'
    )
    assert [r.reason for r in payload.parse(raw, now=NOW).rejected] == ["malformed_reading"]
    with_sent_at = raw.replace(b"2026-11-29T01:02:03Z", b"9999-12-31T23:59:59-01:00")
    with pytest.raises(payload.PayloadError, match="sent_at must be an RFC 3339 time"):
        payload.parse(with_sent_at, now=NOW)
