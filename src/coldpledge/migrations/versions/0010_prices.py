"""Price series and price observations (issue 6).

An observation is approved by a person other than the one who entered it (a CHECK), and a series
has at most one non-rejected observation per date and a commodity at most one active primary series
(partial unique indexes, on SQLite and PostgreSQL alike).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coldpledge.db

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRIMARY_SERIES_SQL = "is_primary AND active"
LIVE_OBSERVATION_SQL = "status <> 'rejected'"


def _choice(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "price_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("commodity_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("source_series_id", sa.String(length=100), nullable=False),
        sa.Column("market_region", sa.String(length=100), nullable=False),
        sa.Column("spec", sa.String(length=200), nullable=False),
        sa.Column("unit", _choice("price_unit", "CNY/kg", "CNY/t"), nullable=False),
        sa.Column("frequency", _choice("price_frequency", "daily", "weekly"), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("feed_trusted", sa.Boolean(), nullable=False),
        sa.Column("stale_after_business_days", sa.Integer(), nullable=False),
        sa.Column("average_days", sa.Integer(), nullable=True),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "average_days IS NULL OR (average_days >= 2 AND average_days <= 60)",
            name=op.f("ck_price_series_average_days_range"),
        ),
        sa.CheckConstraint(
            "stale_after_business_days > 0", name=op.f("ck_price_series_stale_after_positive")
        ),
        sa.ForeignKeyConstraint(
            ["commodity_id"], ["commodities.id"], name=op.f("fk_price_series_commodity_id_commodities")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_price_series_created_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_series")),
        sa.UniqueConstraint("code", name=op.f("uq_price_series_code")),
        sa.UniqueConstraint(
            "source", "source_series_id", name=op.f("uq_price_series_source_source_series_id")
        ),
    )
    with op.batch_alter_table("price_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_price_series_commodity_id"), ["commodity_id"], unique=False)
        batch_op.create_index(
            "uq_price_series_one_primary_per_commodity",
            ["commodity_id"],
            unique=True,
            sqlite_where=sa.text(PRIMARY_SERIES_SQL),
            postgresql_where=sa.text(PRIMARY_SERIES_SQL),
        )

    op.create_table(
        "price_observations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=False),
        sa.Column("price_date", sa.Date(), nullable=False),
        sa.Column("published_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("price_low_fen_per_t", sa.BigInteger(), nullable=True),
        sa.Column("price_high_fen_per_t", sa.BigInteger(), nullable=True),
        sa.Column("price_mid_fen_per_t", sa.BigInteger(), nullable=False),
        sa.Column("raw_value", sa.String(length=100), nullable=False),
        sa.Column("raw_unit", sa.String(length=16), nullable=False),
        sa.Column("origin", _choice("price_origin", "manual", "csv", "feed"), nullable=False),
        sa.Column(
            "status", _choice("price_observation_status", "pending", "approved", "rejected"), nullable=False
        ),
        sa.Column("entered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("entered_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_by_user_id", sa.Integer(), nullable=True),
        sa.Column("approved_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_by_user_id", sa.Integer(), nullable=True),
        sa.Column("rejected_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("raw_payload_sha256", sa.String(length=64), nullable=False),
        sa.Column("is_outlier", sa.Boolean(), nullable=False),
        sa.Column("outlier_reason", sa.Text(), nullable=True),
        sa.Column("outlier_confirmed", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status <> 'approved' OR approved_at IS NOT NULL",
            name=op.f("ck_price_observations_approved_has_time"),
        ),
        sa.CheckConstraint(
            "approved_by_user_id IS NULL OR entered_by_user_id IS NULL "
            "OR approved_by_user_id <> entered_by_user_id",
            name=op.f("ck_price_observations_four_eyes"),
        ),
        sa.CheckConstraint(
            "price_high_fen_per_t IS NULL OR price_high_fen_per_t >= price_mid_fen_per_t",
            name=op.f("ck_price_observations_high_not_below_mid"),
        ),
        sa.CheckConstraint(
            "price_low_fen_per_t IS NULL "
            "OR (price_low_fen_per_t > 0 AND price_low_fen_per_t <= price_mid_fen_per_t)",
            name=op.f("ck_price_observations_low_not_above_mid"),
        ),
        sa.CheckConstraint("price_mid_fen_per_t > 0", name=op.f("ck_price_observations_mid_positive")),
        sa.ForeignKeyConstraint(
            ["approved_by_user_id"],
            ["users.id"],
            name=op.f("fk_price_observations_approved_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["entered_by_user_id"], ["users.id"], name=op.f("fk_price_observations_entered_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["rejected_by_user_id"],
            ["users.id"],
            name=op.f("fk_price_observations_rejected_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["series_id"], ["price_series.id"], name=op.f("fk_price_observations_series_id_price_series")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_observations")),
    )
    with op.batch_alter_table("price_observations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_price_observations_series_status_date", ["series_id", "status", "price_date"], unique=False
        )
        batch_op.create_index(
            "uq_price_observations_one_live_per_date",
            ["series_id", "price_date"],
            unique=True,
            sqlite_where=sa.text(LIVE_OBSERVATION_SQL),
            postgresql_where=sa.text(LIVE_OBSERVATION_SQL),
        )


def downgrade() -> None:
    with op.batch_alter_table("price_observations", schema=None) as batch_op:
        batch_op.drop_index("uq_price_observations_one_live_per_date")
        batch_op.drop_index("ix_price_observations_series_status_date")
    op.drop_table("price_observations")
    with op.batch_alter_table("price_series", schema=None) as batch_op:
        batch_op.drop_index("uq_price_series_one_primary_per_commodity")
        batch_op.drop_index(batch_op.f("ix_price_series_commodity_id"))
    op.drop_table("price_series")
