"""The telemetry payload (DESIGN §4): metrics, canonical bytes, Ed25519 signatures and parsing.

Pure: no I/O. The edge gateway builds and signs payloads with these functions and the ingest
service parses and verifies them with the same ones, so both sides agree byte for byte.

A payload is one JSON object::

    {"device": "GW-7Q2M4K", "seq": 41, "sent_at": "2026-11-29T01:02:03.456Z",
     "readings": [{"ts": "2026-11-29T01:02:00Z", "metric": "temperature", "value": -19.2,
                   "unit": "Cel"},
                  {"device": "TMP-3XK9PA", "ts": ..., "metric": ..., "value": ..., "unit": ...}],
     "sig": "base64 of Ed25519 over the canonical payload without sig"}

``device`` names the sender; a reading without its own ``device`` is the sender's, a reading with
one comes from a sensor wired to the sending gateway. The canonical form is RFC 8785 (JSON
Canonicalization Scheme) of the object without ``sig``.

Values are stored as exact integers in millionths of the unit (``value_u``), so -19.2 °C is
-19_200_000 and 1,234.5 kg is 1_234_500_000 (that is, milligrams).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from coldpledge.errors import N_

SCALE = 1_000_000
MAX_READINGS = 5_000
MAX_PAYLOAD_BYTES = 1_048_576
# DESIGN §4: a reading stamped further ahead than this is refused; the sender's clock is wrong.
MAX_FUTURE_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Metric:
    name: str
    code: int  # stored as a small integer; never reuse a code
    unit: str  # SenML unit the payload must carry
    low: float  # physical range: outside it the sensor is faulty, not the room
    high: float
    sentinels: tuple[float, ...] = ()


# DS18B20-style probes report 85.0 on a power-on reset and -127.0 when disconnected.
_PROBE_SENTINELS = (85.0, -127.0)

METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("temperature", 1, "Cel", -60.0, 60.0, _PROBE_SENTINELS),
        Metric("humidity", 2, "%RH", 0.0, 100.0),
        Metric("door", 3, "/", 0.0, 1.0),  # 1 open, 0 closed
        Metric("lock", 4, "/", 0.0, 1.0),  # 1 locked, 0 unlocked
        Metric("weight", 5, "kg", -1_000.0, 200_000.0),
        Metric("latitude", 6, "lat", -90.0, 90.0),
        Metric("longitude", 7, "lon", -180.0, 180.0),
        Metric("motion", 8, "count", 0.0, 100_000.0),  # camera motion events in the interval
        Metric("person", 9, "count", 0.0, 1_000.0),  # people seen by a camera
        Metric("battery", 10, "%EL", 0.0, 100.0),
        Metric("signal", 11, "dBm", -150.0, 0.0),
        Metric("backlog", 12, "count", 0.0, 1_000_000.0),  # readings waiting in a gateway buffer
    )
}
METRICS_BY_CODE: dict[int, Metric] = {m.code: m for m in METRICS.values()}


class PayloadError(ValueError):
    """The whole message is unusable; ``reason`` is a stable code, ``message`` says why."""

    def __init__(self, reason: str, message: str, **params: Any) -> None:
        super().__init__(message.format(**params) if params else message)
        self.reason = reason
        self.message = message
        self.params = params


# Immutable records like frozen dataclasses; a Struct is built ten times faster, which counts at one
# Reading per value received.
class Reading(msgspec.Struct, frozen=True):
    device: str  # the device the value comes from
    ts: datetime
    metric: Metric
    value_u: int
    fault: str | None  # why the value cannot be a real measurement (sensor fault), or None


class RejectedReading(msgspec.Struct, frozen=True):
    index: int
    reason: str
    message: str
    raw: Any


@dataclass
class Message:
    device: str
    seq: int
    sent_at: datetime
    readings: list[Reading]
    rejected: list[RejectedReading]
    signature: bytes | None
    raw: bytes
    # The fast path leaves the JSON to be read from ``raw`` on first use, which only a signature over
    # another layout than ``encode``'s needs.
    _document: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def document(self) -> dict[str, Any]:
        """The message as ``json.loads`` reads it."""
        if self._document is None:
            self._document = json.loads(self.raw)
        return self._document

    @property
    def signed_bytes(self) -> bytes:
        """The canonical form the signature covers."""
        return canonical_bytes(self.document)

    @property
    def as_sent_unsigned(self) -> bytes | None:
        """The message as sent with its trailing ``"sig"`` member cut off: exactly the canonical
        form when the sender wrote it the way ``encode`` does, so the signature can be checked
        without canonicalising again."""
        marker = self.raw.rfind(b',"sig":"')
        if marker < 0 or not self.raw.endswith(b'"}'):
            return None
        return self.raw[:marker] + b"}"


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of ``document`` without its signature."""
    unsigned = {k: v for k, v in document.items() if k != "sig"}
    readings = unsigned.get("readings")
    fast: Any = unsigned
    if isinstance(readings, list):
        # The readings are nearly all of a payload; the common shape skips the general walk.
        fast = {**unsigned, "readings": [_plain_reading(item) for item in readings]}
    fast = _plain(fast)
    if fast is _NOT_PLAIN:
        return bytes(rfc8785.dumps(unsigned))
    return json.dumps(fast, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


_NOT_PLAIN = object()
_MAX_SAFE_INTEGER = 2**53 - 1


_READING_TEXT_KEYS = frozenset({"device", "ts", "metric", "unit"})


def _plain_reading(item: Any) -> Any:
    if type(item) is not dict:
        return _plain(item)
    for key, text in item.items():
        if key != "value" and (key not in _READING_TEXT_KEYS or type(text) is not str):
            return _plain(item)
    value = item.get("value")
    if type(value) is float:
        plain = _plain(value)
        if plain is _NOT_PLAIN:
            return _NOT_PLAIN
        return item if plain is value else {**item, "value": plain}
    return _plain(item)


def _plain(value: Any) -> Any:
    """``value`` rewritten so that ``json.dumps`` prints exactly what RFC 8785 prints, or
    ``_NOT_PLAIN`` when that cannot be guaranteed (the slow, general library then decides).

    The general library costs a millisecond per 50-reading batch, more than everything else the
    ingest path does with it. The two agree when keys are ASCII (code-point and UTF-16 orders are
    the same), integers are within IEEE-754's exact range, integral floats print as integers, and
    other floats lie where Python's shortest repr and ECMAScript's Number.toString both use plain
    decimal notation (1e-4 ≤ |x| < 1e16). A property test checks the equivalence."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -_MAX_SAFE_INTEGER <= value <= _MAX_SAFE_INTEGER else _NOT_PLAIN
    if isinstance(value, float):
        if value.is_integer():
            return int(value) if abs(value) <= _MAX_SAFE_INTEGER else _NOT_PLAIN
        return value if 1e-4 <= abs(value) < 1e16 else _NOT_PLAIN
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                return _NOT_PLAIN

            plain = _plain(item)
            if plain is _NOT_PLAIN:
                return _NOT_PLAIN
            out[key] = plain
        return out
    if isinstance(value, list):
        items = [item if _is_plain_reading(item) else _plain(item) for item in value]
        return _NOT_PLAIN if any(item is _NOT_PLAIN for item in items) else items
    return _NOT_PLAIN


def _is_plain_reading(item: Any) -> bool:
    """Already rewritten by ``_plain_reading``: every key known, text values, a plain number."""
    if type(item) is not dict:
        return False
    for key, value in item.items():
        if key == "value":
            if _plain_number(value):
                continue
            return False
        if key not in _READING_TEXT_KEYS or type(value) is not str:
            return False
    return True


def _plain_number(value: Any) -> bool:
    if type(value) is float:
        return not value.is_integer() and 1e-4 <= abs(value) < 1e16
    return type(value) is int and abs(value) <= _MAX_SAFE_INTEGER


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``document`` with ``sig`` set over its canonical form."""
    signature = key.sign(canonical_bytes(document))
    return {**document, "sig": base64.b64encode(signature).decode()}


def encode(document: dict[str, Any]) -> bytes:
    """Wire bytes. Any JSON layout is accepted, since signatures cover the canonical form; this one
    writes that canonical form with ``sig`` appended as the last member, which lets the receiver
    check the signature on the bytes as they came."""
    if "sig" not in document:
        return canonical_bytes(document)
    signature = json.dumps(document["sig"], ensure_ascii=False).encode()
    return canonical_bytes(document)[:-1] + b',"sig":' + signature + b"}"


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, the form the edge gateway writes."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def verify_signature(message: Message, public_key: bytes) -> bool:
    if message.signature is None:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        return False
    # The bytes as sent first: they are what the device signed when it wrote the canonical form
    # (the common case, and no canonicalisation needed); otherwise the canonical form of what was
    # parsed.
    candidates = (message.as_sent_unsigned, None)
    for candidate in candidates:
        try:
            key.verify(message.signature, candidate if candidate is not None else message.signed_bytes)
        except InvalidSignature:
            continue
        except (TypeError, ValueError, rfc8785.CanonicalizationError):
            return False
        return True
    return False


def parse(raw: bytes, *, now: datetime) -> Message:
    """Parse one message. A message-level problem raises ``PayloadError``; a bad reading inside an
    otherwise good message is listed in ``rejected`` so the good ones are still stored."""
    message = _parse_common(raw, now) if len(raw) <= MAX_PAYLOAD_BYTES else None
    return message if message is not None else _parse_general(raw, now=now)


class _CommonReading(msgspec.Struct, forbid_unknown_fields=True):
    ts: str
    metric: str
    unit: str
    value: (
        Annotated[int, msgspec.Meta(ge=-(10**12), le=10**12)]
        | Annotated[float, msgspec.Meta(ge=-1e12, le=1e12)]
    )
    device: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | msgspec.UnsetType = msgspec.UNSET


class _CommonMessage(msgspec.Struct, forbid_unknown_fields=True):
    device: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Annotated[int, msgspec.Meta(ge=0, le=_MAX_SAFE_INTEGER)]
    sent_at: str
    readings: Annotated[list[_CommonReading], msgspec.Meta(min_length=1, max_length=MAX_READINGS)]
    sig: str | None = None


_decode_common = msgspec.json.Decoder(_CommonMessage).decode


def _parse_common(raw: bytes, now: datetime) -> Message | None:
    """The common shape, every reading good, parsed in C; None whenever ``_parse_general`` might
    answer otherwise (a refused message, a rejected reading, an unknown key, JSON that only Python's
    parser takes such as NaN or a lone surrogate), so that it decides those and ``parse`` answers
    exactly as the general path does. The schema's bounds are the general path's checks."""
    try:
        shape = _decode_common(raw)
        sent_at = _timestamp(shape.sent_at)
        signature = _signature(shape.sig)
    except (msgspec.MsgspecError, ValueError):  # PayloadError and UnicodeDecodeError are ValueErrors
        return None
    if sent_at is None:
        return None
    sender = shape.device
    latest = now + MAX_FUTURE_SKEW
    stamps: dict[str, datetime | None] = {}
    readings: list[Reading] = []
    for item in shape.readings:
        metric = METRICS.get(item.metric)
        if metric is None or item.unit != metric.unit:
            return None
        raw_ts = item.ts
        if raw_ts in stamps:
            ts = stamps[raw_ts]
        else:
            ts = stamps[raw_ts] = _timestamp(raw_ts)
        if ts is None or ts > latest:
            return None
        device = item.device
        value = item.value
        readings.append(
            Reading(
                sender if device is msgspec.UNSET else device,
                ts,
                metric,
                round(value * SCALE),
                _fault(metric, float(value)),
            )
        )
    return Message(sender, shape.seq, sent_at, readings, [], signature, raw)


def _parse_general(raw: bytes, *, now: datetime) -> Message:
    """Any message, whatever its layout; the reference the fast path is held to."""
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            "too_large", N_("The message is larger than {limit} bytes."), limit=MAX_PAYLOAD_BYTES
        )
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as error:
        raise PayloadError(
            "malformed_json", N_("The message is not valid JSON: {error}."), error=error
        ) from None
    if not isinstance(document, dict):
        raise PayloadError("malformed", N_("The message must be a JSON object."))
    device = document.get("device")
    if not isinstance(device, str) or not device or len(device) > 64:
        raise PayloadError("malformed", N_("The message must name its device as a string."))
    seq = document.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= _MAX_SAFE_INTEGER:
        raise PayloadError("malformed", N_("seq must be a non-negative integer."))
    sent_at = _timestamp(document.get("sent_at"))
    if sent_at is None:
        raise PayloadError("malformed", N_("sent_at must be an RFC 3339 time with a time zone."))
    items = document.get("readings")
    if not isinstance(items, list) or not items:
        raise PayloadError("malformed", N_("readings must be a non-empty list."))
    if len(items) > MAX_READINGS:
        raise PayloadError(
            "too_many_readings", N_("A message may carry at most {limit} readings."), limit=MAX_READINGS
        )
    signature = _signature(document.get("sig"))
    latest = now + MAX_FUTURE_SKEW
    readings: list[Reading] = []
    rejected: list[RejectedReading] = []
    stamps: dict[str, datetime | None] = {}  # a gateway's readings of one moment share its stamp
    for index, item in enumerate(items):
        outcome = _reading(item, device, latest, stamps)
        if isinstance(outcome, Reading):
            readings.append(outcome)
        else:
            reason, text = outcome
            rejected.append(RejectedReading(index, reason, text, item))
    return Message(device, seq, sent_at, readings, rejected, signature, raw, document)


def _reading(
    item: Any, sender: str, latest: datetime, stamps: dict[str, datetime | None]
) -> Reading | tuple[str, str]:
    if not isinstance(item, dict):
        return "malformed_reading", N_("A reading must be a JSON object.")
    device = item.get("device", sender)
    if not isinstance(device, str) or not device or len(device) > 64:
        return "malformed_reading", N_("A reading's device must be a string.")
    name = item.get("metric")
    metric = METRICS.get(name) if isinstance(name, str) else None
    if metric is None:
        return "unknown_metric", N_("Unknown metric.")
    if item.get("unit") != metric.unit:
        return "wrong_unit", N_("The unit of this metric must be {unit}.").format(unit=metric.unit)
    raw_ts = item.get("ts")
    if isinstance(raw_ts, str):
        if raw_ts not in stamps:
            stamps[raw_ts] = _timestamp(raw_ts)
        ts = stamps[raw_ts]
    else:
        ts = None
    if ts is None:
        return "malformed_reading", N_("A reading's ts must be an RFC 3339 time with a time zone.")
    if ts > latest:
        return "future_timestamp", N_("The reading is stamped more than 5 minutes in the future.")
    value = item.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) > 1e12:
        return "wrong_type", N_("A reading's value must be a finite number.")
    return Reading(device, ts, metric, round(value * SCALE), _fault(metric, float(value)))


def _fault(metric: Metric, value: float) -> str | None:
    if value in metric.sentinels:
        return "sentinel_value"
    if not metric.low <= value <= metric.high:
        return "out_of_physical_range"
    return None


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999, past the end of the calendar in UTC
        return None
    # Stored to the millisecond: two values of one metric within a millisecond are one reading.
    return utc.replace(microsecond=moment.microsecond // 1000 * 1000)


def _signature(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError("bad_signature", N_("sig must be base64 text."))
    try:
        signature = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("bad_signature", N_("sig is not valid base64.")) from None
    if len(signature) != 64:
        raise PayloadError("bad_signature", N_("sig must be a 64-byte Ed25519 signature."))
    return signature
