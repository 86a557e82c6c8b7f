"""ingest: room on each page for the rows that every ingest transaction rewrites

``devices`` (last seen, last seq, clock skew), ``latest_readings`` and ``rollups_1h`` are updated in
place by every ingest chunk. PostgreSQL can do such an update as a heap-only tuple (HOT) — no new
entry in any of the table's indexes, the old version pruned on the page — only when the page has
free space. Packed full (the default fill factor of 100), every update moved the row to another
page and added an entry to each index: ``devices`` has seven, and re-indexing 2,000 sensors per
chunk cost more than inserting their readings. New pages now keep room; ``VACUUM FULL`` or a
rewrite applies it to existing pages. SQLite has no such setting.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILL_FACTORS = {"devices": 50, "latest_readings": 50, "rollups_1h": 70}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, percent in FILL_FACTORS.items():
        op.execute(f"ALTER TABLE {table} SET (fillfactor = {percent})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in FILL_FACTORS:
        op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
