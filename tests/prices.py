"""Prices in tests as the operator makes them: a series, and prices entered by Olga (``admin``) and
approved by a second operator, Oscar, since nobody approves a price they entered.

Oscar is not in the shared world: he is made inside the test's transaction, when a test needs him.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from sqlalchemy import select

from coldpledge.config import Settings
from coldpledge.financing.prices import service
from coldpledge.financing.prices.models import PriceObservation, PriceSeries, PriceUnit
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, SeriesIn
from coldpledge.parties import service as parties
from coldpledge.parties.models import User
from coldpledge.parties.policy import SYSTEM, Principal, Role
from coldpledge.parties.schemas import UserIn
from coldpledge.parties.service import principal_for
from coldpledge.uow import UnitOfWork
from tests.world import PASSWORD, World

UowFactory = Callable[[], UnitOfWork]
OSCAR = "oscar"


def second_operator(uow: UowFactory, settings: Settings, world: World) -> Principal:
    """Oscar, a second platform administrator (made once per transaction)."""
    with uow() as unit:
        existing = unit.session.scalars(select(User).where(User.username == OSCAR)).first()
        if existing is not None:
            return principal_for(existing)
    data = UserIn(
        username=OSCAR,
        display_name="Oscar",
        organisation_id=world.orgs["operator"],
        role=Role.PLATFORM_ADMIN,
        password=PASSWORD,
    )
    user = parties.create_user(uow(), settings, SYSTEM, data)
    with uow() as unit:
        return principal_for(unit.session.get_one(User, user.id))


def new_series(
    uow: UowFactory,
    world: World,
    code: str = "MOA-PORK-TEST",
    commodity: str = "PORK-FZ",
    *,
    primary: bool = True,
    unit: PriceUnit = PriceUnit.CNY_PER_KG,
    **fields: object,
) -> PriceSeries:
    data = SeriesIn(
        code=code,
        commodity_id=world.commodities[commodity],
        source=str(fields.pop("source", "test")),
        source_series_id=str(fields.pop("source_series_id", code)),
        market_region="全国",
        spec="冻猪肉 2号肉",
        unit=unit,
        is_primary=primary,
        **fields,  # type: ignore[arg-type]
    )
    return service.create_series(uow(), world.who("admin"), data)


def entered(uow: UowFactory, world: World, series_id: int, price_date: date, mid: str) -> PriceObservation:
    """A price Olga entered, awaiting approval."""
    return service.enter(
        uow(), world.who("admin"), ObservationIn(series_id=series_id, price_date=price_date, mid=mid)
    )


def approved(
    uow: UowFactory, world: World, approver: Principal, series_id: int, price_date: date, mid: str
) -> PriceObservation:
    """A price Olga entered and ``approver`` approved (confirming it if it is an outlier)."""
    observation = entered(uow, world, series_id, price_date, mid)
    return service.approve(uow(), approver, observation.id, ApproveIn(confirm_outlier=True))
