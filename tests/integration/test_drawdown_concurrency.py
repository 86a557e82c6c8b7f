"""Drawdowns approved at the same moment never together exceed the limit or the pledge rate, and
two accrual jobs running at once accrue each day once.

Real connections, real commits, threads that start together (``tests.integration.test_concurrency``
helpers). The tests work on a site of their own, a cold store with its own borrower, bank, keeper
and supervisor built once for the module, so nothing they commit shows in the shared world. The
price of its goods is fixed here rather than committed as a price series, which every other test
would then see: these tests are about locks, not prices.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import Conflict
from coldpledge.financing import collateral_sql, loans
from coldpledge.financing.accrual import accrue
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility, InterestAccrual
from coldpledge.financing.position import position_of
from coldpledge.financing.prices.service import PriceUsed
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, PartyType, Role
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.receipts.schemas import NoteIn
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses.models import TemperatureClass
from coldpledge.warehouses.schemas import RoomIn, VirtualWarehouseIn, WarehouseIn
from tests.financing import active_facility, requested
from tests.integration.test_concurrency import Outcome, race, run_together
from tests.support import Clock, now, today
from tests.world import PASSWORD, World, issued_receipt, make_ready, pledge, receive

SITE_ORGS: dict[str, tuple[str, PartyType, Role]] = {
    # Keyed like the shared world, so that its helpers (and tests.financing's) work on the site.
    "borrower": ("融资并发测试冷链贸易有限公司", PartyType.BORROWER, Role.BORROWER_FINANCE),
    "bank": ("融资并发测试银行支行", PartyType.BANK, Role.BANK_RISK_OFFICER),
    "keeper": ("融资并发测试冷库有限公司", PartyType.KEEPER, Role.KEEPER_STAFF),
    "supervisor": ("融资并发测试监管有限公司", PartyType.SUPERVISOR, Role.SUPERVISION_MANAGER),
}
ROOM = "FC-F18"
PRICE_FEN_PER_T = 2_000_000  # CNY 20.00/kg: ten tonnes are worth CNY 200,000.00
TONNES = 10
COVER_FEN = 13_000_000  # 65 % of CNY 200,000.00
_receipt_serial = itertools.count(1)


@pytest.fixture(scope="module")
def site(database: Database, settings: Settings, world: World) -> World:
    uow = _uow_factory(database)
    site = World(commodities=dict(world.commodities))
    for key, (name, party_type, role) in SITE_ORGS.items():
        org = parties.create_organisation(uow(), SYSTEM, OrganisationIn(name=name, party_type=party_type))
        site.orgs[key] = org.id
        data = UserIn(
            username=f"finrace-{key}", display_name=key, organisation_id=org.id, role=role, password=PASSWORD
        )
        site.users[key] = parties.create_user(uow(), settings, SYSTEM, data).id
    with uow() as unit:
        for key, user_id in site.users.items():
            site.principals[key] = parties.principal_for(unit.session.get_one(User, user_id))
    keeper = site.who("keeper")
    warehouse = warehouses.create_warehouse(
        uow(), keeper, WarehouseIn(code="FC-RACE", name="融资并发测试冷库", address="舟山港区", city="舟山")
    )
    room = warehouses.add_room(
        uow(),
        keeper,
        warehouse.id,
        RoomIn(
            code=ROOM,
            name="financing race room",
            temperature_class=TemperatureClass.FROZEN,
            set_point_c=Decimal("-18"),
            band_low_c=Decimal("-22"),
            band_high_c=Decimal("-18"),
        ),
    )
    site.rooms[ROOM] = room.id
    warehouses.create_virtual_warehouse(
        uow(),
        SYSTEM,
        VirtualWarehouseIn(
            code="VW-FC-RACE",
            name="融资并发测试监管仓",
            warehouse_id=warehouse.id,
            supervisor_org_id=site.orgs["supervisor"],
            room_ids=[room.id],
        ),
    )
    return site


@pytest.fixture(autouse=True)
def fixed_price(monkeypatch: pytest.MonkeyPatch) -> None:
    def prices_for(_session: Any, commodity_ids: Any, business_date: Any) -> dict[int, PriceUsed]:
        return {
            commodity_id: PriceUsed(
                series_id=0,
                series_code="FIXED",
                commodity_id=commodity_id,
                observation_id=0,
                price_date=business_date,
                price_fen_per_t=PRICE_FEN_PER_T,
                mid_fen_per_t=PRICE_FEN_PER_T,
                average_fen_per_t=None,
                observation_ids=(),
                stale=False,
                business_days_old=0,
            )
            for commodity_id in commodity_ids
        }

    monkeypatch.setattr(collateral_sql, "prices_for", prices_for)


def _uow_factory(database: Database, clock: Clock | None = None) -> Callable[[], UnitOfWork]:
    if clock is None:
        return lambda: UnitOfWork(database.write_session)
    return lambda: UnitOfWork(database.write_session, clock=clock)


def facility(database: Database, settings: Settings, site: World, *, limit_fen: int) -> int:
    """A committed, active facility secured by a fresh pledged receipt of ten tonnes."""
    uow = _uow_factory(database)
    lot_id = receive(uow, site, room=ROOM, owner="borrower", commodity="PORK-FZ", tonnes=TONNES)
    make_ready(uow, settings, site, lot_id, seal=f"FC-{lot_id}-{next(_receipt_serial)}")
    key = f"race-{lot_id}"
    site.receipts[key] = issued_receipt(uow, site, lot_id)
    pledge(uow, site, site.receipts[key], holder="borrower", bank="bank")
    return active_facility(uow, site, receipts=(key,), limit_fen=limit_fen)


def approval(database: Database, site: World, drawdown_id: int) -> Callable[[], Any]:
    return partial(loans.approve, UnitOfWork(database.write_session), site.who("bank"), drawdown_id, NoteIn())


def approved_total(database: Database, facility_id: int) -> int:
    with database.reading() as session:
        return int(
            session.scalar(
                select(func.coalesce(func.sum(Drawdown.amount_fen), 0)).where(
                    Drawdown.facility_id == facility_id, Drawdown.status == DrawdownStatus.APPROVED
                )
            )
            or 0
        )


def settle(outcomes: list[Outcome]) -> tuple[list[Any], list[BaseException]]:
    won = [outcome.value for outcome in outcomes if outcome.error is None]
    lost = [outcome.error for outcome in outcomes if outcome.error is not None]
    assert all(isinstance(error, Conflict) for error in lost), lost
    return won, lost


def test_simultaneous_approvals_never_together_exceed_the_pledge_rate(
    database: Database, settings: Settings, site: World
) -> None:
    facility_id = facility(database, settings, site, limit_fen=100_000_000)
    drawdowns = [requested(_uow_factory(database), site, facility_id, 3_000_000) for _ in range(8)]

    won, lost = settle(run_together([approval(database, site, ident) for ident in drawdowns]))

    # CNY 130,000.00 of cover holds four loans of CNY 30,000.00, not five.
    assert (len(won), len(lost)) == (4, 4)
    assert approved_total(database, facility_id) == 12_000_000 <= COVER_FEN
    with database.reading() as session:
        found = position_of(session, session.get_one(Facility, facility_id), today())
    assert found.committed_exposure_fen * 10_000 <= found.value_fen * 6500


def test_simultaneous_approvals_never_together_exceed_the_limit(
    database: Database, settings: Settings, site: World
) -> None:
    facility_id = facility(database, settings, site, limit_fen=10_000_000)
    drawdowns = [requested(_uow_factory(database), site, facility_id, 3_000_000) for _ in range(8)]

    won, lost = settle(run_together([approval(database, site, ident) for ident in drawdowns]))

    assert (len(won), len(lost)) == (3, 5)
    assert approved_total(database, facility_id) == 9_000_000


@pytest.mark.postgres
def test_an_approval_waits_for_the_one_before_it_and_sees_its_reservation(
    database: Database, settings: Settings, site: World
) -> None:
    facility_id = facility(database, settings, site, limit_fen=100_000_000)
    first, second = (requested(_uow_factory(database), site, facility_id, 8_000_000) for _ in range(2))

    # The first approval holds the facility's lock, uncommitted; the second queues behind it,
    # then judges the position with the first's CNY 80,000.00 reserved: 50,000.00 are left.
    outcome = race(
        database,
        lambda uow: loans.approve(uow, site.who("bank"), first, NoteIn()),
        lambda uow: loans.approve(uow, site.who("bank"), second, NoteIn()),
    )

    assert isinstance(outcome.error, Conflict), outcome
    assert outcome.error.params["headroom"] == 5_000_000
    assert approved_total(database, facility_id) == 8_000_000


def test_two_accrual_jobs_at_once_accrue_each_day_once(
    database: Database, settings: Settings, site: World
) -> None:
    facility_id = facility(database, settings, site, limit_fen=100_000_000)
    drawdown_id = requested(_uow_factory(database), site, facility_id, 10_000_000)
    loans.approve(UnitOfWork(database.write_session), site.who("bank"), drawdown_id, NoteIn())
    loans.disburse(UnitOfWork(database.write_session), site.who("bank"), drawdown_id, NoteIn())
    morning = Clock(now() + timedelta(days=10))
    through = today() + timedelta(days=9)

    outcomes = run_together([partial(accrue, _uow_factory(database, morning)(), through) for _ in range(2)])

    assert [outcome.error for outcome in outcomes] == [None, None]
    with database.reading() as session:
        days = session.scalars(
            select(InterestAccrual.business_date).where(InterestAccrual.drawdown_id == drawdown_id)
        ).all()
        drawdown = session.get_one(Drawdown, drawdown_id)
        interest = drawdown.interest_posted_fen
    assert sorted(days) == [today() + timedelta(days=n) for n in range(10)]
    # 10,000,000 fen × 4.35 % / 360 × 10 days
    assert interest == 12_083
