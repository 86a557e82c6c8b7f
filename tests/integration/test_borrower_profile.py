"""A borrower's profile as the banks lending to it read it: every figure counted from records made
through the real services at their own times, and traceable to them by id.

Erin runs 杭州冻品贸易, a borrower of its own (the world's borrowers have goods of their own that
would blur the figures). Over the last 90 days her pork came in, part of it went out against a
release, it was counted, alarms went off in its room, and a loan from Alice's bank fell overdue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from coldpledge.alerts.service import AlertScope, apply_transitions
from coldpledge.calendar import BUSINESS_TZ
from coldpledge.config import Settings
from coldpledge.errors import NotFound
from coldpledge.financing import collateral_links, facilities, loans
from coldpledge.financing.accrual import accrue
from coldpledge.financing.models import ContractKind, Facility
from coldpledge.financing.mtm_models import MarginCall, MarginCallStatus, Valuation, ValuationKind
from coldpledge.financing.prices.models import PriceSeries
from coldpledge.financing.profile import BorrowerProfile, borrower_profile
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import (
    CollateralAttachIn,
    ContractIn,
    DrawdownRequestIn,
    FacilityApplyIn,
    FacilityTermsIn,
)
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot, Operation, OperationKind
from coldpledge.inventory.schemas import StocktakeIn, UnsealIn
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Principal, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.parties.service import principal_for
from coldpledge.receipts import releases
from coldpledge.receipts import service as receipts
from coldpledge.receipts.schemas import NoteIn, OutboundIn, ReceiptCreateIn, ReleaseRequestIn, TransferIn
from coldpledge.uow import UnitOfWork
from tests import world as world_helpers
from tests.alerting import apply, change
from tests.prices import approved, new_series
from tests.support import Clock, ok, today
from tests.world import PASSWORD, World

if TYPE_CHECKING:
    from tests.conftest import TestDB

TONNE = 1_000_000
PLATE = "浙A88888"
COLLECTOR = "330106198801011234"


def at(days_ago: int, hour: int = 10) -> datetime:
    """``hour`` o'clock in Shanghai, ``days_ago`` days before today."""
    return datetime.combine(today() - timedelta(days=days_ago), time(hour), tzinfo=BUSINESS_TZ)


@dataclass
class Erin:
    """What the story made, by name."""

    org_id: int
    who: Principal
    lot_id: int = 0
    old_lot_id: int = 0
    receipt_id: int = 0
    facility_id: int = 0
    drawdown_id: int = 0
    outbound_id: int = 0
    stocktake_id: int = 0
    weigh_ids: tuple[int, ...] = ()


class Story:
    def __init__(self, db: TestDB, settings: Settings, world: World) -> None:
        self.db, self.settings = db, settings
        # Erin joins a copy of the world: the shared one outlives this test's transaction.
        self.world = replace(world, orgs=dict(world.orgs), principals=dict(world.principals))
        self.clock = Clock(at(0))

    def on(self, days_ago: int, hour: int = 10) -> Callable[[], UnitOfWork]:
        """A unit-of-work factory living ``days_ago`` days back."""
        self.clock.now = at(days_ago, hour)
        return lambda: UnitOfWork(self.db.session, clock=self.clock)

    def borrower(self) -> Erin:
        org = parties.create_organisation(
            self.db.uow(), SYSTEM, OrganisationIn(name="杭州冻品贸易有限公司", party_type=PartyType.BORROWER)
        )
        user = parties.create_user(
            self.db.uow(),
            self.settings,
            SYSTEM,
            UserIn(
                username="erin",
                display_name="Erin",
                organisation_id=org.id,
                role=Role.BORROWER_FINANCE,
                password=PASSWORD,
            ),
        )
        with self.db.uow() as unit:
            who = principal_for(unit.session.get_one(User, user.id))
        return Erin(org.id, who)

    def lot(self, days_ago: int, room: str, tonnes: int) -> int:
        uow = self.on(days_ago)
        lot_id = world_helpers.receive(
            uow, self.world, room=room, owner="erin", commodity="PORK-FZ", tonnes=tonnes, batch=f"E{days_ago}"
        )
        world_helpers.make_ready(uow, self.settings, self.world, lot_id, seal=f"E-SEAL-{days_ago}")
        return lot_id

    def price(self, days_ago: int, mid: str) -> None:
        uow = self.on(days_ago)
        with uow() as unit:
            series_id = unit.session.scalars(
                select(PriceSeries.id).where(PriceSeries.code == "E-PORK")
            ).first()
        if series_id is None:
            series_id = new_series(uow, self.world, "E-PORK").id
        approved(uow, self.world, SYSTEM, series_id, today() - timedelta(days=days_ago), mid)

    def tell(self) -> Erin:
        self.erin = erin = self.borrower()
        self.world.orgs["erin"], self.world.principals["erin"] = erin.org_id, erin.who
        bank, keeper = self.world.who("bank"), self.world.who("keeper")
        # 100 days ago, before the window: 10 t in Dongjiang, still there.
        erin.old_lot_id = self.lot(100, "DJ-F18", 10)
        # 60 days ago: 20 t in Yangshan, receipted and pledged to Alice's bank.
        erin.lot_id = self.lot(60, "YS-F18", 20)
        uow = self.on(60)
        erin.receipt_id = world_helpers.issued_receipt(uow, self.world, erin.lot_id)
        world_helpers.pledge(uow, self.world, erin.receipt_id, holder="erin", bank="bank")
        # Alice lends against it: CNY 100,000.00 for 30 days from 50 days ago.
        self.price(60, "20.00")
        erin.facility_id = self.facility(60)
        self.price(50, "20.00")
        uow = self.on(50)
        maturity = today() - timedelta(days=20)
        loan = loans.request(
            uow(),
            erin.who,
            erin.facility_id,
            DrawdownRequestIn(amount_fen=10_000_000, maturity_date=maturity),
        )
        loans.approve(uow(), bank, loan.id, NoteIn())
        loans.disburse(uow(), bank, loan.id, NoteIn())
        erin.drawdown_id = loan.id
        # 30 days ago: 5 t go out against a release.
        self.price(30, "20.00")
        uow = self.on(30)
        request = ReleaseRequestIn(
            quantity_g=5 * TONNE,
            cartons=250,
            vehicle_plate=PLATE,
            collector_name="周师傅",
            collector_id_no=COLLECTOR,
            valid_until=at(27),
        )
        release, _ = releases.request_release(uow(), erin.who, erin.receipt_id, request)
        _, code = releases.approve(uow(), bank, release.id, NoteIn())
        inventory.unseal_lot(uow(), self.world.who("supervisor"), erin.lot_id, UnsealIn(reason="放货"))
        erin.outbound_id = releases.execute_outbound(
            uow(),
            keeper,
            erin.lot_id,
            OutboundIn(
                release_id=release.id,
                release_code=code,
                gross_g=5 * TONNE + 2 * TONNE,
                tare_g=2 * TONNE,
                weigh_ticket_no="WT-E-OUT",
                cartons=250,
                vehicle_plate=PLATE,
                collector_id_no=COLLECTOR,
            ),
        ).id
        # 10 days ago: the supervisor counts 14.9 t of the 15 t on the books.
        erin.stocktake_id = inventory.stocktake(
            self.on(10)(),
            self.world.who("supervisor"),
            erin.lot_id,
            StocktakeIn(counted_g=14_900_000, counted_cartons=750),
        ).id
        with self.db.uow() as unit:
            erin.weigh_ids = tuple(
                unit.session.scalars(
                    select(Operation.id)
                    .where(
                        Operation.lot_id.in_([erin.old_lot_id, erin.lot_id]),
                        Operation.kind == OperationKind.WEIGH,
                    )
                    .order_by(Operation.id)
                )
            )
        # Interest runs to yesterday: the loan is overdue since its maturity 20 days ago.
        accrue(self.db.uow(), today() - timedelta(days=1))
        return erin

    def facility(self, days_ago: int) -> int:
        uow, bank = self.on(days_ago), self.world.who("bank")
        apply_in = FacilityApplyIn(
            bank_org_id=self.world.orgs["bank"],
            limit_fen=50_000_000,
            start_date=today() - timedelta(days=days_ago),
            expiry_date=today() + timedelta(days=300),
        )
        facility_id = facilities.apply(uow(), self.erin.who, apply_in).id
        facilities.approve(uow(), bank, facility_id, FacilityTermsIn.model_validate({"rate_bp": 435}))
        for kind in (ContractKind.CREDIT_AGREEMENT, ContractKind.PLEDGE_CONTRACT):
            contract = ContractIn(
                kind=kind,
                number=f"E-{kind.value}",
                signed_on=today(),
                parties="浙商银行; 杭州冻品",
                file_sha256="cd" * 32,
            )
            facilities.add_contract(uow(), bank, facility_id, contract)
        facilities.activate(uow(), bank, facility_id, NoteIn())
        collateral_links.attach(uow(), bank, facility_id, CollateralAttachIn(receipt_id=self.erin.receipt_id))
        return facility_id


@pytest.fixture
def story(db: TestDB, settings: Settings, world: World) -> tuple[Story, Erin]:
    told = Story(db, settings, world)
    return told, told.tell()


def profile(db: TestDB, erin: Erin, persona: str | Principal = "bank") -> BorrowerProfile:
    who = persona if isinstance(persona, Principal) else None
    with db.uow() as unit:
        reader = who or _world_principal(unit, persona)  # type: ignore[arg-type]
        return borrower_profile(unit.session, reader, erin.org_id, today())


def _world_principal(unit: UnitOfWork, username: str) -> Principal:
    user = unit.session.scalars(select(User).where(User.username == username)).one()
    return principal_for(user)


def test_turnover_is_the_outbound_over_the_average_end_of_day_stock(
    db: TestDB, story: tuple[Story, Erin]
) -> None:
    _, erin = story

    turnover = profile(db, erin).turnover

    assert turnover.outbound_g == 5 * TONNE
    assert turnover.outbound_operation_ids == [erin.outbound_id]
    # 10 t all 90 days; 20 t more from day −60 (60 end-of-days counting today), 5 t of it gone
    # from day −30 (30 end-of-days).
    assert turnover.opening_stock_g == 10 * TONNE
    assert turnover.closing_stock_g == 25 * TONNE
    assert turnover.average_stock_g == (10 * TONNE * 90 + 20 * TONNE * 61 - 5 * TONNE * 31) // 90
    assert turnover.turnover_bp == 5 * TONNE * 10_000 // turnover.average_stock_g
    assert turnover.lot_ids == [erin.old_lot_id, erin.lot_id]
    assert set(erin.weigh_ids) | {erin.outbound_id} <= set(turnover.stock_operation_ids)


def test_stocktakes_are_listed_with_their_variance(db: TestDB, story: tuple[Story, Erin]) -> None:
    _, erin = story

    [count] = profile(db, erin).stocktakes

    assert (count.operation_id, count.lot_id) == (erin.stocktake_id, erin.lot_id)
    assert (count.expected_g, count.counted_g, count.variance_bp) == (15 * TONNE, 14_900_000, -67)
    assert count.within_tolerance is False  # beyond the default tolerance of 0.5 %


def test_alerts_count_where_and_while_her_goods_were(
    db: TestDB, world: World, story: tuple[Story, Erin]
) -> None:
    told, erin = story
    ys, chilled = world.rooms["YS-F18"], world.rooms["YS-C04"]
    # Before her goods came in, and in a room she never used: not hers to answer for.
    apply(told.on(70), ys, change(subject=f"room:{ys}", at=at(70)))
    resolve = change("resolved", subject=f"room:{ys}", at=at(70, 11))
    apply(told.on(70, 11), ys, resolve)
    during = apply(told.on(20), ys, change(subject=f"room:{ys}", at=at(20), severity="major"))[0].id
    apply(told.on(20), chilled, change(subject=f"room:{chilled}", at=at(20)))
    with db.uow() as unit:
        code = unit.session.get_one(Facility, erin.facility_id).code
    with told.on(5)() as unit:
        loan_alert = change(rule="ltv_warning", subject=f"facility:{code}", severity="minor", at=at(5))
        on_loan = apply_transitions(unit, [loan_alert], scope=AlertScope())[0].id
        unit.commit()

    found = profile(db, erin)

    counted = {(a.rule, a.severity): a.alert_ids for a in found.alerts}
    assert counted == {("temperature_band", "major"): [during], ("ltv_warning", "minor"): [on_loan]}
    assert found.room_ids == sorted([ys, world.rooms["DJ-F18"]])


def test_days_overdue_run_from_maturity(db: TestDB, story: tuple[Story, Erin]) -> None:
    _, erin = story

    found = profile(db, erin)

    [spell] = found.overdue
    assert (spell.drawdown_id, spell.overdue_since, spell.until, spell.days) == (
        erin.drawdown_id,
        today() - timedelta(days=20),
        None,
        20,
    )
    assert found.current_overdue == found.longest_overdue == spell


def test_margin_calls_are_counted_by_how_they_ended(db: TestDB, story: tuple[Story, Erin]) -> None:
    _, erin = story
    cured = margin_call(db, erin.facility_id, 40, MarginCallStatus.CURED)
    expired = margin_call(db, erin.facility_id, 15, MarginCallStatus.EXPIRED)
    margin_call(db, erin.facility_id, 95, MarginCallStatus.CURED)  # before the window

    calls = profile(db, erin).margin_calls

    assert calls.margin_call_ids == [cured, expired]
    assert (calls.of(MarginCallStatus.CURED), calls.of(MarginCallStatus.EXPIRED)) == ([cured], [expired])


def margin_call(db: TestDB, facility_id: int, days_ago: int, status: MarginCallStatus) -> int:
    """A margin call as the mark-to-market job records one (its valuation and the call)."""
    day = today() - timedelta(days=days_ago)
    with db.uow() as unit:
        valuation = Valuation(
            facility_id=facility_id,
            business_date=day,
            kind=ValuationKind.DAILY,
            valued_at=at(days_ago, 16),
            principal_outstanding_fen=10_000_000,
            interest_due_fen=0,
            cash_margin_fen=0,
            exposure_fen=10_000_000,
            market_value_fen=12_000_000,
            collateral_value_fen=12_000_000,
            ltv_bp=8334,
            pledge_rate_bp=6500,
            warning_line_bp=7500,
            margin_call_line_bp=8000,
            liquidation_line_bp=8500,
            risk_before=RiskState.WARNING,
            risk_after=RiskState.MARGIN_CALL,
        )
        unit.session.add(valuation)
        unit.session.flush()
        call = MarginCall(
            code=f"MC-E-{days_ago}",
            facility_id=facility_id,
            valuation_id=valuation.id,
            business_date=day,
            status=status,
            exposure_fen=10_000_000,
            collateral_value_fen=12_000_000,
            ltv_bp=8334,
            pledge_rate_bp=6500,
            cure_cash_fen=2_200_000,
            cure_collateral_value_fen=3_384_616,
            cure_haircut_bp=0,
            issued_at=at(days_ago, 16),
            deadline=day + timedelta(days=3),
        )
        unit.session.add(call)
        unit.session.commit()
        return call.id


def test_a_bank_reads_only_its_own_loans_in_the_profile(
    db: TestDB, world: World, story: tuple[Story, Erin]
) -> None:
    told, erin = story
    other = facilities.apply(
        told.on(0)(),
        erin.who,
        FacilityApplyIn(
            bank_org_id=world.orgs["bank2"],
            limit_fen=10_000_000,
            start_date=today(),
            expiry_date=today() + timedelta(days=200),
        ),
    )

    assert profile(db, erin, "bank").facility_ids == [erin.facility_id]
    assert profile(db, erin, "bank2").facility_ids == [other.id]
    assert profile(db, erin, erin.who).facility_ids == [erin.facility_id, other.id]
    assert profile(db, erin, "admin").facility_ids == [erin.facility_id, other.id]
    # Bruno's bank has no loan overdue with her; the goods' figures are the same for everyone.
    assert profile(db, erin, "bank2").overdue == []
    assert profile(db, erin, "bank2").turnover == profile(db, erin, "bank").turnover


@pytest.mark.parametrize("persona", ["borrower", "keeper", "supervisor", "insurer", "guarantor", "bank2"])
def test_nobody_else_reads_a_borrowers_profile(db: TestDB, story: tuple[Story, Erin], persona: str) -> None:
    _, erin = story
    with pytest.raises(NotFound):
        profile(db, erin, persona)


def test_only_a_borrower_has_a_profile(db: TestDB, world: World) -> None:
    with db.uow() as unit, pytest.raises(NotFound):
        borrower_profile(unit.session, world.who("admin"), world.orgs["bank"], today())


def test_a_borrower_without_history_has_empty_figures(db: TestDB, world: World) -> None:
    with db.uow() as unit:
        found = borrower_profile(
            unit.session, world.who("borrower2"), world.orgs["borrower2"], today() - timedelta(days=200)
        )

    assert (found.turnover.average_stock_g, found.turnover.turnover_bp, found.turnover.outbound_g) == (
        0,
        None,
        0,
    )
    assert (found.alerts, found.stocktakes, found.overdue) == ([], [], [])
    assert found.current_overdue is None


def test_the_profile_over_http_gives_every_figure_its_records(
    client: TestClient, auth: Callable[[str], dict[str, str]], story: tuple[Story, Erin]
) -> None:
    _, erin = story

    found = ok(client.get(f"/api/v1/borrowers/{erin.org_id}/profile", headers=auth("bankviewer")))

    assert (found["borrower_name"], found["window_days"], found["business_date"]) == (
        "杭州冻品贸易有限公司",
        90,
        str(today()),
    )
    assert found["inventory"]["outbound_operation_ids"] == [erin.outbound_id]
    assert found["inventory"]["turnover_bp"] == 5 * TONNE * 10_000 // found["inventory"]["average_stock_g"]
    assert found["stocktakes"]["out_of_tolerance_operation_ids"] == [erin.stocktake_id]
    assert found["stocktakes"]["max_abs_variance_bp"] == 67
    assert found["overdue"]["current_days"] == found["overdue"]["max_days"] == 20
    assert found["overdue"]["current_drawdown_id"] == erin.drawdown_id
    assert (found["margin_calls"]["count"], found["alerts"]["total"]) == (0, 0)
    assert found["facility_ids"] == [erin.facility_id]


def test_stock_left_behind_when_a_receipt_is_endorsed_away_counts_from_that_day(
    db: TestDB, world: World, story: tuple[Story, Erin]
) -> None:
    told, erin = story
    # 12 t in, a receipt for 8 t of it endorsed to Carol 20 days ago: Erin keeps the other 4 t.
    lot_id = told.lot(40, "YS-F18", 12)
    uow = told.on(40)
    draft = receipts.create_draft(
        uow(),
        world.who("keeper"),
        ReceiptCreateIn(
            lot_id=lot_id, quantity_g=8 * TONNE, cartons=400, storage_period_end=today() + timedelta(days=200)
        ),
    )
    receipts.submit(uow(), world.who("keeper"), draft.id, NoteIn())
    receipts.issue(uow(), world.who("keeper"), draft.id, NoteIn())
    receipts.transfer(told.on(20)(), erin.who, draft.id, TransferIn(to_org_id=world.orgs["borrower"]))

    turnover = profile(db, erin).turnover

    with db.uow() as unit:
        spare = unit.session.scalars(select(Lot).where(Lot.parent_lot_id == lot_id)).one()
        assert (spare.owner_org_id, spare.verified_net_weight_g) == (erin.org_id, 4 * TONNE)
        assert (spare.id in turnover.lot_ids, lot_id in turnover.lot_ids) == (True, False)
    # Her 25 t of the story, and the 4 t left behind for 21 end-of-days (counting today).
    assert turnover.closing_stock_g == 29 * TONNE
    story_g = 10 * TONNE * 90 + 20 * TONNE * 61 - 5 * TONNE * 31
    assert turnover.average_stock_g == (story_g + 4 * TONNE * 21) // 90
