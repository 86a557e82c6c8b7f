"""evidence log: leaves, tiles, checkpoints, witnesses, cosignatures, timestamps, refs

The outbox entries written before this revision get their refs (subject and related objects) so
that packages can find them; the log's records are append-only like the outbox itself, and a
checkpoint's tree size must exceed every earlier one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import coldpledge.db

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_checkpoints",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_evidence_checkpoints_tree_size")),
    )
    with op.batch_alter_table("evidence_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_checkpoints_signed_at"), ["signed_at"], unique=False)

    op.create_table(
        "evidence_tiles",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("tile_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "tile_index", name=op.f("pk_evidence_tiles")),
    )
    op.create_table(
        "evidence_timestamps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("authority", sa.String(length=300), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("gen_time", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["evidence_checkpoints.id"],
            name=op.f("fk_evidence_timestamps_checkpoint_id_evidence_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_timestamps")),
    )
    with op.batch_alter_table("evidence_timestamps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_timestamps_checkpoint_id"), ["checkpoint_id"], unique=False
        )

    op.create_table(
        "evidence_witnesses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("vkey", sa.String(length=400), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("added_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_evidence_witnesses_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_witnesses")),
        sa.UniqueConstraint("name", name=op.f("uq_evidence_witnesses_name")),
    )
    op.create_table(
        "evidence_cosignatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkpoint_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("witness_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["evidence_checkpoints.id"],
            name=op.f("fk_evidence_cosignatures_checkpoint_id_evidence_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["witness_id"],
            ["evidence_witnesses.id"],
            name=op.f("fk_evidence_cosignatures_witness_id_evidence_witnesses"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_cosignatures")),
        sa.UniqueConstraint(
            "checkpoint_id", "witness_id", name=op.f("uq_evidence_cosignatures_checkpoint_id_witness_id")
        ),
    )
    with op.batch_alter_table("evidence_cosignatures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_cosignatures_checkpoint_id"), ["checkpoint_id"], unique=False
        )

    op.create_table(
        "evidence_leaves",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sequenced_at", coldpledge.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["evidence_outbox.id"], name=op.f("fk_evidence_leaves_outbox_id_evidence_outbox")
        ),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_evidence_leaves")),
        sa.UniqueConstraint("outbox_id", name=op.f("uq_evidence_leaves_outbox_id")),
    )
    op.create_table(
        "evidence_refs",
        sa.Column("outbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("ref", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"], ["evidence_outbox.id"], name=op.f("fk_evidence_refs_outbox_id_evidence_outbox")
        ),
        sa.PrimaryKeyConstraint("outbox_id", "ref", name=op.f("pk_evidence_refs")),
    )
    with op.batch_alter_table("evidence_refs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_refs_ref"), ["ref"], unique=False)

    _refs_of_existing_entries()
    _append_only()


APPEND_ONLY = (
    "evidence_leaves",
    "evidence_checkpoints",
    "evidence_cosignatures",
    "evidence_timestamps",
    "evidence_refs",
)


def _refs_of_existing_entries() -> None:
    bind = op.get_bind()
    outbox = sa.table(
        "evidence_outbox", sa.column("id", sa.BigInteger()), sa.column("entry", sa.LargeBinary())
    )
    refs = sa.table("evidence_refs", sa.column("outbox_id", sa.BigInteger()), sa.column("ref", sa.String()))
    rows = []
    for outbox_id, entry in bind.execute(sa.select(outbox.c.id, outbox.c.entry)):
        document = json.loads(bytes(entry))
        for ref in sorted({document["subject"], *document["related"]}):
            rows.append({"outbox_id": outbox_id, "ref": ref})
    if rows:
        bind.execute(sa.insert(refs), rows)


def _append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
                f"EXECUTE FUNCTION coldpledge_refuse('{table}_is_append_only')"
            )
        op.execute(
            """
            CREATE FUNCTION coldpledge_checkpoints_grow() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF EXISTS (SELECT 1 FROM evidence_checkpoints WHERE tree_size >= NEW.tree_size) THEN
                    RAISE EXCEPTION 'checkpoint_size_must_grow' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$;
            """
        )
        op.execute(
            "CREATE TRIGGER evidence_checkpoints_grow BEFORE INSERT ON evidence_checkpoints "
            "FOR EACH ROW EXECUTE FUNCTION coldpledge_checkpoints_grow()"
        )
        return
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}_is_append_only'); END"
            )
    op.execute(
        "CREATE TRIGGER evidence_checkpoints_grow BEFORE INSERT ON evidence_checkpoints "
        "WHEN EXISTS (SELECT 1 FROM evidence_checkpoints WHERE tree_size >= NEW.tree_size) "
        "BEGIN SELECT RAISE(ABORT, 'checkpoint_size_must_grow'); END"
    )


def _drop_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER evidence_checkpoints_grow ON evidence_checkpoints")
        op.execute("DROP FUNCTION coldpledge_checkpoints_grow()")
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        return
    op.execute("DROP TRIGGER evidence_checkpoints_grow")
    for table in APPEND_ONLY:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{verb}")


def downgrade() -> None:
    _drop_append_only()
    with op.batch_alter_table("evidence_refs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_refs_ref"))

    op.drop_table("evidence_refs")
    op.drop_table("evidence_leaves")
    with op.batch_alter_table("evidence_cosignatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_cosignatures_checkpoint_id"))

    op.drop_table("evidence_cosignatures")
    op.drop_table("evidence_witnesses")
    with op.batch_alter_table("evidence_timestamps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_timestamps_checkpoint_id"))

    op.drop_table("evidence_timestamps")
    op.drop_table("evidence_tiles")
    with op.batch_alter_table("evidence_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_checkpoints_signed_at"))

    op.drop_table("evidence_checkpoints")
