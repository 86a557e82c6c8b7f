"""telemetry: devices, messages, readings (partitioned by day on PostgreSQL), rollups, dead letters

On PostgreSQL ``readings`` is range-partitioned on ``ts``: a DEFAULT partition catches any reading
outside the daily partitions (a very late one, say), so no insert ever fails for want of a
partition, and ``iot.partitions`` creates the days ahead and moves strays out of the default.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coldpledge.db

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dead_letters",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=True),
        sa.Column("device_code", sa.String(length=64), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("reading_index", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dead_letters_device_code"), ["device_code"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_reason"), ["reason"], unique=False)
        batch_op.create_index(batch_op.f("ix_dead_letters_received_at"), ["received_at"], unique=False)

    op.create_table(
        "ingest_chunks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_chunks")),
    )
    with op.batch_alter_table("ingest_chunks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_chunks_received_at"), ["received_at"], unique=False)

    op.create_table(
        "latest_readings",
        sa.Column("device_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value_u", sa.BigInteger(), nullable=False),
        sa.Column("fault", sa.SmallInteger(), nullable=False),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "metric", name=op.f("pk_latest_readings")),
    )
    op.create_table(
        "readings",
        sa.Column("device_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("ts", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("value_u", sa.BigInteger(), nullable=False),
        sa.Column("fault", sa.SmallInteger(), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "metric", "ts", name=op.f("pk_readings")),
        postgresql_partition_by="RANGE (ts)",
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TABLE readings_default PARTITION OF readings DEFAULT")
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.create_index("ix_readings_ts_brin", ["ts"], unique=False, postgresql_using="brin")

    op.create_table(
        "rollups_1h",
        sa.Column("device_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("bucket", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min_u", sa.BigInteger(), nullable=False),
        sa.Column("max_u", sa.BigInteger(), nullable=False),
        sa.Column("sum_u", sa.BigInteger(), nullable=False),
        sa.Column("area2", sa.BigInteger(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_u", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_u", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "metric", "bucket", name=op.f("pk_rollups_1h")),
    )
    op.create_table(
        "rollups_1m",
        sa.Column("device_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("metric", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("bucket", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min_u", sa.BigInteger(), nullable=False),
        sa.Column("max_u", sa.BigInteger(), nullable=False),
        sa.Column("sum_u", sa.BigInteger(), nullable=False),
        sa.Column("area2", sa.BigInteger(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("first_u", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_u", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "metric", "bucket", name=op.f("pk_rollups_1m")),
    )
    op.create_table(
        "telemetry_messages",
        sa.Column("device_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("sent_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("chunk_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "seq", name=op.f("pk_telemetry_messages")),
    )
    with op.batch_alter_table("telemetry_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_telemetry_messages_chunk_id"), ["chunk_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_telemetry_messages_received_at"), ["received_at"], unique=False)

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "temperature",
                "humidity",
                "door",
                "lock",
                "scale",
                "camera",
                "gps",
                "gateway",
                name="device_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=False),
        sa.Column("warehouse_id", sa.Integer(), nullable=False),
        sa.Column("gateway_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "retired",
                name="device_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("sampling_interval_s", sa.Integer(), nullable=False),
        sa.Column("calibration_certificate", sa.String(length=64), nullable=True),
        sa.Column("calibration_due", sa.Date(), nullable=True),
        sa.Column("signing", sa.Boolean(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("mqtt_username", sa.String(length=64), nullable=False),
        sa.Column("mqtt_password_hash", sa.String(length=200), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("clock_skew_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("retired_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["gateway_id"], ["devices.id"], name=op.f("fk_devices_gateway_id_devices")),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_devices_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["warehouse_id"], ["warehouses.id"], name=op.f("fk_devices_warehouse_id_warehouses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_devices")),
        sa.UniqueConstraint("code", name=op.f("uq_devices_code")),
        sa.UniqueConstraint("mqtt_username", name=op.f("uq_devices_mqtt_username")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_devices_token_sha256")),
    )
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devices_gateway_id"), ["gateway_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_devices_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_devices_warehouse_id"), ["warehouse_id"], unique=False)

    from coldpledge.iot.partitions import ensure_partitions

    ensure_partitions(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devices_warehouse_id"))
        batch_op.drop_index(batch_op.f("ix_devices_room_id"))
        batch_op.drop_index(batch_op.f("ix_devices_gateway_id"))

    op.drop_table("devices")
    with op.batch_alter_table("telemetry_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_telemetry_messages_received_at"))
        batch_op.drop_index(batch_op.f("ix_telemetry_messages_chunk_id"))

    op.drop_table("telemetry_messages")
    op.drop_table("rollups_1m")
    op.drop_table("rollups_1h")
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_index("ix_readings_ts_brin", postgresql_using="brin")

    op.drop_table("readings")
    op.drop_table("latest_readings")
    with op.batch_alter_table("ingest_chunks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_chunks_received_at"))

    op.drop_table("ingest_chunks")
    with op.batch_alter_table("dead_letters", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dead_letters_received_at"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_reason"))
        batch_op.drop_index(batch_op.f("ix_dead_letters_device_code"))

    op.drop_table("dead_letters")
