"""Request and response bodies of the IoT API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from coldpledge.db import MAX_ID
from coldpledge.iot.models import DeadLetter, Device, DeviceKind, DeviceStatus
from coldpledge.warehouses.schemas import Strict

DEVICE_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"


class DeviceIn(Strict):
    room_id: int = Field(strict=True, gt=0, le=MAX_ID)
    kind: DeviceKind
    code: str | None = Field(default=None, pattern=DEVICE_CODE_PATTERN, description="Generated when left out")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    gateway_id: int | None = Field(
        strict=True, default=None, gt=0, le=MAX_ID, description="The gateway this sensor is wired to"
    )
    public_key_pem: str | None = Field(
        default=None, max_length=2000, description="Ed25519 public key (PEM) for payload signatures"
    )
    signing: bool | None = Field(
        default=None, description="Whether payloads must be signed; default: yes when a key is given"
    )
    sampling_interval_s: int = Field(default=60, strict=True, ge=1, le=86_400)
    calibration_certificate: str | None = Field(default=None, min_length=1, max_length=64)
    calibration_due: date | None = None


class BindIn(Strict):
    room_id: int = Field(strict=True, gt=0, le=MAX_ID)
    gateway_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)
    reason: str = Field(min_length=2, max_length=500)


class RotateKeyIn(Strict):
    public_key_pem: str = Field(max_length=2000)
    reason: str = Field(min_length=2, max_length=500)


class RetireIn(Strict):
    reason: str = Field(min_length=2, max_length=500)


class DeviceOut(BaseModel):
    id: int
    code: str
    kind: DeviceKind
    name: str
    room_id: int
    warehouse_id: int
    gateway_id: int | None
    status: DeviceStatus
    signing: bool
    has_public_key: bool
    key_version: int
    sampling_interval_s: int
    calibration_certificate: str | None
    calibration_due: date | None
    mqtt_username: str
    topic: str
    last_seen_at: datetime | None
    last_seq: int | None
    clock_skew_ms: int | None
    created_at: datetime
    retired_at: datetime | None

    @classmethod
    def of(cls, device: Device, topic: str) -> DeviceOut:
        return cls(
            id=device.id,
            code=device.code,
            kind=device.kind,
            name=device.name,
            room_id=device.room_id,
            warehouse_id=device.warehouse_id,
            gateway_id=device.gateway_id,
            status=device.status,
            signing=device.signing,
            has_public_key=device.public_key is not None,
            key_version=device.key_version,
            sampling_interval_s=device.sampling_interval_s,
            calibration_certificate=device.calibration_certificate,
            calibration_due=device.calibration_due,
            mqtt_username=device.mqtt_username,
            topic=topic,
            last_seen_at=device.last_seen_at,
            last_seq=device.last_seq,
            clock_skew_ms=device.clock_skew_ms,
            created_at=device.created_at,
            retired_at=device.retired_at,
        )


class Credentials(BaseModel):
    """Shown once: only hashes are kept."""

    http_token: str
    mqtt_username: str
    mqtt_password: str


class RegisteredOut(BaseModel):
    device: DeviceOut
    credentials: Credentials


class PointOut(BaseModel):
    ts: datetime
    value: float
    fault: str | None = None


class BucketOut(BaseModel):
    bucket: datetime
    count: int
    min: float
    max: float
    mean: float = Field(description="Time-weighted mean (trapezoidal) inside the bucket")


class SeriesOut(BaseModel):
    device_id: int
    device_code: str
    metric: str
    unit: str
    resolution: Literal["raw", "1m", "1h"]
    bucket_seconds: int | None = Field(
        None, description="Width of each bucket (60 or 3,600, or wider where merged); none for raw points"
    )
    points: list[PointOut] = Field(default_factory=list)
    buckets: list[BucketOut] = Field(default_factory=list)


class LatestOut(BaseModel):
    metric: str
    unit: str
    ts: datetime
    value: float
    fault: str | None


class HealthOut(BaseModel):
    device_id: int
    code: str
    kind: DeviceKind
    room_id: int
    status: DeviceStatus
    online: bool
    last_seen_at: datetime | None
    silent_seconds: float | None
    battery_pct: float | None
    signal_dbm: float | None
    clock_skew_ms: int | None
    backlog: int | None
    calibration_due: date | None
    calibration_overdue: bool


class ColdChainOut(BaseModel):
    room_id: int
    start: datetime
    end: datetime
    band_low_c: float
    band_high_c: float
    devices: list[str]
    readings: int
    expected_readings: int
    completeness: float
    covered_seconds: float
    gap_seconds: float
    longest_gap_seconds: float
    out_of_band_seconds: float | None
    out_of_band_minutes: float | None
    degree_minutes_above: float | None
    mkt_c: float | None
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    per_device: list[dict[str, Any]]


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    transport: str
    topic: str | None
    device_code: str | None
    seq: int | None
    reading_index: int | None
    reason: str
    detail: str
    raw: str = Field(description="The bytes as received (UTF-8, invalid bytes replaced)")
    raw_bytes: int

    @classmethod
    def of(cls, row: DeadLetter) -> DeadLetterOut:
        return cls(
            id=row.id,
            received_at=row.received_at,
            transport=row.transport,
            topic=row.topic,
            device_code=row.device_code,
            seq=row.seq,
            reading_index=row.reading_index,
            reason=row.reason,
            detail=row.detail,
            raw=row.raw.decode("utf-8", errors="replace"),
            raw_bytes=len(row.raw),
        )


class IngestResultOut(BaseModel):
    device: str | None
    seq: int | None
    status: Literal["stored", "duplicate", "dead_letter"]
    stored: int
    duplicates: int
    faults: int
    rejected: list[dict[str, Any]]
