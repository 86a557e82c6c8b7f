"""Database-enforced invariants: receipts within verified stock, final terminal states, append-only logs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

The partial unique indexes of 0001 already keep one live receipt per lot, one live pledge and one
open release per receipt. The triggers here add what an index cannot express:

- the receipts that stand for goods never claim more grams or cartons than the lot's verified stock,
  whether the receipt or the lot changes;
- a receipt in a terminal state (cancelled, replaced, split) never changes again;
- audit events and evidence outbox entries are never updated or deleted.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the state sets at the time of this migration; later code changes do not alter
# what this revision created.
ACTIVE = (
    "('issued', 'pledge_pending', 'pledged', 'delivery_pending', 'in_disposal', 'frozen', 'loss_reported')"
)
TERMINAL = "('cancelled', 'replaced', 'split')"
APPEND_ONLY = ("audit_events", "evidence_outbox")

SQLITE_CLAIM_TOO_BIG = f"""
    SELECT RAISE(ABORT, 'receipt_exceeds_verified_stock')
    WHERE (SELECT COALESCE(SUM(quantity_g), 0) FROM receipts
           WHERE lot_id = NEW.lot_id AND status IN {ACTIVE} AND id IS NOT NEW.id) + NEW.quantity_g
          > (SELECT verified_net_weight_g FROM lots WHERE id = NEW.lot_id)
       OR (SELECT COALESCE(SUM(cartons), 0) FROM receipts
           WHERE lot_id = NEW.lot_id AND status IN {ACTIVE} AND id IS NOT NEW.id) + NEW.cartons
          > (SELECT cartons FROM lots WHERE id = NEW.lot_id);
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_sqlite() -> None:
    op.execute(
        f"CREATE TRIGGER receipts_within_stock_on_insert BEFORE INSERT ON receipts "
        f"WHEN NEW.status IN {ACTIVE} BEGIN {SQLITE_CLAIM_TOO_BIG} END"
    )
    op.execute(
        f"CREATE TRIGGER receipts_within_stock_on_update "
        f"BEFORE UPDATE OF quantity_g, cartons, status, lot_id ON receipts "
        f"WHEN NEW.status IN {ACTIVE} BEGIN {SQLITE_CLAIM_TOO_BIG} END"
    )
    op.execute(
        f"""CREATE TRIGGER lots_cover_their_receipts BEFORE UPDATE OF verified_net_weight_g, cartons ON lots
        BEGIN
            SELECT RAISE(ABORT, 'receipt_exceeds_verified_stock')
            WHERE (SELECT COALESCE(SUM(quantity_g), 0) FROM receipts
                   WHERE lot_id = NEW.id AND status IN {ACTIVE}) > NEW.verified_net_weight_g
               OR (SELECT COALESCE(SUM(cartons), 0) FROM receipts
                   WHERE lot_id = NEW.id AND status IN {ACTIVE}) > NEW.cartons;
        END"""
    )
    op.execute(
        f"CREATE TRIGGER receipts_terminal_is_final BEFORE UPDATE ON receipts "
        f"WHEN OLD.status IN {TERMINAL} "
        f"BEGIN SELECT RAISE(ABORT, 'receipt_terminal_state_is_final'); END"
    )
    op.execute(
        "CREATE TRIGGER receipts_never_deleted BEFORE DELETE ON receipts "
        "BEGIN SELECT RAISE(ABORT, 'receipts_are_never_deleted'); END"
    )
    for table in APPEND_ONLY:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table}_is_append_only'); END"
            )


def _upgrade_postgresql() -> None:
    op.execute(
        f"""
        CREATE FUNCTION coldpledge_receipts_within_stock() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            target_lot integer;
            stock_g bigint;
            stock_cartons integer;
            claimed_g bigint;
            claimed_cartons bigint;
        BEGIN
            IF TG_TABLE_NAME = 'receipts' THEN
                IF NEW.status NOT IN {ACTIVE} THEN
                    RETURN NULL;
                END IF;
                target_lot := NEW.lot_id;
            ELSE
                target_lot := NEW.id;
            END IF;
            -- Share-lock the lot so a concurrent weighing cannot shrink it under this check.
            SELECT verified_net_weight_g, cartons INTO stock_g, stock_cartons
              FROM lots WHERE id = target_lot FOR SHARE;
            SELECT COALESCE(SUM(quantity_g), 0), COALESCE(SUM(cartons), 0) INTO claimed_g, claimed_cartons
              FROM receipts WHERE lot_id = target_lot AND status IN {ACTIVE};
            IF claimed_g > stock_g OR claimed_cartons > stock_cartons THEN
                RAISE EXCEPTION 'receipt_exceeds_verified_stock'
                    USING ERRCODE = 'check_violation',
                          DETAIL = format('lot %s: receipts claim %s g / %s cartons, verified stock is %s g / %s cartons',
                                          target_lot, claimed_g, claimed_cartons, stock_g, stock_cartons);
            END IF;
            RETURN NULL;
        END $$;
        """
    )
    op.execute(
        "CREATE TRIGGER receipts_within_stock AFTER INSERT OR UPDATE OF quantity_g, cartons, status, lot_id "
        "ON receipts FOR EACH ROW EXECUTE FUNCTION coldpledge_receipts_within_stock()"
    )
    op.execute(
        "CREATE TRIGGER lots_cover_their_receipts AFTER UPDATE OF verified_net_weight_g, cartons "
        "ON lots FOR EACH ROW EXECUTE FUNCTION coldpledge_receipts_within_stock()"
    )
    op.execute(
        """
        CREATE FUNCTION coldpledge_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
        END $$;
        """
    )
    op.execute(
        f"CREATE TRIGGER receipts_terminal_is_final BEFORE UPDATE ON receipts FOR EACH ROW "
        f"WHEN (OLD.status IN {TERMINAL}) EXECUTE FUNCTION coldpledge_refuse('receipt_terminal_state_is_final')"
    )
    op.execute(
        "CREATE TRIGGER receipts_never_deleted BEFORE DELETE ON receipts FOR EACH ROW "
        "EXECUTE FUNCTION coldpledge_refuse('receipts_are_never_deleted')"
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION coldpledge_refuse('{table}_is_append_only')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        op.execute("DROP TRIGGER receipts_never_deleted ON receipts")
        op.execute("DROP TRIGGER receipts_terminal_is_final ON receipts")
        op.execute("DROP FUNCTION coldpledge_refuse()")
        op.execute("DROP TRIGGER lots_cover_their_receipts ON lots")
        op.execute("DROP TRIGGER receipts_within_stock ON receipts")
        op.execute("DROP FUNCTION coldpledge_receipts_within_stock()")
        return
    for table in APPEND_ONLY:
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{verb}")
    for name in (
        "receipts_never_deleted",
        "receipts_terminal_is_final",
        "lots_cover_their_receipts",
        "receipts_within_stock_on_update",
        "receipts_within_stock_on_insert",
    ):
        op.execute(f"DROP TRIGGER {name}")
