"""Credit facilities: application, the bank's terms, contracts, collateral, cash margin, the
position a bank reads, and who may see and do what."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.errors import Conflict, IllegalTransition, InvalidInput, NotFound, PermissionDenied
from coldpledge.financing import collateral_links, facilities, margin
from coldpledge.financing.models import FacilityStatus
from coldpledge.financing.queries import get_facility, position
from coldpledge.financing.schemas import CollateralAttachIn, FacilityApplyIn, MarginDepositIn
from coldpledge.inventory.models import Lot, LotStatus
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from tests.financing import (
    LIMIT_FEN,
    PORK_VALUE_FEN,
    active_facility,
    applied,
    contracts,
    drawn,
    price,
    terms,
)
from tests.support import today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB


@pytest.fixture
def priced(db: TestDB, settings: Settings, world: World) -> None:
    price(db.uow, settings, world, "20.00")


def test_a_borrower_applies_and_the_bank_approves_with_its_terms(db: TestDB, world: World) -> None:
    facility_id = applied(db.uow, world)

    facility = facilities.approve(db.uow(), world.who("bank"), facility_id, terms(pledge_rate_bp=6000))

    assert facility.status is FacilityStatus.APPROVED
    assert facility.borrower_org_id == world.orgs["borrower"]
    assert (facility.pledge_rate_bp, facility.warning_line_bp, facility.liquidation_line_bp) == (
        6000,
        7500,
        8500,
    )
    assert facility.rate_bp == 435
    assert facility.limit_fen == LIMIT_FEN


def test_a_floating_rate_is_the_lpr_plus_the_spread(db: TestDB, world: World) -> None:
    facility_id = applied(db.uow, world)
    data = terms(rate_bp=None, rate_kind="lpr_spread", lpr_bp=310, spread_bp=125)

    facility = facilities.approve(db.uow(), world.who("bank"), facility_id, data)

    assert (facility.lpr_bp, facility.spread_bp, facility.rate_bp) == (310, 125, 435)


def test_only_the_facilitys_bank_decides_on_it(db: TestDB, world: World) -> None:
    facility_id = applied(db.uow, world)

    with pytest.raises(PermissionDenied):
        facilities.approve(db.uow(), world.who("borrower"), facility_id, terms())
    with pytest.raises(NotFound):
        facilities.approve(db.uow(), world.who("bank2"), facility_id, terms())


def test_a_facility_is_seen_by_its_bank_borrower_and_the_operator_only(db: TestDB, world: World) -> None:
    facility_id = applied(db.uow, world)

    with db.uow() as unit:
        for persona in ("bank", "bankviewer", "borrower", "admin"):
            assert get_facility(unit.session, world.who(persona), facility_id).id == facility_id
        for persona in ("bank2", "borrower2", "keeper", "supervisor", "guarantor", "insurer"):
            with pytest.raises(NotFound):
                get_facility(unit.session, world.who(persona), facility_id)


def test_a_named_guarantor_sees_the_facility(db: TestDB, world: World) -> None:
    data = FacilityApplyIn(
        bank_org_id=world.orgs["bank"],
        limit_fen=LIMIT_FEN,
        start_date=today(),
        expiry_date=today() + timedelta(days=180),
        guarantor_org_id=world.orgs["guarantor"],
    )
    facility_id = facilities.apply(db.uow(), world.who("borrower"), data).id

    with db.uow() as unit:
        assert get_facility(unit.session, world.who("guarantor"), facility_id).id == facility_id


def test_an_application_must_name_a_bank(db: TestDB, world: World) -> None:
    data = FacilityApplyIn(
        bank_org_id=world.orgs["keeper"],
        limit_fen=LIMIT_FEN,
        start_date=today(),
        expiry_date=today() + timedelta(days=180),
    )

    with pytest.raises(InvalidInput) as refused:
        facilities.apply(db.uow(), world.who("borrower"), data)
    assert refused.value.field == "bank_org_id"


def test_a_facility_is_not_activated_before_its_contracts_are_on_file(db: TestDB, world: World) -> None:
    facility_id = applied(db.uow, world)
    facilities.approve(db.uow(), world.who("bank"), facility_id, terms())

    with pytest.raises(Conflict, match="not on file"):
        facilities.activate(db.uow(), world.who("bank"), facility_id, NoteIn())

    contracts(db.uow, world, facility_id)
    assert (
        facilities.activate(db.uow(), world.who("bank"), facility_id, NoteIn()).status
        is FacilityStatus.ACTIVE
    )


def test_a_step_out_of_order_says_what_is_possible(db: TestDB, world: World) -> None:
    facility_id = applied(db.uow, world)

    with pytest.raises(IllegalTransition) as refused:
        facilities.suspend(db.uow(), world.who("bank"), facility_id, ReasonIn(reason="契约违约"))
    assert refused.value.allowed_actions == ["approve", "reject", "withdraw"]


def test_the_lifecycle_runs_active_suspended_active_expired_closed(
    db: TestDB, world: World, priced: None
) -> None:
    facility_id = active_facility(db.uow, world)
    bank = world.who("bank")

    facilities.suspend(db.uow(), bank, facility_id, ReasonIn(reason="财务指标不达标"))
    facilities.resume(db.uow(), bank, facility_id, NoteIn())
    facilities.expire(db.uow(), bank, facility_id, NoteIn())
    closed = facilities.close(db.uow(), bank, facility_id, NoteIn())

    assert closed.status is FacilityStatus.CLOSED
    with db.uow() as unit:
        actions = unit.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_type == "facility", AuditEvent.subject_id == facility_id)
            .order_by(AuditEvent.id)
        ).all()
    assert actions == [
        "facility.apply",
        "facility.approve",
        "facility.activate",
        "facility.suspend",
        "facility.resume",
        "facility.expire",
        "facility.close",
    ]
    with db.uow() as unit:
        assert position(unit.session, bank, facility_id, today()).collateral.lines == ()


def test_a_facility_with_a_loan_outstanding_does_not_close(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    drawn(db.uow, world, facility_id, 10_000_000)

    with pytest.raises(Conflict, match="still open"):
        facilities.close(db.uow(), world.who("bank"), facility_id, NoteIn())


def test_the_position_values_the_pledged_goods_at_the_approved_price(
    db: TestDB, world: World, priced: None
) -> None:
    facility_id = active_facility(db.uow, world)

    with db.uow() as unit:
        found = position(unit.session, world.who("borrower"), facility_id, today())

    assert found.value_fen == PORK_VALUE_FEN
    assert found.exposure_fen == 0
    assert found.ltv_bp == 0
    # min(limit − 0, 65 % × 600,000.00) = CNY 390,000.00
    assert found.headroom_fen == 39_000_000
    (line,) = found.collateral.lines
    assert line.receipt_id == world.receipts["pledged"]
    assert line.price is not None
    assert line.price.price_fen_per_t == 2_000_000
    assert line.reason is None


def test_a_haircut_lowers_the_value(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world, haircut_bp=1000)

    with db.uow() as unit:
        assert position(unit.session, world.who("bank"), facility_id, today()).value_fen == 54_000_000


def test_goods_on_quality_hold_count_nothing(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    with db.uow() as unit:
        unit.session.get_one(Lot, world.lots["pledged"]).status = LotStatus.ON_HOLD
        unit.commit()

    with db.uow() as unit:
        found = position(unit.session, world.who("bank"), facility_id, today())

    assert found.value_fen == 0
    assert found.collateral.lines[0].reason == "The lot is on quality hold."


def test_goods_without_an_approved_price_count_nothing_and_say_why(db: TestDB, world: World) -> None:
    facility_id = active_facility(db.uow, world)

    with db.uow() as unit:
        found = position(unit.session, world.who("bank"), facility_id, today())

    assert found.value_fen == 0
    assert found.headroom_fen == 0
    assert "no approved price" in (found.collateral.lines[0].reason or "")


def test_a_receipt_pledged_to_another_bank_cannot_be_attached(db: TestDB, world: World) -> None:
    facility_id = active_facility(db.uow, world, receipts=())

    # Bruno's bank was offered the pending receipt; Alice does not even see it.
    with pytest.raises(InvalidInput) as refused:
        collateral_links.attach(
            db.uow(), world.who("bank"), facility_id, CollateralAttachIn(receipt_id=world.receipts["pending"])
        )
    assert refused.value.field == "receipt_id"


def test_a_pledge_secures_one_facility_at_a_time(db: TestDB, world: World) -> None:
    active_facility(db.uow, world)
    second = active_facility(db.uow, world, receipts=())

    with pytest.raises(Conflict, match="already secures a facility"):
        collateral_links.attach(
            db.uow(), world.who("bank"), second, CollateralAttachIn(receipt_id=world.receipts["pledged"])
        )


def test_collateral_that_covers_a_loan_cannot_be_detached(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    with db.uow() as unit:
        link = position(unit.session, world.who("bank"), facility_id, today()).collateral.lines[0].link_id
    drawn(db.uow, world, facility_id, 10_000_000)

    with pytest.raises(Conflict, match="above the pledge rate"):
        collateral_links.detach(db.uow(), world.who("bank"), facility_id, link)


def test_unneeded_collateral_is_detached(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    with db.uow() as unit:
        link = position(unit.session, world.who("bank"), facility_id, today()).collateral.lines[0].link_id

    detached = collateral_links.detach(db.uow(), world.who("bank"), facility_id, link)

    assert detached.detached_at is not None


def test_a_pledge_securing_a_facility_is_discharged_only_once_detached(
    db: TestDB, world: World, priced: None
) -> None:
    facility_id = active_facility(db.uow, world)
    receipt_id = world.receipts["pledged"]

    with pytest.raises(Conflict, match="detach it from the facility"):
        receipts.discharge(db.uow(), world.who("bank"), receipt_id, NoteIn(note="已还清"))
    with db.uow() as unit:
        link = position(unit.session, world.who("bank"), facility_id, today()).collateral.lines[0].link_id
    collateral_links.detach(db.uow(), world.who("bank"), facility_id, link)

    discharged = receipts.discharge(db.uow(), world.who("bank"), receipt_id, NoteIn(note="已还清"))
    assert discharged.status == "issued"


def test_cash_margin_lowers_the_exposure(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    drawn(db.uow, world, facility_id, 30_000_000)

    margin.deposit(
        db.uow(), world.who("bank"), facility_id, MarginDepositIn(amount_fen=5_000_000, reference="TX-1")
    )

    with db.uow() as unit:
        found = position(unit.session, world.who("bank"), facility_id, today())
    assert found.cash_margin_fen == 5_000_000
    assert found.exposure_fen == 25_000_000
    assert found.headroom_fen == 14_000_000


def test_margin_that_the_cover_needs_is_not_paid_back(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    deposit = margin.deposit(db.uow(), world.who("bank"), facility_id, MarginDepositIn(amount_fen=5_000_000))
    drawn(db.uow, world, facility_id, 42_000_000)  # CNY 420,000 − 50,000 margin = 370,000 ≤ 390,000

    with pytest.raises(Conflict, match="above the pledge rate"):
        margin.withdraw(db.uow(), world.who("bank"), facility_id, deposit.id, ReasonIn(reason="退还保证金"))


def test_a_split_receipt_still_covers_the_facility_through_its_parts(
    db: TestDB, world: World, priced: None
) -> None:
    from coldpledge.inventory import service as inventory
    from coldpledge.inventory.schemas import UnsealIn
    from coldpledge.receipts import service as receipts
    from coldpledge.receipts.schemas import SplitIn, SplitPart

    facility_id = active_facility(db.uow, world)
    inventory.unseal_lot(db.uow(), world.who("supervisor"), world.lots["pledged"], UnsealIn(reason="拆单"))
    with db.uow() as unit:
        lot = unit.session.get_one(Lot, world.lots["pledged"])
        grams, cartons = lot.verified_net_weight_g, lot.cartons
    parts = [
        SplitPart(quantity_g=grams // 3, cartons=cartons // 3),
        SplitPart(quantity_g=grams - grams // 3, cartons=cartons - cartons // 3),
    ]
    receipts.split(db.uow(), world.who("bank"), world.receipts["pledged"], SplitIn(parts=parts))

    with db.uow() as unit:
        found = position(unit.session, world.who("bank"), facility_id, today())
    assert len(found.collateral.lines) == 2
    assert found.value_fen == PORK_VALUE_FEN
