"""The invariants hold even against code that skips the services: the database itself refuses.

Each attempt writes straight to the tables inside a savepoint of the test transaction, so one
refusal does not end the test. Next to each refusal stands the nearest write that is allowed, so a
constraint that refused everything would fail here too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Executable, column, delete, func, insert, select, table, update
from sqlalchemy.exc import IntegrityError

from coldpledge.errors import Conflict
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot
from coldpledge.inventory.schemas import UnsealIn, WeighIn
from coldpledge.receipts import service as receipts
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Pledge, PledgeStatus, Receipt, Release, ReleaseStatus
from coldpledge.receipts.schemas import ReasonIn, ReceiptCreateIn
from coldpledge.uow import CONSTRAINT_MESSAGES, conflict_from
from tests.support import today
from tests.world import World

if TYPE_CHECKING:
    # Imported for annotations only: under its own name pytest would try to collect it.
    from tests.conftest import TestDB


def refused(db: TestDB, statement: Executable) -> IntegrityError:
    """Run ``statement`` in a savepoint; it must be refused with an integrity error."""
    with pytest.raises(IntegrityError) as caught, db.connection.begin_nested():
        db.connection.execute(statement)
    return caught.value


def accepted(db: TestDB, statement: Executable) -> None:
    with db.connection.begin_nested():
        db.connection.execute(statement)


def said(error: IntegrityError) -> str:
    """What a user is told when a service runs into this refusal."""
    conflict = conflict_from(error)
    assert isinstance(conflict, Conflict)
    assert conflict.status == 409
    return conflict.message


def row_of(db: TestDB, model: type[Any], ident: int) -> dict[str, Any]:
    return dict(db.connection.execute(select(model.__table__).where(model.id == ident)).mappings().one())


def copy_of(db: TestDB, model: type[Any], ident: int, **changes: Any) -> Executable:
    """An INSERT of a copy of row ``ident`` with ``changes``: the rawest way to add one more."""
    values = row_of(db, model, ident)
    del values["id"]
    return insert(model.__table__).values({**values, **changes})


def lot_of(db: TestDB, receipt_id: int) -> dict[str, Any]:
    return row_of(db, Lot, row_of(db, Receipt, receipt_id)["lot_id"])


def receipt_code(n: int) -> str:
    return f"WR-TEST-DIRECT{n:04d}"


# --- one live receipt per lot -----------------------------------------------------------------


def test_a_lot_cannot_back_a_second_live_receipt(db: TestDB, world: World) -> None:
    issued = world.receipts["issued"]

    error = refused(db, copy_of(db, Receipt, issued, code=receipt_code(1), status=ReceiptStatus.DRAFT))

    assert said(error) == CONSTRAINT_MESSAGES["uq_receipts_one_live_per_lot"]
    # Closed receipts do not count: the index covers live ones only.
    accepted(
        db, copy_of(db, Receipt, issued, code=receipt_code(2), status=ReceiptStatus.CANCELLED, quantity_g=0)
    )


def test_the_service_turns_a_second_receipt_for_a_lot_into_a_409_that_names_the_rule(
    db: TestDB, world: World
) -> None:
    lot = lot_of(db, world.receipts["issued"])
    # create_draft leaves this to the database: nothing in Python looks for an existing receipt.
    with pytest.raises(Conflict) as caught:
        receipts.create_draft(
            db.uow(),
            world.who("keeper"),
            ReceiptCreateIn(
                lot_id=lot["id"],
                quantity_g=1_000_000,
                cartons=10,
                storage_period_end=today() + timedelta(days=30),
            ),
        )

    assert caught.value.message == CONSTRAINT_MESSAGES["uq_receipts_one_live_per_lot"]
    backing = db.connection.scalar(
        select(func.count()).select_from(Receipt).where(Receipt.lot_id == lot["id"])
    )
    assert backing == 1


# --- one live pledge and one open release per receipt -----------------------------------------


@pytest.mark.parametrize("status", [PledgeStatus.REQUESTED, PledgeStatus.ACTIVE])
def test_a_receipt_cannot_carry_a_second_live_pledge(db: TestDB, world: World, status: PledgeStatus) -> None:
    pledged = world.receipts["pledged"]
    existing = db.connection.scalar(select(Pledge.id).where(Pledge.receipt_id == pledged))
    assert existing is not None

    error = refused(db, copy_of(db, Pledge, existing, status=status, pledgee_org_id=world.orgs["bank2"]))

    assert said(error) == CONSTRAINT_MESSAGES["uq_pledges_one_live_per_receipt"]
    accepted(
        db, copy_of(db, Pledge, existing, status=PledgeStatus.REJECTED, pledgee_org_id=world.orgs["bank2"])
    )


@pytest.mark.parametrize("status", [ReleaseStatus.REQUESTED, ReleaseStatus.APPROVED])
def test_a_receipt_cannot_have_a_second_open_release(db: TestDB, world: World, status: ReleaseStatus) -> None:
    open_release = world.releases["requested"]

    error = refused(db, copy_of(db, Release, open_release, status=status))

    assert said(error) == CONSTRAINT_MESSAGES["uq_releases_one_open_per_receipt"]
    accepted(db, copy_of(db, Release, open_release, status=ReleaseStatus.EXECUTED))


# --- active receipts within verified stock ----------------------------------------------------


def free_lot(db: TestDB, world: World) -> dict[str, Any]:
    """The draft's lot, with its draft voided, so a new receipt may enter it."""
    draft = world.receipts["draft"]
    accepted(db, update(Receipt).where(Receipt.id == draft).values(status=ReceiptStatus.CANCELLED))
    return lot_of(db, draft)


@pytest.mark.parametrize(("extra_g", "extra_cartons"), [(1, 0), (0, 1)])
def test_a_new_active_receipt_cannot_claim_more_than_the_verified_stock(
    db: TestDB, world: World, extra_g: int, extra_cartons: int
) -> None:
    lot = free_lot(db, world)
    claim = {
        "status": ReceiptStatus.ISSUED,
        "quantity_g": lot["verified_net_weight_g"] + extra_g,
        "cartons": lot["cartons"] + extra_cartons,
    }

    error = refused(db, copy_of(db, Receipt, world.receipts["draft"], code=receipt_code(3), **claim))

    assert "receipt_exceeds_verified_stock" in str(error.orig)
    assert said(error) == CONSTRAINT_MESSAGES["receipt_exceeds_verified_stock"]
    exact = {**claim, "quantity_g": lot["verified_net_weight_g"], "cartons": lot["cartons"]}
    accepted(db, copy_of(db, Receipt, world.receipts["draft"], code=receipt_code(4), **exact))


@pytest.mark.parametrize("column", ["quantity_g", "cartons"])
def test_an_active_receipt_cannot_grow_beyond_the_verified_stock(
    db: TestDB, world: World, column: str
) -> None:
    issued = world.receipts["issued"]
    stock = lot_of(db, issued)[{"quantity_g": "verified_net_weight_g", "cartons": "cartons"}[column]]

    error = refused(db, update(Receipt).where(Receipt.id == issued).values({column: stock + 1}))

    assert said(error) == CONSTRAINT_MESSAGES["receipt_exceeds_verified_stock"]
    accepted(db, update(Receipt).where(Receipt.id == issued).values({column: stock - 1}))


def test_a_draft_may_overstate_but_cannot_become_active_while_it_does(db: TestDB, world: World) -> None:
    draft = world.receipts["draft"]
    stock = lot_of(db, draft)["verified_net_weight_g"]
    # A draft is not yet a claim on the goods; the keeper's check catches it before issue.
    accepted(db, update(Receipt).where(Receipt.id == draft).values(quantity_g=stock + 1))

    error = refused(db, update(Receipt).where(Receipt.id == draft).values(status=ReceiptStatus.ISSUED))

    assert said(error) == CONSTRAINT_MESSAGES["receipt_exceeds_verified_stock"]


@pytest.mark.parametrize("column", ["verified_net_weight_g", "cartons"])
def test_a_lot_cannot_shrink_below_the_receipt_it_backs(db: TestDB, world: World, column: str) -> None:
    lot = lot_of(db, world.receipts["issued"])

    error = refused(db, update(Lot).where(Lot.id == lot["id"]).values({column: lot[column] - 1}))

    assert said(error) == CONSTRAINT_MESSAGES["receipt_exceeds_verified_stock"]
    accepted(db, update(Lot).where(Lot.id == lot["id"]).values({column: lot[column] + 1}))
    # A draft is no claim, so its lot may be reweighed below it.
    draft_lot = lot_of(db, world.receipts["draft"])
    accepted(db, update(Lot).where(Lot.id == draft_lot["id"]).values({column: draft_lot[column] - 1}))


def test_weighing_a_lot_below_its_receipt_is_a_409_from_the_database(db: TestDB, world: World) -> None:
    issued = world.receipts["issued"]
    lot = lot_of(db, issued)
    inventory.unseal_lot(db.uow(), world.who("supervisor"), lot["id"], UnsealIn(reason="复磅前拆封"))
    # The weighing service itself does not look at receipts; the stock trigger does.
    with pytest.raises(Conflict) as caught:
        inventory.weigh(
            db.uow(),
            world.who("keeper"),
            lot["id"],
            WeighIn(
                gross_g=lot["verified_net_weight_g"] + 999_999, tare_g=1_000_000, weigh_ticket_no="WT-LOW"
            ),
        )

    assert caught.value.message == CONSTRAINT_MESSAGES["receipt_exceeds_verified_stock"]
    assert lot_of(db, issued)["verified_net_weight_g"] == lot["verified_net_weight_g"]


# --- terminal receipts are final, receipts are never deleted ----------------------------------


def cancelled_receipt(db: TestDB, world: World) -> int:
    draft = world.receipts["draft"]
    receipts.cancel(db.uow(), world.who("keeper"), draft, ReasonIn(reason="客户撤回申请"))
    assert row_of(db, Receipt, draft)["status"] is ReceiptStatus.CANCELLED
    return draft


@pytest.mark.parametrize(
    "change",
    [
        {"status": ReceiptStatus.ISSUED},
        {"status": ReceiptStatus.DRAFT},
        {"storage_fee_note": "改过的费率"},
        {"quantity_g": 1},
    ],
    ids=["reissued", "reopened", "annotated", "shrunk"],
)
def test_a_cancelled_receipt_never_changes_again(db: TestDB, world: World, change: dict[str, Any]) -> None:
    cancelled = cancelled_receipt(db, world)

    error = refused(db, update(Receipt).where(Receipt.id == cancelled).values(change))

    assert "receipt_terminal_state_is_final" in str(error.orig)
    assert said(error) == CONSTRAINT_MESSAGES["receipt_terminal_state_is_final"]


@pytest.mark.parametrize("which", ["draft", "issued", "cancelled"])
def test_no_receipt_is_ever_deleted(db: TestDB, world: World, which: str) -> None:
    receipt_id = cancelled_receipt(db, world) if which == "cancelled" else world.receipts[which]

    error = refused(db, delete(Receipt).where(Receipt.id == receipt_id))

    assert "receipts_are_never_deleted" in str(error.orig)
    assert said(error) == "Receipts are never deleted; cancel the receipt instead."


# --- the audit trail and the evidence outbox are append-only ----------------------------------


@pytest.mark.parametrize(("name", "field"), [("audit_events", "reason"), ("evidence_outbox", "entry_sha256")])
def test_the_audit_trail_and_the_outbox_can_be_neither_edited_nor_deleted(
    db: TestDB, name: str, field: str
) -> None:
    log = table(name, column("id"), column(field))
    newest = db.connection.scalar(select(func.max(log.c.id)))

    edit = refused(db, update(log).where(log.c.id == newest).values({field: "rewritten"}))
    erase = refused(db, delete(log).where(log.c.id == newest))

    for error in (edit, erase):
        assert f"{name}_is_append_only" in str(error.orig)
        assert "append-only" in said(error)
    [kept] = db.connection.execute(select(log.c[field]).where(log.c.id == newest)).one()
    assert kept != "rewritten"
