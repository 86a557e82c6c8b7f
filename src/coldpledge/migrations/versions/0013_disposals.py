"""Disposal of a liquidated facility's goods and write-offs (issue 6): disposals (one per executed
disposal release, with where the proceeds went), their allocations to drawdowns, and write-offs
(one per drawdown, with the residual claim that survives them).

The arithmetic is held by CHECK constraints on SQLite and PostgreSQL alike: amounts never negative,
a disposal's proceeds exactly the sum of costs paid, lien paid, penalty, interest, principal and
surplus, a write-off's claim exactly its principal, interest and penalty.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coldpledge.db

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "write_offs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("drawdown_id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("residual_claim_fen", sa.BigInteger(), nullable=False),
        sa.Column("claim_against_org_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "principal_fen >= 0 AND interest_fen >= 0 AND penalty_fen >= 0",
            name=op.f("ck_write_offs_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "residual_claim_fen = principal_fen + interest_fen + penalty_fen",
            name=op.f("ck_write_offs_claim_adds_up"),
        ),
        sa.ForeignKeyConstraint(
            ["claim_against_org_id"],
            ["organisations.id"],
            name=op.f("fk_write_offs_claim_against_org_id_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_user_id"], ["users.id"], name=op.f("fk_write_offs_decided_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["drawdown_id"], ["drawdowns.id"], name=op.f("fk_write_offs_drawdown_id_drawdowns")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_write_offs_facility_id_facilities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_write_offs")),
        sa.UniqueConstraint("drawdown_id", name=op.f("uq_write_offs_drawdown_id")),
    )
    with op.batch_alter_table("write_offs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_write_offs_facility_id"), ["facility_id"], unique=False)

    op.create_table(
        "disposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("facility_id", sa.Integer(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "agreed_valuation",
                "auction",
                "sale",
                "guarantor_buyback",
                name="disposal_channel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("buyer_name", sa.String(length=200), nullable=False),
        sa.Column("buyer_org_id", sa.Integer(), nullable=True),
        sa.Column("quantity_g", sa.BigInteger(), nullable=False),
        sa.Column("price_fen_per_t", sa.BigInteger(), nullable=False),
        sa.Column("proceeds_fen", sa.BigInteger(), nullable=False),
        sa.Column("fees_fen", sa.BigInteger(), nullable=False),
        sa.Column("fees_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("storage_lien_fen", sa.BigInteger(), nullable=False),
        sa.Column("storage_lien_paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("surplus_fen", sa.BigInteger(), nullable=False),
        sa.Column("pledgor_org_id", sa.Integer(), nullable=False),
        sa.Column("residual_claim_fen", sa.BigInteger(), nullable=False),
        sa.Column("reference_price_fen_per_t", sa.BigInteger(), nullable=True),
        sa.Column("reference_observation_id", sa.Integer(), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "fees_paid_fen <= fees_fen AND storage_lien_paid_fen <= storage_lien_fen",
            name=op.f("ck_disposals_costs_not_overpaid"),
        ),
        sa.CheckConstraint("price_fen_per_t >= 0", name=op.f("ck_disposals_price_not_negative")),
        sa.CheckConstraint(
            "proceeds_fen = fees_paid_fen + storage_lien_paid_fen + penalty_fen + interest_fen + principal_fen + surplus_fen",
            name=op.f("ck_disposals_proceeds_add_up"),
        ),
        sa.CheckConstraint(
            "proceeds_fen >= 0 AND fees_fen >= 0 AND storage_lien_fen >= 0 AND fees_paid_fen >= 0 AND storage_lien_paid_fen >= 0 AND penalty_fen >= 0 AND interest_fen >= 0 AND principal_fen >= 0 AND surplus_fen >= 0 AND residual_claim_fen >= 0",
            name=op.f("ck_disposals_amounts_not_negative"),
        ),
        sa.CheckConstraint("quantity_g > 0", name=op.f("ck_disposals_quantity_positive")),
        sa.ForeignKeyConstraint(
            ["buyer_org_id"], ["organisations.id"], name=op.f("fk_disposals_buyer_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["facility_id"], ["facilities.id"], name=op.f("fk_disposals_facility_id_facilities")
        ),
        sa.ForeignKeyConstraint(
            ["pledgor_org_id"], ["organisations.id"], name=op.f("fk_disposals_pledgor_org_id_organisations")
        ),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_disposals_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_user_id"], ["users.id"], name=op.f("fk_disposals_recorded_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["reference_observation_id"],
            ["price_observations.id"],
            name=op.f("fk_disposals_reference_observation_id_price_observations"),
        ),
        sa.ForeignKeyConstraint(
            ["release_id"], ["releases.id"], name=op.f("fk_disposals_release_id_releases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposals")),
        sa.UniqueConstraint("release_id", name=op.f("uq_disposals_release_id")),
    )
    with op.batch_alter_table("disposals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disposals_facility_id"), ["facility_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_disposals_receipt_id"), ["receipt_id"], unique=False)

    op.create_table(
        "disposal_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("disposal_id", sa.Integer(), nullable=False),
        sa.Column("drawdown_id", sa.Integer(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("interest_fen", sa.BigInteger(), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "penalty_fen >= 0 AND interest_fen >= 0 AND principal_fen >= 0 AND penalty_fen + interest_fen + principal_fen > 0",
            name=op.f("ck_disposal_allocations_amounts_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["disposal_id"], ["disposals.id"], name=op.f("fk_disposal_allocations_disposal_id_disposals")
        ),
        sa.ForeignKeyConstraint(
            ["drawdown_id"], ["drawdowns.id"], name=op.f("fk_disposal_allocations_drawdown_id_drawdowns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disposal_allocations")),
    )
    with op.batch_alter_table("disposal_allocations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_disposal_allocations_disposal_id"), ["disposal_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_disposal_allocations_drawdown_id"), ["drawdown_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("disposal_allocations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposal_allocations_drawdown_id"))
        batch_op.drop_index(batch_op.f("ix_disposal_allocations_disposal_id"))

    op.drop_table("disposal_allocations")
    with op.batch_alter_table("disposals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disposals_receipt_id"))
        batch_op.drop_index(batch_op.f("ix_disposals_facility_id"))

    op.drop_table("disposals")
    with op.batch_alter_table("write_offs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_write_offs_facility_id"))

    op.drop_table("write_offs")
