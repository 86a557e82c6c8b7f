"""Supervision policies attached to a warehouse, a virtual warehouse, a room or a commodity (issue 5).

Each row names exactly one of the four, and the temperature class its temperature line was
written for. The existing rows stay virtual warehouse policies; their class is that of the coldest
room of their virtual warehouse, which is the class their initial version was copied from.
Downgrading deletes the policies of warehouses, rooms and commodities, which 0007 cannot hold.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCOPES = {"warehouse_id": "warehouses", "room_id": "rooms", "commodity_id": "commodities"}
ONE_SCOPE = (
    " + ".join(
        f"(CASE WHEN {column} IS NULL THEN 0 ELSE 1 END)"
        for column in ("warehouse_id", "virtual_warehouse_id", "room_id", "commodity_id")
    )
    + " = 1"
)
CLASSES = "temperature_class IN ('frozen', 'deep_frozen', 'chilled')"
COLDEST_ROOM = """
UPDATE supervision_policies SET temperature_class = COALESCE(
    (SELECT CASE MIN(CASE rooms.temperature_class
                         WHEN 'deep_frozen' THEN 0 WHEN 'frozen' THEN 1 WHEN 'chilled' THEN 2 END)
                WHEN 0 THEN 'deep_frozen' WHEN 1 THEN 'frozen' WHEN 2 THEN 'chilled' END
     FROM rooms WHERE rooms.virtual_warehouse_id = supervision_policies.virtual_warehouse_id),
    'frozen')
"""


def upgrade() -> None:
    with op.batch_alter_table("supervision_policies", schema=None) as batch_op:
        for column in SCOPES:
            batch_op.add_column(sa.Column(column, sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("temperature_class", sa.String(length=32), nullable=True))

    op.execute(COLDEST_ROOM)

    with op.batch_alter_table("supervision_policies", schema=None) as batch_op:
        batch_op.alter_column("temperature_class", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("virtual_warehouse_id", existing_type=sa.Integer(), nullable=True)
        for column, table in SCOPES.items():
            batch_op.create_foreign_key(
                batch_op.f(f"fk_supervision_policies_{column}_{table}"), table, [column], ["id"]
            )
            batch_op.create_unique_constraint(
                batch_op.f(f"uq_supervision_policies_{column}_version"), [column, "version"]
            )
        batch_op.create_check_constraint(batch_op.f("ck_supervision_policies_one_scope"), ONE_SCOPE)
        batch_op.create_check_constraint(
            batch_op.f("ck_supervision_policies_policy_temperature_class"), CLASSES
        )


def downgrade() -> None:
    op.execute("DELETE FROM supervision_policies WHERE virtual_warehouse_id IS NULL")
    with op.batch_alter_table("supervision_policies", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("ck_supervision_policies_policy_temperature_class"), type_="check"
        )
        batch_op.drop_constraint(batch_op.f("ck_supervision_policies_one_scope"), type_="check")
        for column, table in SCOPES.items():
            batch_op.drop_constraint(batch_op.f(f"uq_supervision_policies_{column}_version"), type_="unique")
            batch_op.drop_constraint(
                batch_op.f(f"fk_supervision_policies_{column}_{table}"), type_="foreignkey"
            )
        batch_op.alter_column("virtual_warehouse_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("temperature_class")
        for column in SCOPES:
            batch_op.drop_column(column)
