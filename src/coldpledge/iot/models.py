"""Tables of the IoT context: devices, telemetry messages, readings, rollups and dead letters.

Readings carry no foreign key to ``devices``: the ingest service only writes readings of devices it
has just looked up, devices are retired rather than deleted, and a per-row key check would cost
the hot path a lookup for every one of tens of thousands of rows a second.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.choices import Choice, present
from coldpledge.db import Base, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_

# Sequence-like ids on both databases: SQLite only auto-increments a column declared INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


@present(
    {
        "temperature": N_("Temperature sensor"),
        "humidity": N_("Humidity sensor"),
        "door": N_("Door contact"),
        "lock": N_("Electronic lock"),
        "scale": N_("Weighbridge or floor scale"),
        "camera": N_("Camera"),
        "gps": N_("GPS tracker"),
        "gateway": N_("Edge gateway"),
    }
)
class DeviceKind(Choice):
    TEMPERATURE = "temperature"
    HUMIDITY = "humidity"
    DOOR = "door"
    LOCK = "lock"
    SCALE = "scale"
    CAMERA = "camera"
    GPS = "gps"
    GATEWAY = "gateway"


@present(
    {"active": N_("Active"), "retired": N_("Retired")},
    {"active": "green", "retired": "grey"},
)
class DeviceStatus(Choice):
    ACTIVE = "active"
    RETIRED = "retired"


class Device(Base):
    """A sensor or gateway bound to a room or zone, with its credentials and its health."""

    __tablename__ = "devices"
    __permission__ = "device"
    __label__ = N_("device")
    __subject_type__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(choice_column(DeviceKind, "device_kind"))
    name: Mapped[str] = mapped_column(String(200))
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), index=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    # A sensor wired to a gateway: its readings arrive inside the gateway's signed batches.
    gateway_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), index=True)
    status: Mapped[DeviceStatus] = mapped_column(
        choice_column(DeviceStatus, "device_status"), default=DeviceStatus.ACTIVE
    )
    sampling_interval_s: Mapped[int] = mapped_column(Integer, default=60)
    calibration_certificate: Mapped[str | None] = mapped_column(String(64))
    calibration_due: Mapped[date | None] = mapped_column(Date)
    # Gateways always sign; a simple sensor registered as non-signing may send unsigned payloads.
    signing: Mapped[bool] = mapped_column(Boolean, default=True)
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary)  # raw 32-byte Ed25519 key
    # Secrets are kept only as hashes: the HTTP token as SHA-256 (high-entropy, looked up on
    # every request), the MQTT password in Mosquitto's own PBKDF2-SHA512 format for its
    # password file.
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    mqtt_username: Mapped[str] = mapped_column(String(64), unique=True)
    mqtt_password_hash: Mapped[str] = mapped_column(String(200))
    key_version: Mapped[int] = mapped_column(Integer, default=1)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    # Received minus sent, from the last message: how far the device's clock is behind ours.
    clock_skew_ms: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def subject_ref(self) -> str:
        return f"device:{self.code}"


class TelemetryMessage(Base):
    """One accepted message per (device, seq): a redelivered message finds its row and is skipped."""

    __tablename__ = "telemetry_messages"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    signed: Mapped[bool] = mapped_column(Boolean)
    readings: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    transport: Mapped[str] = mapped_column(String(8))
    chunk_id: Mapped[int] = mapped_column(BigId, index=True)


class Reading(Base):
    """A raw reading. On PostgreSQL the table is range-partitioned by day on ``ts`` (migration
    0004 and ``iot.partitions``); values are millionths of the metric's unit."""

    __tablename__ = "readings"
    __table_args__ = (
        Index("ix_readings_ts_brin", "ts", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    metric: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    value_u: Mapped[int] = mapped_column(BigInteger)
    # 0 a measurement; 1 a sensor's sentinel value; 2 outside the physical range. Faulty values
    # are kept (they are evidence of a failing probe) but never enter rollups or metrics.
    fault: Mapped[int] = mapped_column(SmallInteger, default=0)
    signed: Mapped[bool] = mapped_column(Boolean)
    sender_id: Mapped[int] = mapped_column(Integer)  # the device whose message carried it
    seq: Mapped[int] = mapped_column(BigInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class _Rollup:
    """Columns of a time bucket: min, max, sum and count, and the mergeable time-weighted
    aggregate of ``iot.timeweight`` (twice the trapezoid area, first and last point in ms)."""

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    metric: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    min_u: Mapped[int] = mapped_column(BigInteger)
    max_u: Mapped[int] = mapped_column(BigInteger)
    sum_u: Mapped[int] = mapped_column(BigInteger)
    area2: Mapped[int] = mapped_column(BigInteger)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    first_u: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    last_u: Mapped[int] = mapped_column(BigInteger)


class RollupMinute(_Rollup, Base):
    __tablename__ = "rollups_1m"


class RollupHour(_Rollup, Base):
    __tablename__ = "rollups_1h"


class LatestReading(Base):
    """The newest value of each metric of each device, for screens and health."""

    __tablename__ = "latest_readings"

    device_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    metric: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(UTCDateTime)
    value_u: Mapped[int] = mapped_column(BigInteger)
    fault: Mapped[int] = mapped_column(SmallInteger)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DeadLetter(Base):
    """A message, or one reading of it, that could not be stored: why, and the bytes as received."""

    __tablename__ = "dead_letters"
    __permission__ = "dead_letter"
    __label__ = N_("dead letter")

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    transport: Mapped[str] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(300))
    device_code: Mapped[str | None] = mapped_column(String(64), index=True)
    device_id: Mapped[int | None] = mapped_column(Integer)
    seq: Mapped[int | None] = mapped_column(BigInteger)
    reading_index: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40), index=True)
    detail: Mapped[str] = mapped_column(String(500))
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class IngestChunk(Base):
    """One ingest transaction: the subject of its evidence entry, which lists every message it
    stored (device, seq, payload hash, signed or not)."""

    __tablename__ = "ingest_chunks"
    __subject_type__ = "ingest_chunk"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    transport: Mapped[str] = mapped_column(String(8))
    messages: Mapped[int] = mapped_column(Integer)
    readings: Mapped[int] = mapped_column(Integer)
    duplicates: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)

    @property
    def subject_ref(self) -> str:
        return f"ingest_chunk:{self.id}"
