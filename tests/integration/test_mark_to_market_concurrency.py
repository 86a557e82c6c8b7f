"""Two schedulers marking the same business date at once value each facility once, issue one
margin call and raise one alert (PostgreSQL: real connections, real commits, threads that start
together).

The test works on a site of its own (a cold store with its own borrower, bank, keeper and
supervisor, built once for the module), so nothing it commits shows in the shared world. The
price valuation uses is fixed here rather than taken from a primary series, which every other test
would then see; it names observations of a committed series that is not primary (as the price
tests' own), since a valuation line refers to the observation it used. The facility is closed at
the end, out of every later mark's scope.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import func, select, update

from coldpledge.alerts.models import Alert
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.financing import collateral_sql, mtm_sql, valuation
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.financing.models import Facility, FacilityStatus
from coldpledge.financing.mtm_models import MarginCall, Valuation
from coldpledge.financing.prices.service import PriceUsed
from coldpledge.financing.risk import RiskState
from coldpledge.parties.policy import SYSTEM
from coldpledge.uow import UnitOfWork
from tests.financing import active_facility, drawn
from tests.integration.test_concurrency import run_together
from tests.marking import business_day
from tests.prices import approved, new_series
from tests.sites import private_site
from tests.support import today
from tests.world import World, issued_receipt, make_ready, pledge, receive

pytestmark = pytest.mark.postgres

ROOM = "MTM-F18"
PRICE_FEN_PER_T = {"drawn": 2_000_000, "marked": 1_600_000}  # CNY 20.00/kg, then 16.00/kg


@pytest.fixture(scope="module")
def site(database: Database, settings: Settings, world: World) -> World:
    return private_site(database, settings, world, name="mtm-race", room=ROOM)


@pytest.fixture(scope="module")
def observations(database: Database, world: World) -> dict[str, int]:
    """Committed observations of the two prices, on a series of its own that is not primary."""
    uow = _uow(database)
    code = f"T-MTM-{uuid.uuid4().hex[:8].upper()}"
    series = new_series(uow, world, code, "CHICKEN-CH", primary=False, source=code)
    return {
        "drawn": approved(uow, world, SYSTEM, series.id, business_day(-1), "20.00").id,
        "marked": approved(uow, world, SYSTEM, series.id, today(), "16.00").id,
    }


@pytest.fixture
def fixed_price(monkeypatch: pytest.MonkeyPatch, observations: dict[str, int]) -> dict[str, str]:
    """Every commodity at the price ``price["now"]`` names, wherever valuation asks for prices."""
    price = {"now": "drawn"}

    def prices_for(_session: Any, commodity_ids: Any, business_date: Any) -> dict[int, PriceUsed]:
        return {
            commodity_id: PriceUsed(
                series_id=0,
                series_code="FIXED",
                commodity_id=commodity_id,
                observation_id=observations[price["now"]],
                price_date=business_date,
                price_fen_per_t=PRICE_FEN_PER_T[price["now"]],
                mid_fen_per_t=PRICE_FEN_PER_T[price["now"]],
                average_fen_per_t=None,
                observation_ids=(observations[price["now"]],),
                stale=False,
                business_days_old=0,
            )
            for commodity_id in commodity_ids
        }

    for module in (collateral_sql, mtm_sql, valuation):
        monkeypatch.setattr(module, "prices_for", prices_for)
    return price


@pytest.fixture
def facility_id(
    database: Database, settings: Settings, site: World, fixed_price: dict[str, int]
) -> Iterator[int]:
    """A committed facility drawn to its pledge rate on ten tonnes, closed again afterwards."""
    uow = _uow(database)
    lot_id = receive(uow, site, room=ROOM, owner="borrower", commodity="PORK-FZ", tonnes=10)
    make_ready(uow, settings, site, lot_id, seal=f"MTM-{lot_id}")
    site.receipts["race"] = issued_receipt(uow, site, lot_id)
    pledge(uow, site, site.receipts["race"], holder="borrower", bank="bank")
    made = active_facility(uow, site, receipts=("race",), limit_fen=100_000_000)
    drawn(uow, site, made, 13_000_000)  # 65 % of CNY 200,000.00
    yield made
    session = database.write_session()
    try:
        session.execute(update(Facility).where(Facility.id == made).values(status=FacilityStatus.CLOSED))
        session.commit()
    finally:
        session.close()


def _uow(database: Database) -> Callable[[], UnitOfWork]:
    return lambda: UnitOfWork(database.write_session)


def test_two_schedulers_marking_at_once_value_each_facility_once(
    database: Database, facility_id: int, fixed_price: dict[str, str]
) -> None:
    fixed_price["now"] = "marked"  # 81.25 %: a margin call

    outcomes = run_together([partial(mark_to_market, _uow(database), today()) for _ in range(2)])

    assert [outcome.error for outcome in outcomes] == [None, None]
    valued = sorted(outcome.value.valued for outcome in outcomes)
    assert valued[0] == 0, "the second run found every facility marked"
    with database.reading() as session:
        assert session.scalar(select(func.count()).where(Valuation.facility_id == facility_id)) == 1
        assert session.get_one(Facility, facility_id).risk_state is RiskState.MARGIN_CALL
        assert session.scalar(select(func.count()).where(MarginCall.facility_id == facility_id)) == 1
        assert session.scalar(select(func.count()).where(Alert.facility_id == facility_id)) == 1
