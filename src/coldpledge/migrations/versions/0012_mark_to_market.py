"""Mark-to-market (issue 6): valuations per facility and business date with their lines and the
price observations used, margin calls and their events, the facilities' margin-call line, and the
facility an alert is about.

One daily valuation per (facility, business date) and one open margin call per facility are
partial unique indexes, on SQLite and PostgreSQL alike: the daily job is idempotent and two
schedulers running at once cannot double anything. Existing facilities get the default
margin-call line of 80 %.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import coldpledge.db

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "valuations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "daily",
                "intraday",
                name="valuation_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cause", sa.String(length=100), nullable=True),
        sa.Column("valued_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("principal_outstanding_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_due_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_margin_fen", sa.BigInteger(), nullable=False),
        sa.Column("exposure_fen", sa.BigInteger(), nullable=False),
        sa.Column("market_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("collateral_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("unpriced_lines", sa.Integer(), nullable=False),
        sa.Column("ltv_bp", sa.BigInteger(), nullable=True),
        sa.Column("pledge_rate_bp", sa.Integer(), nullable=False),
        sa.Column("warning_line_bp", sa.Integer(), nullable=False),
        sa.Column("margin_call_line_bp", sa.Integer(), nullable=False),
        sa.Column("liquidation_line_bp", sa.Integer(), nullable=False),
        sa.Column(
            "risk_before",
            sa.Enum(
                "normal",
                "warning",
                "margin_call",
                "liquidation",
                "disposed",
                name="valuation_risk_before",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "risk_after",
            sa.Enum(
                "normal",
                "warning",
                "margin_call",
                "liquidation",
                "disposed",
                name="valuation_risk_after",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "risk_reason",
            sa.Enum(
                "unchanged",
                "warning_line_reached",
                "warning_cleared",
                "margin_call_line_reached",
                "cured",
                "deadline_missed",
                "liquidation_line_reached",
                "no_collateral_value",
                name="valuation_risk_reason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "principal_outstanding_fen >= 0 AND interest_due_fen >= 0 AND cash_margin_fen >= 0 AND exposure_fen >= 0 AND market_value_fen >= 0 AND collateral_value_fen >= 0",
            name=op.f("ck_valuations_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "unpriced_lines >= 0 AND unpriced_lines <= lines", name=op.f("ck_valuations_lines_counted")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_valuations_facility_id_facilities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_valuations")),
    )
    with op.batch_alter_table("valuations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_valuations_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(
            "uq_valuations_one_daily_per_facility_date",
            ["facility_id", "business_date"],
            unique=True,
            sqlite_where=sa.text("kind = 'daily'"),
            postgresql_where=sa.text("kind = 'daily'"),
        )

    op.create_table(
        "margin_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("valuation_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "cured",
                "expired",
                "waived",
                name="margin_call_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("exposure_fen", sa.BigInteger(), nullable=False),
        sa.Column("collateral_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("ltv_bp", sa.BigInteger(), nullable=True),
        sa.Column("pledge_rate_bp", sa.Integer(), nullable=False),
        sa.Column("cure_cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("cure_collateral_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("cure_goods_value_fen", sa.BigInteger(), nullable=True),
        sa.Column("cure_goods_g", sa.BigInteger(), nullable=True),
        sa.Column("cure_commodity_id", sa.Integer(), nullable=True),
        sa.Column("cure_price_fen_per_t", sa.BigInteger(), nullable=True),
        sa.Column("cure_haircut_bp", sa.Integer(), nullable=False),
        sa.Column("issued_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("closed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("closing_valuation_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("waive_requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("waive_requested_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("waive_reason", sa.Text(), nullable=True),
        sa.Column("waived_by_user_id", sa.Integer(), nullable=True),
        sa.Column("waived_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("waived_until", sa.Date(), nullable=True),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("deadline >= business_date", name=op.f("ck_margin_calls_deadline_after_issue")),
        sa.CheckConstraint(
            "exposure_fen >= 0 AND collateral_value_fen >= 0 AND cure_cash_fen >= 0 AND cure_collateral_value_fen >= 0",
            name=op.f("ck_margin_calls_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "waived_by_user_id IS NULL OR waived_by_user_id <> waive_requested_by_user_id",
            name=op.f("ck_margin_calls_waiver_by_two"),
        ),
        sa.ForeignKeyConstraint(
            ["closing_valuation_id"],
            ["valuations.id"],
            name=op.f("fk_margin_calls_closing_valuation_id_valuations"),
        ),
        sa.ForeignKeyConstraint(
            ["cure_commodity_id"],
            ["commodities.id"],
            name=op.f("fk_margin_calls_cure_commodity_id_commodities"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_margin_calls_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["valuation_id"], ["valuations.id"], name=op.f("fk_margin_calls_valuation_id_valuations")
        ),
        sa.ForeignKeyConstraint(
            ["waive_requested_by_user_id"],
            ["users.id"],
            name=op.f("fk_margin_calls_waive_requested_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["waived_by_user_id"], ["users.id"], name=op.f("fk_margin_calls_waived_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_margin_calls")),
        sa.UniqueConstraint("code", name=op.f("uq_margin_calls_code")),
    )
    with op.batch_alter_table("margin_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_margin_calls_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_margin_calls_status"), ["status"], unique=False)
        batch_op.create_index(
            "uq_margin_calls_one_open_per_facility",
            ["facility_id"],
            unique=True,
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )

    op.create_table(
        "margin_call_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("margin_call_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "issued",
                "notified",
                "deposit",
                "repayment",
                "top_up",
                "revalued",
                "cured",
                "expired",
                "waive_requested",
                "waived",
                name="margin_call_event_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("valuation_id", sa.Integer(), nullable=True),
        sa.Column("ref", sa.String(length=100), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("ltv_bp", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["margin_call_id"],
            ["margin_calls.id"],
            name=op.f("fk_margin_call_events_margin_call_id_margin_calls"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_margin_call_events_user_id_users")),
        sa.ForeignKeyConstraint(
            ["valuation_id"], ["valuations.id"], name=op.f("fk_margin_call_events_valuation_id_valuations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_margin_call_events")),
    )
    with op.batch_alter_table("margin_call_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_margin_call_events_margin_call_id"), ["margin_call_id"], unique=False
        )

    op.create_table(
        "valuation_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("valuation_id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("lot_id", sa.Integer(), nullable=False),
        sa.Column("commodity_id", sa.Integer(), nullable=False),
        sa.Column("quantity_g", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "counted",
                "ineligible",
                "unpriced",
                name="valuation_line_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("price_fen_per_t", sa.BigInteger(), nullable=True),
        sa.Column("price_observation_id", sa.Integer(), nullable=True),
        sa.Column("price_date", sa.Date(), nullable=True),
        sa.Column(
            "observation_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("stale", sa.Boolean(), nullable=False),
        sa.Column("haircut_bp", sa.Integer(), nullable=False),
        sa.Column("market_value_fen", sa.BigInteger(), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.CheckConstraint(
            "quantity_g >= 0 AND market_value_fen >= 0 AND value_fen >= 0 AND value_fen <= market_value_fen",
            name=op.f("ck_valuation_lines_values_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["facility_collateral.id"],
            name=op.f("fk_valuation_lines_link_id_facility_collateral"),
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.id"], name=op.f("fk_valuation_lines_pledge_id_pledges")
        ),
        sa.ForeignKeyConstraint(
            ["price_observation_id"],
            ["price_observations.id"],
            name=op.f("fk_valuation_lines_price_observation_id_price_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_valuation_lines_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["valuation_id"], ["valuations.id"], name=op.f("fk_valuation_lines_valuation_id_valuations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_valuation_lines")),
    )
    with op.batch_alter_table("valuation_lines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_valuation_lines_valuation_id"), ["valuation_id"], unique=False)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facility_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alerts_facility_id"), ["facility_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_facility_id_facilities"), "facilities", ["facility_id"], ["id"]
        )

    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("margin_call_line_bp", sa.Integer(), nullable=False, server_default=sa.text("8000"))
        )


def downgrade() -> None:
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_column("margin_call_line_bp")

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_alerts_facility_id_facilities"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_alerts_facility_id"))
        batch_op.drop_column("facility_id")

    with op.batch_alter_table("valuation_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_valuation_lines_valuation_id"))

    op.drop_table("valuation_lines")
    with op.batch_alter_table("margin_call_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_margin_call_events_margin_call_id"))

    op.drop_table("margin_call_events")
    with op.batch_alter_table("margin_calls", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_margin_calls_one_open_per_facility",
            sqlite_where=sa.text("status = 'open'"),
            postgresql_where=sa.text("status = 'open'"),
        )
        batch_op.drop_index(batch_op.f("ix_margin_calls_status"))
        batch_op.drop_index(batch_op.f("ix_margin_calls_facility_id"))

    op.drop_table("margin_calls")
    with op.batch_alter_table("valuations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_valuations_one_daily_per_facility_date",
            sqlite_where=sa.text("kind = 'daily'"),
            postgresql_where=sa.text("kind = 'daily'"),
        )
        batch_op.drop_index(batch_op.f("ix_valuations_facility_id"))

    op.drop_table("valuations")
