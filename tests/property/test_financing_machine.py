"""Random walks through a credit facility's life, checked against a model of its cover.

A Hypothesis state machine drives the real services on the test database: Carol draws money under
a facility at Alice's bank and pays it back, asks for part of her pledged pork to be released and
takes it out, tops the collateral up with new pork, and the price moves from day to day (an
approved observation each day, or none, so prices go stale), with interest accrued and the
collateral marked to market every evening.

Before each decision the model predicts it from the facility's position and its own record of
the goods and the price; the service must agree. After every step:

- no drawdown or release was ever approved that left LTV above the pledge rate at that moment,
  counting the goods of release instructions already given as gone (the warehouse carries them
  out with no further check), as approved drawdowns count as drawn — on the model's figures at
  each approval, and on the evidence recorded with each drawdown approval;
- money is conserved: disbursed = principal repaid + outstanding + written off, per drawdown and
  against the model's own tally of what went out and came back;
- quantities are conserved: the pledged grams behind the facility = the initial pledge + the
  top-ups − the grams weighed out against releases.

Each example runs in one transaction that is rolled back at the end, on top of the shared world.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from coldpledge.audit.models import AuditEvent
from coldpledge.calendar import business_date
from coldpledge.config import Settings
from coldpledge.errors import DomainError
from coldpledge.financing import collateral_links, loans
from coldpledge.financing.accrual import accrue
from coldpledge.financing.businessdays import business_days_between
from coldpledge.financing.collateral import BP, G_PER_T, ltv_within
from coldpledge.financing.collateral_sql import COUNTED_RECEIPTS, live_links
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.financing.models import OUTSTANDING, Drawdown, DrawdownStatus, Facility, Repayment
from coldpledge.financing.position import Position, position_of
from coldpledge.financing.releasing import RELEASES_FROZEN
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import CollateralAttachIn, DrawdownRequestIn, RepaymentIn
from coldpledge.inventory import service as inventory
from coldpledge.inventory.schemas import UnsealIn
from coldpledge.parties.policy import SYSTEM
from coldpledge.receipts import releases
from coldpledge.receipts.models import Pledge, Receipt
from coldpledge.receipts.schemas import NoteIn, OutboundIn, ReleaseRequestIn
from coldpledge.uow import UnitOfWork
from tests import world as world_helpers
from tests.financing import LIMIT_FEN, active_facility, drawn, price
from tests.prices import approved, new_series
from tests.support import Clock, now, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

T = TypeVar("T")
TONNE = 1_000_000
ROOM = "YS-F18"
PLATE = "沪F13579"
COLLECTOR = "310101199202021234"
# Loans are refused under these (DESIGN §7: a margin call blocks drawdowns).
NO_NEW_MONEY = (RiskState.MARGIN_CALL, RiskState.LIQUIDATION, RiskState.DISPOSED)
STALE_AFTER = 3  # business days: the test series' default
HOLIDAYS: frozenset[date] = frozenset()


@dataclass
class ReceiptModel:
    receipt_id: int
    lot_id: int
    quantity_g: int
    cartons: int
    open_release: int | None = None
    sealed: bool = True


@dataclass
class ReleaseModel:
    release_id: int
    receipt_id: int
    quantity_g: int
    cartons: int
    status: str  # requested | approved | executed
    valid_until: datetime
    code: str | None = None


@dataclass(frozen=True)
class Approval:
    """A decision the model judged at its moment: exposure after it against value after it."""

    what: str
    exposure_fen: int
    value_fen: int
    pledge_rate_bp: int


def pledged_pork(
    uow: Callable[[], UnitOfWork], settings: Settings, world: World, facility_id: int, tonnes: int, seal: str
) -> tuple[int, int]:
    """New pork of Carol's in, receipted, pledged to Alice's bank and attached to the facility:
    its lot and receipt."""
    lot_id = world_helpers.receive(
        uow, world, room=ROOM, owner="borrower", commodity="PORK-FZ", tonnes=tonnes, batch="HSM-F"
    )
    world_helpers.make_ready(uow, settings, world, lot_id, seal=seal)
    receipt_id = world_helpers.issued_receipt(uow, world, lot_id)
    world_helpers.pledge(uow, world, receipt_id, holder="borrower", bank="bank")
    collateral_links.attach(uow(), world.who("bank"), facility_id, CollateralAttachIn(receipt_id=receipt_id))
    return lot_id, receipt_id


class FinancingMachine(RuleBasedStateMachine):
    def __init__(self, engine: Engine, settings: Settings, world: World) -> None:
        super().__init__()
        self.settings, self.world = settings, world
        self.connection: Connection = engine.connect()
        self.transaction = self.connection.begin()
        self.clock = Clock(now())
        self.serial = itertools.count(1)
        self.tag = int(self.connection.execute(select(func.coalesce(func.max(Receipt.id), 0))).scalar_one())
        self.facility_id = 0
        self.series_id = 0
        self.price_fen_per_t = 0
        self.price_date = self.today
        self.receipts: dict[int, ReceiptModel] = {}
        self.releases: dict[int, ReleaseModel] = {}
        self.initial_g = self.topped_up_g = self.released_g = 0
        self.disbursed_fen = self.repaid_principal_fen = 0
        self.approvals: list[Approval] = []

    def teardown(self) -> None:
        self.transaction.rollback()
        self.connection.close()

    # --- plumbing -------------------------------------------------------------------------------

    def session(self) -> Session:
        return Session(bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.session, clock=self.clock)

    @property
    def today(self) -> date:
        return business_date(self.clock.now)

    def read(self, look: Callable[[Session], T]) -> T:
        with self.session() as session:
            return look(session)

    def facility(self, session: Session) -> Facility:
        return session.get_one(Facility, self.facility_id)

    def position(self) -> Position:
        return self.read(lambda s: position_of(s, self.facility(s), self.today))

    def risk_state(self) -> RiskState:
        return self.read(lambda s: self.facility(s).risk_state)

    def decide(self, allowed: bool, call: Callable[[], T]) -> T | None:
        """Take a step the model judged; a refusal must be a domain error and only when predicted."""
        if allowed:
            return call()
        with pytest.raises(DomainError):
            call()
        return None

    # --- the model's view of the cover ----------------------------------------------------------

    def value_fen(self, without: dict[int, int] | None = None) -> int:
        """Σ per receipt of quantity × price, each rounded down (no haircut), ``without`` grams
        taken off the receipts named."""
        taken = without or {}
        return sum(
            (r.quantity_g - taken.get(r.receipt_id, 0)) * self.price_fen_per_t // G_PER_T
            for r in self.receipts.values()
        )

    @property
    def stale(self) -> bool:
        return business_days_between(self.price_date, self.today, HOLIDAYS) > STALE_AFTER

    def pending_releases(self) -> dict[int, int]:
        """Grams approved to leave that have not left yet, per receipt."""
        pending: dict[int, int] = {}
        for release in self.releases.values():
            if release.status == "approved":
                pending[release.receipt_id] = pending.get(release.receipt_id, 0) + release.quantity_g
        return pending

    def cover_fen(self, receipt_id: int = 0, quantity_g: int = 0) -> int:
        """The value that covers the loan once every approved release instruction (and the one
        of ``quantity_g`` grams of ``receipt_id`` being judged) is carried out: an instruction in
        the warehouse's hands is executed with no further check, so its goods cover nothing more,
        as an approved drawdown counts as drawn."""
        leaving = self.pending_releases()
        leaving[receipt_id] = leaving.get(receipt_id, 0) + quantity_g
        return self.value_fen(leaving)

    def release_allowed(self, receipt_id: int, quantity_g: int) -> bool:
        """No release while frozen; otherwise, while anything is owed, a current price and the
        committed exposure within the pledge rate of the goods left."""
        position = self.position()
        assert position.value_fen == self.value_fen(), "the facility's value is not the model's"
        if self.risk_state() in RELEASES_FROZEN:
            return False
        exposure = position.committed_exposure_fen
        if exposure == 0:
            return True
        after = self.cover_fen(receipt_id, quantity_g)
        return not self.stale and ltv_within(exposure, after, position.pledge_rate_bp)

    def drawdown_allowed(self, position: Position, exposure: int, maturity: date) -> bool:
        """No new money under a margin call or in liquidation, on a stale price or past maturity;
        the committed exposure within the limit and the pledge rate of the goods that stay."""
        return (
            self.risk_state() not in NO_NEW_MONEY
            and not (self.stale and position.value_fen > 0)
            and maturity > self.today
            and exposure <= LIMIT_FEN
            and ltv_within(exposure, self.cover_fen(), position.pledge_rate_bp)
        )

    # --- where every walk starts ----------------------------------------------------------------

    @initialize(
        tonnes=st.integers(10, 40),
        mid=st.sampled_from([1800, 2000, 2250]),
        drawn_bp=st.sampled_from([10_000, 10_000, 5000, 0]),
    )
    def a_facility_secured_by_pledged_pork(self, tonnes: int, mid: int, drawn_bp: int) -> None:
        """Carol's pork pledged and attached, and a loan of a share of what it carries paid out."""
        self.series_id = new_series(self.uow, self.world, f"HSM-PORK-{self.tag}").id
        self.price(mid * 1000)
        self.facility_id = active_facility(self.uow, self.world, receipts=())
        receipt = self.pledged_receipt(tonnes)
        self.initial_g = receipt.quantity_g
        amount = self.position().headroom_fen * drawn_bp // BP
        if amount:
            self.disbursed_fen += drawn(self.uow, self.world, self.facility_id, amount, days=60).amount_fen

    def price(self, fen_per_t: int) -> None:
        """An approved price of the pork series for today (CNY/kg with two decimals)."""
        mid = f"{fen_per_t // 100_000}.{fen_per_t % 100_000 // 1000:02d}"
        approved(self.uow, self.world, SYSTEM, self.series_id, self.today, mid)
        self.price_fen_per_t, self.price_date = fen_per_t, self.today

    def pledged_receipt(self, tonnes: int) -> ReceiptModel:
        seal = f"HSM-F-{self.tag}-{next(self.serial)}"
        lot_id, receipt_id = pledged_pork(self.uow, self.settings, self.world, self.facility_id, tonnes, seal)
        receipt = ReceiptModel(receipt_id, lot_id, tonnes * TONNE, tonnes * 50)
        self.receipts[receipt_id] = receipt
        return receipt

    # --- money ----------------------------------------------------------------------------------

    def drawdowns(self, *statuses: DrawdownStatus) -> list[int]:
        return self.read(
            lambda s: list(
                s.scalars(
                    select(Drawdown.id)
                    .where(Drawdown.facility_id == self.facility_id, Drawdown.status.in_(statuses))
                    .order_by(Drawdown.id)
                )
            )
        )

    def drawdown(self, drawdown_id: int) -> Drawdown:
        return self.read(lambda s: s.get_one(Drawdown, drawdown_id))

    @rule(amount=st.integers(1, 60).map(lambda n: n * 500_000), days=st.sampled_from([3, 30, 90]))
    def carol_asks_for_money(self, amount: int, days: int) -> None:
        allowed = self.risk_state() not in NO_NEW_MONEY
        data = DrawdownRequestIn(amount_fen=amount, maturity_date=self.today + timedelta(days=days))
        self.decide(
            allowed, lambda: loans.request(self.uow(), self.world.who("borrower"), self.facility_id, data)
        )

    @precondition(lambda self: self.drawdowns(DrawdownStatus.REQUESTED))
    @rule(data=st.data())
    def alice_approves_a_drawdown(self, data: st.DataObject) -> None:
        waiting = self.drawdowns(DrawdownStatus.REQUESTED)
        drawdown_id = data.draw(st.sampled_from(waiting), label="drawdown")
        drawdown = self.drawdown(drawdown_id)
        position = self.position()
        assert position.value_fen == self.value_fen(), "the facility's value is not the model's"
        exposure = position.committed_with(drawdown.amount_fen)
        allowed = self.drawdown_allowed(position, exposure, drawdown.maturity_date)
        done = self.decide(
            allowed, lambda: loans.approve(self.uow(), self.world.who("bank"), drawdown_id, NoteIn())
        )
        if done is not None:
            self.approvals.append(Approval("drawdown", exposure, self.cover_fen(), position.pledge_rate_bp))

    @precondition(lambda self: self.drawdowns(DrawdownStatus.APPROVED))
    @rule(data=st.data())
    def alice_pays_it_out(self, data: st.DataObject) -> None:
        waiting = self.drawdowns(DrawdownStatus.APPROVED)
        drawdown_id = data.draw(st.sampled_from(waiting), label="drawdown")
        drawdown = self.drawdown(drawdown_id)
        position = self.position()
        exposure = position.committed_exposure_fen
        allowed = self.drawdown_allowed(position, exposure, drawdown.maturity_date)
        done = self.decide(
            allowed, lambda: loans.disburse(self.uow(), self.world.who("bank"), drawdown_id, NoteIn())
        )
        if done is not None:
            self.disbursed_fen += drawdown.amount_fen
            self.approvals.append(
                Approval("disbursement", exposure, self.cover_fen(), position.pledge_rate_bp)
            )

    @precondition(lambda self: self.drawdowns(*OUTSTANDING))
    @rule(data=st.data(), share=st.sampled_from([10, 50, 100]))
    def carol_repays(self, data: st.DataObject, share: int) -> None:
        out = self.drawdowns(*OUTSTANDING)
        drawdown_id = data.draw(st.sampled_from(out), label="drawdown")
        drawdown = self.drawdown(drawdown_id)
        owed = drawdown.principal_outstanding_fen + drawdown.interest_due_fen + drawdown.penalty_due_fen
        amount = max(1, owed * share // 100)
        repayment = loans.repay(
            self.uow(), self.world.who("borrower"), drawdown_id, RepaymentIn(amount_fen=amount)
        )
        self.repaid_principal_fen += repayment.principal_fen

    # --- goods ----------------------------------------------------------------------------------

    @precondition(lambda self: len(self.receipts) < 5)
    @rule(tonnes=st.integers(1, 15))
    def carol_tops_up_with_new_pork(self, tonnes: int) -> None:
        receipt = self.pledged_receipt(tonnes)
        self.topped_up_g += receipt.quantity_g

    def releasable(self) -> list[ReceiptModel]:
        return [r for r in self.receipts.values() if r.open_release is None and r.quantity_g >= 2 * TONNE]

    def releases_in(self, status: str) -> list[ReleaseModel]:
        return [r for r in self.releases.values() if r.status == status]

    @precondition(lambda self: self.releasable())
    @rule(data=st.data())
    def carol_asks_for_a_release(self, data: st.DataObject) -> None:
        free = self.releasable()
        receipt = data.draw(st.sampled_from(free), label="receipt")
        most = receipt.quantity_g // TONNE - 1
        tonnes = data.draw(st.sampled_from(sorted({1, (most + 1) // 2, most})), label="tonnes")
        quantity, cartons = tonnes * TONNE, tonnes * 50
        allowed = self.release_allowed(receipt.receipt_id, quantity)
        request = ReleaseRequestIn(
            quantity_g=quantity,
            cartons=cartons,
            vehicle_plate=PLATE,
            collector_name="陈师傅",
            collector_id_no=COLLECTOR,
            valid_until=self.clock.now + timedelta(days=20),
        )
        done = self.decide(
            allowed,
            lambda: releases.request_release(
                self.uow(), self.world.who("borrower"), receipt.receipt_id, request
            ),
        )
        if done is not None:
            release, _ = done
            self.releases[release.id] = ReleaseModel(
                release.id, receipt.receipt_id, quantity, cartons, "requested", request.valid_until
            )
            receipt.open_release = release.id

    @precondition(lambda self: self.releases_in("requested"))
    @rule(data=st.data())
    def alice_approves_a_release(self, data: st.DataObject) -> None:
        release = data.draw(st.sampled_from(self.releases_in("requested")), label="release")
        allowed = self.clock.now < release.valid_until and self.release_allowed(
            release.receipt_id, release.quantity_g
        )
        exposure = self.position().committed_exposure_fen
        done = self.decide(
            allowed,
            lambda: releases.approve(self.uow(), self.world.who("bank"), release.release_id, NoteIn()),
        )
        if done is not None:
            release.status, release.code = "approved", done[1]
            self.approvals.append(
                Approval("release", exposure, self.cover_fen(), self.position().pledge_rate_bp)
            )

    @precondition(lambda self: self.releases_in("approved"))
    @rule(data=st.data())
    def the_goods_leave_the_warehouse(self, data: st.DataObject) -> None:
        release = data.draw(st.sampled_from(self.releases_in("approved")), label="release")
        receipt = self.receipts[release.receipt_id]
        if receipt.sealed:
            inventory.unseal_lot(
                self.uow(), self.world.who("supervisor"), receipt.lot_id, UnsealIn(reason="按放货指令出库")
            )
            receipt.sealed = False
        out = OutboundIn(
            release_id=release.release_id,
            release_code=release.code or "",
            gross_g=release.quantity_g + TONNE,
            tare_g=TONNE,
            weigh_ticket_no="WT-HSM-F",
            cartons=release.cartons,
            vehicle_plate=PLATE,
            collector_id_no=COLLECTOR,
        )
        allowed = self.risk_state() not in RELEASES_FROZEN and self.clock.now <= release.valid_until
        done = self.decide(
            allowed,
            lambda: releases.execute_outbound(self.uow(), self.world.who("keeper"), receipt.lot_id, out),
        )
        if done is not None:
            release.status = "executed"
            receipt.quantity_g -= release.quantity_g
            receipt.cartons -= release.cartons
            receipt.open_release = None
            self.released_g += release.quantity_g

    # --- time and prices ------------------------------------------------------------------------

    @rule(
        move_bp=st.sampled_from([-2500, -1500, -1500, -800, 0, 800]),
        quoted=st.sampled_from([True, True, False]),
    )
    def a_day_passes(self, move_bp: int, quoted: bool) -> None:
        """Tomorrow: the pork's price moves (or no price comes), interest accrues for the day that
        ended, and the collateral is marked to market in the evening."""
        self.clock.advance(days=1)
        if quoted:
            moved = self.price_fen_per_t * (BP + move_bp) // BP
            self.price(moved // 1000 * 1000)
        accrue(self.uow(), self.today - timedelta(days=1))
        mark_to_market(self.uow, self.today)

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def no_approval_left_ltv_above_the_pledge_rate(self) -> None:
        for approval in self.approvals:
            assert ltv_within(approval.exposure_fen, approval.value_fen, approval.pledge_rate_bp), approval
        for after in self.read(self.approval_evidence):
            position = after["_data"]["position"]
            exposure = position["committed_exposure_fen"] + after["amount_fen"]
            assert exposure * BP <= position["collateral_value_fen"] * position["pledge_rate_bp"], position

    def approval_evidence(self, session: Session) -> list[dict[str, Any]]:
        """What was recorded with every drawdown approval of the facility."""
        events = session.scalars(
            select(AuditEvent.after)
            .join(Drawdown, Drawdown.id == AuditEvent.subject_id)
            .where(
                AuditEvent.action == "drawdown.approve",
                AuditEvent.subject_type == "drawdown",
                Drawdown.facility_id == self.facility_id,
            )
        )
        return [event for event in events if event is not None]

    @invariant()
    def money_is_conserved(self) -> None:
        def tally(s: Session) -> list[int]:
            found = s.execute(
                select(
                    func.coalesce(func.sum(Drawdown.amount_fen), 0),
                    func.coalesce(func.sum(Drawdown.principal_repaid_fen), 0),
                    func.coalesce(func.sum(Drawdown.principal_outstanding_fen), 0),
                    func.coalesce(func.sum(Drawdown.principal_written_off_fen), 0),
                ).where(Drawdown.facility_id == self.facility_id, Drawdown.disbursed_at.is_not(None))
            ).one()
            repayments = s.scalars(
                select(func.coalesce(func.sum(Repayment.principal_fen), 0))
                .join(Drawdown, Drawdown.id == Repayment.drawdown_id)
                .where(Drawdown.facility_id == self.facility_id)
            ).one()
            return [int(x) for x in (*found, repayments)]

        disbursed, repaid, outstanding, written_off, repayments = self.read(tally)
        assert disbursed == repaid + outstanding + written_off
        assert (disbursed, repaid, repayments) == (self.disbursed_fen, self.repaid_principal_fen, repaid)

    @invariant()
    def quantities_are_conserved(self) -> None:
        def pledged(s: Session) -> dict[int, int]:
            links = live_links(s, self.facility_id)
            pledges = s.scalars(select(Pledge).where(Pledge.id.in_([link.pledge_id for link in links])))
            receipts = [s.get_one(Receipt, p.receipt_id) for p in pledges]
            return {r.id: r.quantity_g for r in receipts if r.status in COUNTED_RECEIPTS}

        found = self.read(pledged)
        assert found == {r.receipt_id: r.quantity_g for r in self.receipts.values()}
        assert sum(found.values()) == self.initial_g + self.topped_up_g - self.released_g


def test_random_walks_through_a_facility_keep_it_covered_and_conserve_money_and_goods(
    engine: Engine, settings: Settings, world: World
) -> None:
    class OnTheTestDatabase(FinancingMachine):
        def __init__(self) -> None:
            super().__init__(engine, settings, world)

    run_state_machine_as_test(
        OnTheTestDatabase,
        settings=hypothesis_settings(
            max_examples=20,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
            # Explaining a failure replays every step under a tracer: minutes on these walks.
            phases=[phase for phase in Phase if phase is not Phase.explain],
        ),
    )


def test_release_instructions_already_given_count_against_the_cover(
    db: TestDB, settings: Settings, world: World
) -> None:
    """A walk the machine found: an approved release instruction is carried out at the dock with
    no further check, so the goods it names no longer cover the loan. Two instructions that each
    fit alone, or an instruction and then a drawdown, must not together uncover it."""
    price(db.uow, settings, world, "20.00")
    facility_id = active_facility(db.uow, world, receipts=())
    # Two receipts of 10 t of pork: CNY 400,000.00 in all.
    receipt_ids = [pledged_pork(db.uow, settings, world, facility_id, 10, f"HSM-G-{n}")[1] for n in range(2)]
    drawn(db.uow, world, facility_id, 13_000_000)  # LTV 32.5 %

    def instruction(receipt_id: int) -> int:
        request = ReleaseRequestIn(
            quantity_g=7 * TONNE,
            vehicle_plate=PLATE,
            collector_name="陈师傅",
            collector_id_no=COLLECTOR,
            valid_until=now() + timedelta(days=3),
        )
        return releases.request_release(db.uow(), world.who("borrower"), receipt_id, request)[0].id

    first, second = instruction(receipt_ids[0]), instruction(receipt_ids[1])
    # 7 t out of 20 t leaves CNY 260,000.00 for CNY 130,000.00: 50 %, within 65 %.
    releases.approve(db.uow(), world.who("bank"), first, NoteIn())
    # Another 7 t would leave CNY 120,000.00 for CNY 130,000.00 once both are carried out.
    with pytest.raises(DomainError):
        releases.approve(db.uow(), world.who("bank"), second, NoteIn())
    # And the goods the first instruction lets go carry no new loan: 65 % of CNY 260,000.00 is
    # CNY 169,000.00, so CNY 50,000.00 more is too much.
    more = loans.request(
        db.uow(),
        world.who("borrower"),
        facility_id,
        DrawdownRequestIn(amount_fen=5_000_000, maturity_date=today() + timedelta(days=30)),
    )
    with pytest.raises(DomainError):
        loans.approve(db.uow(), world.who("bank"), more.id, NoteIn())
