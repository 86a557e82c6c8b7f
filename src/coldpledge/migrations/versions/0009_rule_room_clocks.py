"""One row per room telling which judgement of its readings came last (issue 5).

The ingest path no longer stores the rules' recent points with their conditions; a worker keeps
them in memory and rebuilds them from ``readings`` when another judged the room since, which this
row tells (``rules.service.ReadingJudge``). Rule states stored whole before stay readable.
Downgrading deletes the ingest path's rule states, which 0008 cannot read: its rules start afresh.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coldpledge.db

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# rules.catalogue.READING_RULES when this was written.
READING_RULES = (
    "temperature_band",
    "rate_of_rise",
    "door_open_too_long",
    "sealed_room_activity",
    "sensor_fault",
    "sensor_disagreement",
)


def upgrade() -> None:
    op.create_table(
        "rule_room_clocks",
        sa.Column("room_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["room_id"], ["rooms.id"], name=op.f("fk_rule_room_clocks_room_id_rooms")),
        sa.PrimaryKeyConstraint("room_id", name=op.f("pk_rule_room_clocks")),
    )


def downgrade() -> None:
    states = sa.table("rule_condition_states", sa.column("rule", sa.String()))
    op.execute(states.delete().where(states.c.rule.in_(READING_RULES)))
    op.drop_table("rule_room_clocks")
