"""Alerts, rule condition states and work orders (issue 5).

One live alert per (rule, subject) and one live alert-response work order per alert are partial
unique indexes, on SQLite and PostgreSQL alike: concurrent ingest workers raising the same condition
insert one row, and the others find it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import coldpledge.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_condition_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column(
            "state",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("updated_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_condition_states")),
        sa.UniqueConstraint("rule", "subject", name=op.f("uq_rule_condition_states_rule_subject")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=100), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "minor",
                "major",
                "critical",
                name="alert_severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "condition",
            sa.Enum(
                "pending",
                "firing",
                "resolved",
                name="alert_condition",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "open",
                "acknowledged",
                "resolved",
                "closed",
                name="alert_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("triggered_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "trigger",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("warehouse_id", sa.Integer(), nullable=True),
        sa.Column("virtual_warehouse_id", sa.Integer(), nullable=True),
        sa.Column("first_transition_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_transition_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("flips", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("resolved_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_user_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("closed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"], ["users.id"], name=op.f("fk_alerts_acknowledged_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_user_id"], ["users.id"], name=op.f("fk_alerts_closed_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_user_id"], ["users.id"], name=op.f("fk_alerts_resolved_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_alerts_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["virtual_warehouse_id"],
            ["virtual_warehouses.id"],
            name=op.f("fk_alerts_virtual_warehouse_id_virtual_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"], ["warehouses.id"], name=op.f("fk_alerts_warehouse_id_warehouses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_room_id"), ["room_id"], unique=False)
        batch_op.create_index("ix_alerts_status_severity", ["status", "severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_triggered_at"), ["triggered_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alerts_virtual_warehouse_id"), ["virtual_warehouse_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_alerts_warehouse_id"), ["warehouse_id"], unique=False)
        batch_op.create_index(
            "uq_alerts_one_live_per_rule_subject",
            ["rule", "subject"],
            unique=True,
            sqlite_where=sa.text("status IN ('pending', 'open', 'acknowledged')"),
            postgresql_where=sa.text("status IN ('pending', 'open', 'acknowledged')"),
        )
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "alert_response",
                "stocktake",
                "patrol",
                "release_execution",
                "margin_call_follow_up",
                "disposal",
                "device_maintenance",
                name="work_order_type",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "assigned",
                "in_progress",
                "pending_review",
                "closed",
                "cancelled",
                name="work_order_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "severity",
            sa.Enum(
                "minor",
                "major",
                "critical",
                name="work_order_severity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=100), nullable=True),
        sa.Column("room_id", sa.Integer(), nullable=True),
        sa.Column("warehouse_id", sa.Integer(), nullable=True),
        sa.Column("virtual_warehouse_id", sa.Integer(), nullable=True),
        sa.Column("assignee_user_id", sa.Integer(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("next_escalation_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("opened_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledge_by", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolve_by", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True),
        sa.Column("started_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resolved_by_user_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("reviewer_user_id", sa.Integer(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("closed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "escalation_level >= 0", name=op.f("ck_work_orders_escalation_level_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["acknowledged_by_user_id"],
            ["users.id"],
            name=op.f("fk_work_orders_acknowledged_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], name=op.f("fk_work_orders_alert_id_alerts")),
        sa.ForeignKeyConstraint(
            ["assignee_user_id"], ["users.id"], name=op.f("fk_work_orders_assignee_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_work_orders_created_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_user_id"], ["users.id"], name=op.f("fk_work_orders_resolved_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_user_id"], ["users.id"], name=op.f("fk_work_orders_reviewer_user_id_users")
        ),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_work_orders_room_id_rooms")),
        sa.ForeignKeyConstraint(
            ["virtual_warehouse_id"],
            ["virtual_warehouses.id"],
            name=op.f("fk_work_orders_virtual_warehouse_id_virtual_warehouses"),
        ),
        sa.ForeignKeyConstraint(
            ["warehouse_id"], ["warehouses.id"], name=op.f("fk_work_orders_warehouse_id_warehouses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_orders")),
    )
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_orders_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_work_orders_assignee_user_id"), ["assignee_user_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_orders_room_id"), ["room_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_orders_status"), ["status"], unique=False)
        batch_op.create_index(
            "ix_work_orders_status_next_escalation_at", ["status", "next_escalation_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_work_orders_virtual_warehouse_id"), ["virtual_warehouse_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_work_orders_warehouse_id"), ["warehouse_id"], unique=False)
        batch_op.create_index(
            "uq_work_orders_one_live_per_alert",
            ["alert_id"],
            unique=True,
            sqlite_where=sa.text("alert_id IS NOT NULL AND status NOT IN ('closed', 'cancelled')"),
            postgresql_where=sa.text("alert_id IS NOT NULL AND status NOT IN ('closed', 'cancelled')"),
        )
    op.create_table(
        "work_order_check_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("latitude_e6", sa.Integer(), nullable=False),
        sa.Column("longitude_e6", sa.Integer(), nullable=False),
        sa.Column("accuracy_m", sa.Integer(), nullable=True),
        sa.Column("distance_m", sa.Integer(), nullable=True),
        sa.Column("at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "latitude_e6 BETWEEN -90000000 AND 90000000",
            name=op.f("ck_work_order_check_ins_latitude_in_range"),
        ),
        sa.CheckConstraint(
            "longitude_e6 BETWEEN -180000000 AND 180000000",
            name=op.f("ck_work_order_check_ins_longitude_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_work_order_check_ins_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_check_ins_work_order_id_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_check_ins")),
    )
    with op.batch_alter_table("work_order_check_ins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_order_check_ins_work_order_id"), ["work_order_id"], unique=False
        )
    op.create_table(
        "work_order_comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_order_id", sa.Integer(), nullable=False),
        sa.Column("author_user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "attachments",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["users.id"], name=op.f("fk_work_order_comments_author_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["work_orders.id"],
            name=op.f("fk_work_order_comments_work_order_id_work_orders"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_comments")),
    )
    with op.batch_alter_table("work_order_comments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_work_order_comments_work_order_id"), ["work_order_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("work_order_comments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_comments_work_order_id"))
    op.drop_table("work_order_comments")
    with op.batch_alter_table("work_order_check_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_order_check_ins_work_order_id"))
    op.drop_table("work_order_check_ins")
    with op.batch_alter_table("work_orders", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_work_orders_one_live_per_alert",
            sqlite_where=sa.text("alert_id IS NOT NULL AND status NOT IN ('closed', 'cancelled')"),
            postgresql_where=sa.text("alert_id IS NOT NULL AND status NOT IN ('closed', 'cancelled')"),
        )
        batch_op.drop_index(batch_op.f("ix_work_orders_warehouse_id"))
        batch_op.drop_index(batch_op.f("ix_work_orders_virtual_warehouse_id"))
        batch_op.drop_index("ix_work_orders_status_next_escalation_at")
        batch_op.drop_index(batch_op.f("ix_work_orders_status"))
        batch_op.drop_index(batch_op.f("ix_work_orders_room_id"))
        batch_op.drop_index(batch_op.f("ix_work_orders_assignee_user_id"))
        batch_op.drop_index(batch_op.f("ix_work_orders_alert_id"))
    op.drop_table("work_orders")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_alerts_one_live_per_rule_subject",
            sqlite_where=sa.text("status IN ('pending', 'open', 'acknowledged')"),
            postgresql_where=sa.text("status IN ('pending', 'open', 'acknowledged')"),
        )
        batch_op.drop_index(batch_op.f("ix_alerts_warehouse_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_virtual_warehouse_id"))
        batch_op.drop_index(batch_op.f("ix_alerts_triggered_at"))
        batch_op.drop_index("ix_alerts_status_severity")
        batch_op.drop_index(batch_op.f("ix_alerts_room_id"))
    op.drop_table("alerts")
    op.drop_table("rule_condition_states")
