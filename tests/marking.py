"""Mark-to-market in tests: Carol's facility at Alice's bank secured by the world's 30 t of pledged
pork, drawn to its pledge rate (CNY 390,000.00 at CNY 20.00/kg, LTV 65 %), then marked at a lower
price.

At CNY 17.00/kg the pork is worth CNY 510,000.00: LTV 76.48 %, past the warning line (75 %).
At CNY 16.00/kg it is worth CNY 480,000.00: LTV 81.25 %, past the margin-call line (80 %); the
call is cured by CNY 78,000.00 of cash or CNY 120,000.00 of goods (7.5 t of pork at that price).
At CNY 14.00/kg it is worth CNY 420,000.00: LTV 92.86 %, past the liquidation line (85 %).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.alerts.lifecycle import LIVE_ALERT
from coldpledge.alerts.models import Alert
from coldpledge.config import Settings
from coldpledge.financing.businessdays import add_business_days
from coldpledge.financing.marktomarket import MarkRun, mark_to_market
from coldpledge.financing.models import Facility
from coldpledge.financing.mtm_models import MarginCall, Valuation, ValuationKind, ValuationLine
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, Principal, Role
from coldpledge.parties.schemas import UserIn
from coldpledge.parties.service import principal_for
from coldpledge.uow import UnitOfWork
from tests.financing import active_facility, drawn, price
from tests.support import today
from tests.world import PASSWORD, World

UowFactory = Callable[[], UnitOfWork]
T = TypeVar("T")

DRAWN_FEN = 39_000_000  # 65 % of CNY 600,000.00


def business_day(n: int) -> date:
    """The ``n``-th business day from today (before it when negative)."""
    return add_business_days(today(), n)


def drawn_facility(uow: UowFactory, settings: Settings, world: World, **terms: Any) -> int:
    """The facility, drawn to its pledge rate on the previous business day's CNY 20.00/kg."""
    price(uow, settings, world, "20.00", on=business_day(-1))
    facility_id = active_facility(uow, world, **terms)
    drawn(uow, world, facility_id, DRAWN_FEN)
    return facility_id


def mark(uow: UowFactory, on: date | None = None) -> MarkRun:
    return mark_to_market(uow, on or today())


def read(uow: UowFactory, query: Callable[[Session], T]) -> T:
    """What ``query`` finds, detached from its session (which is rolled back)."""
    with uow() as unit:
        found = query(unit.session)
        unit.session.expunge_all()
        return found


def facility(uow: UowFactory, facility_id: int) -> Facility:
    return read(uow, lambda session: session.get_one(Facility, facility_id))


def daily(uow: UowFactory, facility_id: int, on: date | None = None) -> Valuation:
    query = select(Valuation).where(
        Valuation.facility_id == facility_id,
        Valuation.business_date == (on or today()),
        Valuation.kind == ValuationKind.DAILY,
    )
    return read(uow, lambda session: session.scalars(query).one())


def valuations(uow: UowFactory, facility_id: int) -> list[Valuation]:
    query = select(Valuation).where(Valuation.facility_id == facility_id).order_by(Valuation.id)
    return read(uow, lambda session: list(session.scalars(query)))


def lines(uow: UowFactory, valuation_id: int) -> list[ValuationLine]:
    query = (
        select(ValuationLine)
        .where(ValuationLine.valuation_id == valuation_id)
        .order_by(ValuationLine.link_id, ValuationLine.pledge_id)
    )
    return read(uow, lambda session: list(session.scalars(query)))


def calls(uow: UowFactory, facility_id: int) -> list[MarginCall]:
    query = select(MarginCall).where(MarginCall.facility_id == facility_id).order_by(MarginCall.id)
    return read(uow, lambda session: list(session.scalars(query)))


def alerts(uow: UowFactory, facility_id: int, *, live: bool = True) -> dict[str, Alert]:
    """The facility's alerts by rule (live ones, or all)."""
    query = select(Alert).where(Alert.facility_id == facility_id).order_by(Alert.id)
    if live:
        query = query.where(Alert.status.in_(LIVE_ALERT))
    return read(uow, lambda session: {alert.rule: alert for alert in session.scalars(query)})


def second_risk_officer(uow: UowFactory, settings: Settings, world: World) -> Principal:
    """Bianca, a second risk officer at Alice's bank (a waiver needs two)."""
    data = UserIn(
        username="bianca",
        display_name="Bianca",
        organisation_id=world.orgs["bank"],
        role=Role.BANK_RISK_OFFICER,
        password=PASSWORD,
    )
    user = parties.create_user(uow(), settings, SYSTEM, data)
    with uow() as unit:
        return principal_for(unit.session.get_one(User, user.id))
