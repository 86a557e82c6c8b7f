"""The daily accrual job: exact interest, idempotent per business date, 算头不算尾, penalty past
maturity, overdue and default.

Known answer (domain §2.2): CNY 10,000,000 at 4.35 % for 30 days is CNY 36,250.00 on ACT/360 and
CNY 35,753.42 on ACT/365. The world's pork is priced at CNY 600.00/kg here, so its 30 t
(CNY 18,000,000) carry a loan of CNY 10,000,000 at 65 %.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from coldpledge.cli import app
from coldpledge.config import Settings, get_settings
from coldpledge.db import make_engine
from coldpledge.errors import InvalidInput
from coldpledge.financing import loans
from coldpledge.financing.accrual import DEFAULT_AFTER_DAYS, AccrualRun, accrue, accrue_due
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.models import (
    AccrualKind,
    Drawdown,
    DrawdownStatus,
    Facility,
    FacilityStatus,
    InterestAccrual,
)
from coldpledge.financing.schemas import RepaymentIn
from coldpledge.migrate import upgrade
from coldpledge.uow import UnitOfWork
from tests.financing import active_facility, drawn, price
from tests.support import Clock, now, today
from tests.world import World

if TYPE_CHECKING:
    from tests.conftest import TestDB

TEN_MILLION_YUAN = 1_000_000_000  # fen


@pytest.fixture
def priced(db: TestDB, settings: Settings, world: World) -> None:
    price(db.uow, settings, world, "600.00")


def loan(db: TestDB, world: World, day_count: DayCount = DayCount.ACT_360, *, days: int = 90) -> Drawdown:
    facility_id = active_facility(db.uow, world, limit_fen=2 * TEN_MILLION_YUAN, day_count=day_count)
    return drawn(db.uow, world, facility_id, TEN_MILLION_YUAN, days=days)


def job(db: TestDB, through: date) -> AccrualRun:
    """The nightly job for ``through``, run the next morning."""
    clock = Clock(now() + timedelta(days=(through - today()).days + 1))
    return accrue(UnitOfWork(db.session, clock=clock), through)


def state(db: TestDB, drawdown_id: int) -> dict[str, object]:
    with db.uow() as unit:
        drawdown = unit.session.get_one(Drawdown, drawdown_id)
        return {
            "status": drawdown.status,
            "interest": drawdown.interest_posted_fen,
            "penalty": drawdown.penalty_posted_fen,
            "accrued_until": drawdown.accrued_until,
            "principal": drawdown.principal_outstanding_fen,
        }


def rows(db: TestDB, drawdown_id: int) -> list[tuple[date, AccrualKind, int, int]]:
    with db.uow() as unit:
        return [
            (row.business_date, row.kind, row.principal_fen, row.posted_fen)
            for row in unit.session.scalars(
                select(InterestAccrual)
                .where(InterestAccrual.drawdown_id == drawdown_id)
                .order_by(InterestAccrual.business_date)
            )
        ]


@pytest.mark.parametrize(
    ("day_count", "expected_fen"), [(DayCount.ACT_360, 3_625_000), (DayCount.ACT_365, 3_575_342)]
)
def test_ten_million_yuan_at_435_bp_for_30_days_is_the_known_answer(
    db: TestDB, world: World, priced: None, day_count: DayCount, expected_fen: int
) -> None:
    drawdown = loan(db, world, day_count)

    # Thirty days: the disbursement day counted, the thirtieth day after it not.
    job(db, today() + timedelta(days=29))

    assert state(db, drawdown.id)["interest"] == expected_fen
    daily = rows(db, drawdown.id)
    assert len(daily) == 30
    assert sum(posted for *_, posted in daily) == expected_fen


def test_running_the_job_again_for_a_date_changes_nothing(db: TestDB, world: World, priced: None) -> None:
    drawdown = loan(db, world)
    first = job(db, today() + timedelta(days=4))
    before = state(db, drawdown.id)

    again = job(db, today() + timedelta(days=4))
    earlier = job(db, today() + timedelta(days=2))

    assert (first.days, again.days, earlier.days) == (5, 0, 0)
    assert state(db, drawdown.id) == before
    assert len(rows(db, drawdown.id)) == 5


def test_the_scheduler_accrues_through_yesterday_once_a_day(db: TestDB, world: World, priced: None) -> None:
    drawdown = loan(db, world)
    three_days_on = Clock(now() + timedelta(days=3))

    first = accrue_due(UnitOfWork(db.session, clock=three_days_on))
    again = accrue_due(UnitOfWork(db.session, clock=three_days_on))

    assert (first["days"], again["days"]) == (3, 0)
    assert [day for day, *_ in rows(db, drawdown.id)] == [today() + timedelta(days=n) for n in range(3)]


def test_missed_days_are_caught_up_in_order(db: TestDB, world: World, priced: None) -> None:
    drawdown = loan(db, world)
    job(db, today())

    job(db, today() + timedelta(days=9))

    assert [day for day, *_ in rows(db, drawdown.id)] == [today() + timedelta(days=n) for n in range(10)]
    # 10,000,000 × 4.35 % / 360 = 1,208.333… yuan a day, posted from the running total.
    assert state(db, drawdown.id)["interest"] == 1_208_333


def test_the_day_of_a_repayment_bears_no_interest_on_what_was_repaid(
    db: TestDB, world: World, priced: None
) -> None:
    clock = Clock(now())
    drawdown = loan(db, world)
    job(db, today() + timedelta(days=3))
    clock.advance(days=10)

    # Ten days of interest (1,208,333 fen) go first; the rest repays principal.
    loans.repay(
        UnitOfWork(db.session, clock=clock),
        world.who("borrower"),
        drawdown.id,
        RepaymentIn(amount_fen=501_208_333),
    )
    job(db, today() + timedelta(days=11))

    daily = rows(db, drawdown.id)
    assert daily[9] == (today() + timedelta(days=9), AccrualKind.INTEREST, TEN_MILLION_YUAN, 120_833)
    assert daily[10][2] == 500_000_000
    assert daily[11][2] == 500_000_000


def test_each_day_bears_interest_on_the_principal_it_ended_with(
    db: TestDB, world: World, priced: None
) -> None:
    clock = Clock(now())
    drawdown = loan(db, world)
    job(db, today() + timedelta(days=1))
    clock.advance(days=2)
    # Two days' interest (241,667 fen), then CNY 3,000,000 of principal.
    loans.repay(
        UnitOfWork(db.session, clock=clock),
        world.who("borrower"),
        drawdown.id,
        RepaymentIn(amount_fen=300_241_667),
    )
    clock.advance(days=3)
    # The job has not run since: the repayment itself accrues days 2-4 on CNY 7,000,000 (253,750 fen).
    loans.repay(
        UnitOfWork(db.session, clock=clock),
        world.who("borrower"),
        drawdown.id,
        RepaymentIn(amount_fen=100_253_750),
    )

    job(db, today() + timedelta(days=6))

    principals = [principal for _day, _kind, principal, _posted in rows(db, drawdown.id)]
    assert principals == [TEN_MILLION_YUAN] * 2 + [700_000_000] * 3 + [600_000_000] * 2


def test_a_day_that_has_not_ended_is_not_accrued(db: TestDB) -> None:
    with pytest.raises(InvalidInput):
        accrue(db.uow(), today())


def test_principal_past_maturity_bears_penalty_and_the_loan_falls_overdue(
    db: TestDB, world: World, priced: None
) -> None:
    drawdown = loan(db, world, days=5)

    run = job(db, today() + timedelta(days=6))

    kinds = [kind for _day, kind, *_ in rows(db, drawdown.id)]
    assert kinds == [AccrualKind.INTEREST] * 5 + [AccrualKind.PENALTY] * 2
    after = state(db, drawdown.id)
    assert after["status"] is DrawdownStatus.OVERDUE
    # 652 bp (4.35 % × 1.5, rounded down to a basis point) for two days on CNY 10,000,000
    assert after["penalty"] == 362_222
    assert run.overdue == [drawdown.code]


def test_a_loan_long_overdue_is_defaulted(db: TestDB, world: World, priced: None) -> None:
    drawdown = loan(db, world, days=5)

    job(db, today() + timedelta(days=5 + DEFAULT_AFTER_DAYS - 1))
    assert state(db, drawdown.id)["status"] is DrawdownStatus.OVERDUE
    run = job(db, today() + timedelta(days=5 + DEFAULT_AFTER_DAYS))

    assert state(db, drawdown.id)["status"] is DrawdownStatus.DEFAULTED
    assert run.defaulted == [drawdown.code]


def test_a_facility_expires_on_its_expiry_date(db: TestDB, world: World, priced: None) -> None:
    facility_id = active_facility(db.uow, world)
    with db.uow() as unit:
        expiry = unit.session.get_one(Facility, facility_id).expiry_date

    job(db, expiry - timedelta(days=1))
    with db.uow() as unit:
        assert unit.session.get_one(Facility, facility_id).status is FacilityStatus.ACTIVE
    run = job(db, expiry)

    with db.uow() as unit:
        facility = unit.session.get_one(Facility, facility_id)
        assert facility.status is FacilityStatus.EXPIRED
        assert facility.code in run.expired


def test_the_command_accrues_through_the_date_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path}/accrue.sqlite3"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    monkeypatch.setenv("COLDPLEDGE_DATABASE_URL", url)

    yesterday = today() - timedelta(days=1)

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["financing", "accrue", "--date", yesterday.isoformat()])
    finally:
        get_settings.cache_clear()

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "business_date": yesterday.isoformat(),
        "drawdowns": 0,
        "days": 0,
        "interest_fen": 0,
        "penalty_fen": 0,
        "overdue": [],
        "defaulted": [],
        "expired": [],
    }


def test_each_day_and_kind_is_written_once(db: TestDB, world: World, priced: None) -> None:
    drawdown = loan(db, world)
    job(db, today())

    with db.uow() as unit:
        count = unit.session.scalar(
            select(func.count())
            .select_from(InterestAccrual)
            .where(InterestAccrual.drawdown_id == drawdown.id)
        )
    assert count == 1
