"""A log of changes to what the reading rules judge a room by (issue 5, the ingest path's cost).

For every chunk of readings the ingest path needed each room's settings: its effective policy
(rooms, lots, receipts, pledges, supervision policies), seals, release windows and devices, five
queries a chunk. A worker now keeps them and reads one number instead: the count of
``rule_settings_changes`` rows plus the pruned count, which these triggers make grow in every
transaction that changes any column those settings come from, whatever code does it; and the sum
of the rows' random tokens. Counted, not the greatest id: transactions commit in any order, and
one that took a lower id but commits later must still be seen. The tokens: a change rolled back
and another made instead give the same count (and, on SQLite, the same ids), not the same sum.
The scheduler deletes old rows and adds their number and tokens to ``rule_settings_pruned`` in
the same transaction, so the figures never go back.

On PostgreSQL one row per statement (statement triggers); SQLite has only row triggers.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns ``rules.service.room_settings`` reads, per table, when this was written; None: all.
WATCHED: dict[str, tuple[str, ...] | None] = {
    "rooms": ("parent_room_id", "virtual_warehouse_id", "warehouse_id", "temperature_class"),
    "lots": ("room_id", "commodity_id", "status"),
    "receipts": ("lot_id",),
    "pledges": ("receipt_id", "status"),
    "supervision_policies": None,
    "release_windows": None,
    "seals": ("room_id", "removed_at"),
    "devices": ("room_id", "kind", "created_at"),
}
FUNCTION = "coldpledge_rule_settings_changed"
# A token below 2**40: the sums stay exact in 64 bits (SQLite's sum() fails on overflow).
TOKEN = {
    "postgresql": "floor(random() * 1099511627776)::bigint",
    "sqlite": "abs(random() % 1099511627776)",
}


def upgrade() -> None:
    op.create_table(
        "rule_settings_changes",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_settings_changes")),
    )
    op.create_table(
        "rule_settings_pruned",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("pruned", sa.BigInteger(), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_settings_pruned")),
    )
    op.execute("INSERT INTO rule_settings_pruned (id, pruned, tokens) VALUES (1, 0, 0)")
    dialect = op.get_bind().dialect.name
    log = f"INSERT INTO rule_settings_changes (token) VALUES ({TOKEN.get(dialect, TOKEN['sqlite'])})"
    if dialect == "postgresql":
        op.execute(
            f"CREATE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {log}; RETURN NULL; END $$"
        )
        for table, columns in WATCHED.items():
            update = "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"
            op.execute(
                f"CREATE TRIGGER {table}_rule_settings AFTER INSERT OR {update} OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()"
            )
        return
    for table, columns in WATCHED.items():
        update = "UPDATE" if columns is None else f"UPDATE OF {', '.join(columns)}"
        for name, event in (("insert", "INSERT"), ("update", update), ("delete", "DELETE")):
            op.execute(
                f"CREATE TRIGGER {table}_rule_settings_{name} AFTER {event} ON {table} BEGIN {log}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER {table}_rule_settings ON {table}")
        op.execute(f"DROP FUNCTION {FUNCTION}()")
    else:
        for table in WATCHED:
            for name in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER {table}_rule_settings_{name}")
    op.drop_table("rule_settings_pruned")
    op.drop_table("rule_settings_changes")
