"""Credit facilities, their contracts, collateral links and margin deposits, drawdowns, daily
interest accruals and repayments (issue 6).

A pledge secures at most one facility at a time (a partial unique index) and an accrual is written
once per drawdown, business date and kind (a unique constraint: the daily job is idempotent), on
SQLite and PostgreSQL alike.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coldpledge.db

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "facilities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("bank_org_id", sa.Integer(), nullable=False),
        sa.Column("borrower_org_id", sa.Integer(), nullable=False),
        sa.Column("guarantor_org_id", sa.Integer(), nullable=True),
        sa.Column("limit_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=False),
        sa.Column("pledge_rate_bp", sa.Integer(), nullable=False),
        sa.Column("warning_line_bp", sa.Integer(), nullable=False),
        sa.Column("liquidation_line_bp", sa.Integer(), nullable=False),
        sa.Column("cure_business_days", sa.Integer(), nullable=False),
        sa.Column(
            "rate_kind",
            sa.Enum(
                "fixed",
                "lpr_spread",
                name="facility_rate_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("rate_bp", sa.Integer(), nullable=True),
        sa.Column("lpr_bp", sa.Integer(), nullable=True),
        sa.Column("spread_bp", sa.Integer(), nullable=True),
        sa.Column(
            "day_count",
            sa.Enum(
                "act_360",
                "act_365",
                name="facility_day_count",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("penalty_multiplier_bp", sa.Integer(), nullable=False),
        sa.Column("haircut_bp", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "applied",
                "approved",
                "active",
                "suspended",
                "expired",
                "closed",
                "rejected",
                "withdrawn",
                name="facility_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "risk_state",
            sa.Enum(
                "normal",
                "warning",
                "margin_call",
                "liquidation",
                "disposed",
                name="facility_risk_state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cash_margin_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("applied_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("applied_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("status_changed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "rate_bp IS NOT NULL OR status IN ('applied', 'rejected', 'withdrawn')",
            name=op.f("ck_facilities_rate_once_approved"),
        ),
        sa.CheckConstraint(
            "rate_kind = 'fixed' OR (lpr_bp IS NOT NULL AND spread_bp IS NOT NULL)",
            name=op.f("ck_facilities_lpr_complete"),
        ),
        sa.CheckConstraint("bank_org_id <> borrower_org_id", name=op.f("ck_facilities_two_parties")),
        sa.CheckConstraint("cash_margin_fen >= 0", name=op.f("ck_facilities_cash_margin_not_negative")),
        sa.CheckConstraint("cure_business_days > 0", name=op.f("ck_facilities_cure_period_positive")),
        sa.CheckConstraint(
            "haircut_bp >= 0 AND haircut_bp < 10000", name=op.f("ck_facilities_haircut_range")
        ),
        sa.CheckConstraint("limit_fen > 0", name=op.f("ck_facilities_limit_positive")),
        sa.CheckConstraint(
            "penalty_multiplier_bp >= 10000", name=op.f("ck_facilities_penalty_not_below_rate")
        ),
        sa.CheckConstraint(
            "pledge_rate_bp > 0 AND pledge_rate_bp <= warning_line_bp AND warning_line_bp <= liquidation_line_bp AND liquidation_line_bp <= 10000",
            name=op.f("ck_facilities_lines_in_order"),
        ),
        sa.CheckConstraint("rate_bp IS NULL OR rate_bp >= 0", name=op.f("ck_facilities_rate_not_negative")),
        sa.CheckConstraint("start_date < expiry_date", name=op.f("ck_facilities_starts_before_expiry")),
        sa.ForeignKeyConstraint(
            ["applied_by_user_id"], ["users.id"], name=op.f("fk_facilities_applied_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["bank_org_id"], ["organisations.id"], name=op.f("fk_facilities_bank_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["borrower_org_id"],
            ["organisations.id"],
            name=op.f("fk_facilities_borrower_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"], ["users.id"], name=op.f("fk_facilities_decided_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["guarantor_org_id"],
            ["organisations.id"],
            name=op.f("fk_facilities_guarantor_org_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facilities")),
        sa.UniqueConstraint("code", name=op.f("uq_facilities_code")),
    )
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facilities_bank_org_id"), ["bank_org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_facilities_borrower_org_id"), ["borrower_org_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_facilities_guarantor_org_id"), ["guarantor_org_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_facilities_status"), ["status"], unique=False)

    op.create_table(
        "drawdowns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "approved",
                "active",
                "repaid",
                "overdue",
                "defaulted",
                "in_recovery",
                "recovered",
                "written_off",
                "rejected",
                "withdrawn",
                name="drawdown_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("maturity_date", sa.Date(), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=True),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column("penalty_rate_bp", sa.Integer(), nullable=False),
        sa.Column(
            "day_count",
            sa.Enum(
                "act_360",
                "act_365",
                name="drawdown_day_count",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("principal_outstanding_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_repaid_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_written_off_fen", sa.BigInteger(), nullable=False),
        sa.Column("accrued_ufen", sa.BigInteger(), nullable=False),
        sa.Column("interest_posted_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_accrued_ufen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_posted_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("accrued_until", sa.Date(), nullable=True),
        sa.Column("overdue_since", sa.Date(), nullable=True),
        sa.Column("requested_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("disbursed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("disbursed_by_user_id", sa.Integer(), nullable=True),
        sa.Column("disbursed_on", sa.Date(), nullable=True),
        sa.Column("closed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_changed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "accrued_ufen >= 0 AND penalty_accrued_ufen >= 0 AND interest_paid_fen >= 0 AND interest_paid_fen <= interest_posted_fen AND penalty_paid_fen >= 0 AND penalty_paid_fen <= penalty_posted_fen",
            name=op.f("ck_drawdowns_interest_not_overpaid"),
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_drawdowns_amount_positive")),
        sa.CheckConstraint(
            "principal_outstanding_fen + principal_repaid_fen + principal_written_off_fen IN (0, amount_fen)",
            name=op.f("ck_drawdowns_principal_conserved"),
        ),
        sa.CheckConstraint(
            "principal_outstanding_fen >= 0 AND principal_repaid_fen >= 0 AND principal_written_off_fen >= 0",
            name=op.f("ck_drawdowns_principal_not_negative"),
        ),
        sa.CheckConstraint(
            "rate_bp >= 0 AND penalty_rate_bp >= rate_bp", name=op.f("ck_drawdowns_rates_in_order")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"], ["users.id"], name=op.f("fk_drawdowns_decided_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["disbursed_by_user_id"], ["users.id"], name=op.f("fk_drawdowns_disbursed_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_drawdowns_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"], ["users.id"], name=op.f("fk_drawdowns_requested_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drawdowns")),
        sa.UniqueConstraint("code", name=op.f("uq_drawdowns_code")),
    )
    with op.batch_alter_table("drawdowns", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_drawdowns_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_drawdowns_status"), ["status"], unique=False)

    op.create_table(
        "facility_contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "credit_agreement",
                "pledge_contract",
                "supervision_agreement",
                name="facility_contract_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("signed_on", sa.Date(), nullable=False),
        sa.Column("parties", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("added_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("added_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["added_by_user_id"], ["users.id"], name=op.f("fk_facility_contracts_added_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_facility_contracts_facility_id_facilities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_contracts")),
        sa.UniqueConstraint(
            "facility_id", "kind", "number", name=op.f("uq_facility_contracts_facility_id_kind_number")
        ),
    )
    with op.batch_alter_table("facility_contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facility_contracts_facility_id"), ["facility_id"], unique=False)

    op.create_table(
        "margin_deposits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("deposited_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deposited_by_user_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_margin_deposits_amount_positive")),
        sa.ForeignKeyConstraint(
            ["deposited_by_user_id"], ["users.id"], name=op.f("fk_margin_deposits_deposited_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_margin_deposits_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_user_id"], ["users.id"], name=op.f("fk_margin_deposits_withdrawn_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_margin_deposits")),
    )
    with op.batch_alter_table("margin_deposits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_margin_deposits_facility_id"), ["facility_id"], unique=False)

    op.create_table(
        "interest_accruals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drawdown_id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "interest",
                "penalty",
                name="accrual_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("rate_bp", sa.Integer(), nullable=False),
        sa.Column(
            "day_count",
            sa.Enum(
                "act_360",
                "act_365",
                name="accrual_day_count",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("ufen", sa.BigInteger(), nullable=False),
        sa.Column("cumulative_ufen", sa.BigInteger(), nullable=False),
        sa.Column("posted_fen", sa.BigInteger(), nullable=False),
        sa.Column("created_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "ufen >= 0 AND posted_fen >= 0 AND principal_fen > 0",
            name=op.f("ck_interest_accruals_amounts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["drawdown_id"], ["drawdowns.id"], name=op.f("fk_interest_accruals_drawdown_id_drawdowns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interest_accruals")),
        sa.UniqueConstraint(
            "drawdown_id",
            "business_date",
            "kind",
            name=op.f("uq_interest_accruals_drawdown_id_business_date_kind"),
        ),
    )
    with op.batch_alter_table("interest_accruals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_interest_accruals_drawdown_id"), ["drawdown_id"], unique=False)

    op.create_table(
        "repayments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drawdown_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_repayments_amount_positive")),
        sa.CheckConstraint(
            "penalty_fen >= 0 AND interest_fen >= 0 AND principal_fen >= 0 AND penalty_fen + interest_fen + principal_fen = amount_fen",
            name=op.f("ck_repayments_allocation_adds_up"),
        ),
        sa.ForeignKeyConstraint(["by_user_id"], ["users.id"], name=op.f("fk_repayments_by_user_id_users")),
        sa.ForeignKeyConstraint(
            ["drawdown_id"], ["drawdowns.id"], name=op.f("fk_repayments_drawdown_id_drawdowns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayments")),
    )
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_repayments_drawdown_id"), ["drawdown_id"], unique=False)

    op.create_table(
        "facility_collateral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("pledge_id", sa.Integer(), nullable=False),
        sa.Column("attached_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attached_by_user_id", sa.Integer(), nullable=True),
        sa.Column("detached_at", coldpledge.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("detached_by_user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["attached_by_user_id"],
            ["users.id"],
            name=op.f("fk_facility_collateral_attached_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["detached_by_user_id"],
            ["users.id"],
            name=op.f("fk_facility_collateral_detached_by_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_facility_collateral_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["pledge_id"], ["pledges.id"], name=op.f("fk_facility_collateral_pledge_id_pledges")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facility_collateral")),
    )
    with op.batch_alter_table("facility_collateral", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_facility_collateral_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_facility_collateral_pledge_id"), ["pledge_id"], unique=False)
        batch_op.create_index(
            "uq_facility_collateral_one_live_per_pledge",
            ["pledge_id"],
            unique=True,
            sqlite_where=sa.text("detached_at IS NULL"),
            postgresql_where=sa.text("detached_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("facility_collateral", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_facility_collateral_one_live_per_pledge",
            sqlite_where=sa.text("detached_at IS NULL"),
            postgresql_where=sa.text("detached_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_facility_collateral_pledge_id"))
        batch_op.drop_index(batch_op.f("ix_facility_collateral_facility_id"))

    op.drop_table("facility_collateral")
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repayments_drawdown_id"))

    op.drop_table("repayments")
    with op.batch_alter_table("interest_accruals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_interest_accruals_drawdown_id"))

    op.drop_table("interest_accruals")
    with op.batch_alter_table("margin_deposits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_margin_deposits_facility_id"))

    op.drop_table("margin_deposits")
    with op.batch_alter_table("facility_contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facility_contracts_facility_id"))

    op.drop_table("facility_contracts")
    with op.batch_alter_table("drawdowns", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drawdowns_status"))
        batch_op.drop_index(batch_op.f("ix_drawdowns_facility_id"))

    op.drop_table("drawdowns")
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facilities_status"))
        batch_op.drop_index(batch_op.f("ix_facilities_guarantor_org_id"))
        batch_op.drop_index(batch_op.f("ix_facilities_borrower_org_id"))
        batch_op.drop_index(batch_op.f("ix_facilities_bank_org_id"))

    op.drop_table("facilities")
