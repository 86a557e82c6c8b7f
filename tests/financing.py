"""Facilities and loans in tests, made through the real services: Carol (``borrower``) applies to
Alice's bank (``bank``), Alice approves, files the contracts, activates and attaches the receipts
Carol pledged to her; prices are the operator's, entered by Olga and approved by Oscar.

The world's pledged pork (30 t) at CNY 20.00/kg is worth CNY 600,000.00; at the default pledge rate
of 65 % it carries CNY 390,000.00 of exposure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

from sqlalchemy import select

from coldpledge.config import Settings
from coldpledge.financing import collateral_links, facilities, loans
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.models import ContractKind, Drawdown
from coldpledge.financing.prices.models import PriceSeries
from coldpledge.financing.schemas import (
    CollateralAttachIn,
    ContractIn,
    DrawdownRequestIn,
    FacilityApplyIn,
    FacilityTermsIn,
)
from coldpledge.receipts.schemas import NoteIn
from coldpledge.uow import UnitOfWork
from tests.prices import approved, new_series, second_operator
from tests.support import today
from tests.world import World

UowFactory = Callable[[], UnitOfWork]

PORK_FEN_PER_T = 2_000_000  # CNY 20.00/kg
PORK_VALUE_FEN = 60_000_000  # 30 t of the world's pledged pork
LIMIT_FEN = 50_000_000  # CNY 500,000.00
SHA = "ab" * 32


def price(
    uow: UowFactory,
    settings: Settings,
    world: World,
    mid: str,
    *,
    on: date | None = None,
    commodity: str = "PORK-FZ",
) -> None:
    """An approved price of ``commodity`` (CNY/kg, as text) on ``on`` (today by default)."""
    with uow() as unit:
        series = unit.session.scalars(
            select(PriceSeries).where(
                PriceSeries.commodity_id == world.commodities[commodity],
                PriceSeries.is_primary,
                PriceSeries.active,
            )
        ).first()
        series_id = series.id if series is not None else None
    if series_id is None:
        series_id = new_series(uow, world, f"TEST-{commodity}", commodity).id
    approved(uow, world, second_operator(uow, settings, world), series_id, on or today(), mid)


def applied(uow: UowFactory, world: World, *, limit_fen: int = LIMIT_FEN, borrower: str = "borrower") -> int:
    data = FacilityApplyIn(
        bank_org_id=world.orgs["bank"],
        limit_fen=limit_fen,
        start_date=today(),
        expiry_date=today() + timedelta(days=365),
    )
    return facilities.apply(uow(), world.who(borrower), data).id


def terms(**changes: object) -> FacilityTermsIn:
    fields: dict[str, object] = {"rate_bp": 435, **changes}
    return FacilityTermsIn.model_validate(fields)


def contracts(uow: UowFactory, world: World, facility_id: int) -> None:
    for kind, number in (
        (ContractKind.CREDIT_AGREEMENT, "ZS-SX-2026-001"),
        (ContractKind.PLEDGE_CONTRACT, "ZS-ZY-2026-001"),
    ):
        facilities.add_contract(
            uow(),
            world.who("bank"),
            facility_id,
            ContractIn(
                kind=kind,
                number=number,
                signed_on=today(),
                parties="浙商银行杭州分行; 上海鲜丰冷链贸易",
                file_sha256=SHA,
            ),
        )


def active_facility(
    uow: UowFactory,
    world: World,
    *,
    receipts: Iterable[str] = ("pledged",),
    limit_fen: int = LIMIT_FEN,
    day_count: DayCount = DayCount.ACT_360,
    **changes: object,
) -> int:
    """An active facility of Carol's at Alice's bank, secured by the world's ``receipts``."""
    facility_id = applied(uow, world, limit_fen=limit_fen)
    facilities.approve(uow(), world.who("bank"), facility_id, terms(day_count=day_count, **changes))
    contracts(uow, world, facility_id)
    facilities.activate(uow(), world.who("bank"), facility_id, NoteIn())
    for key in receipts:
        collateral_links.attach(
            uow(), world.who("bank"), facility_id, CollateralAttachIn(receipt_id=world.receipts[key])
        )
    return facility_id


def requested(uow: UowFactory, world: World, facility_id: int, amount_fen: int, *, days: int = 90) -> int:
    data = DrawdownRequestIn(amount_fen=amount_fen, maturity_date=today() + timedelta(days=days))
    return loans.request(uow(), world.who("borrower"), facility_id, data).id


def drawn(uow: UowFactory, world: World, facility_id: int, amount_fen: int, *, days: int = 90) -> Drawdown:
    """A drawdown requested, approved and disbursed today."""
    drawdown_id = requested(uow, world, facility_id, amount_fen, days=days)
    loans.approve(uow(), world.who("bank"), drawdown_id, NoteIn())
    return loans.disburse(uow(), world.who("bank"), drawdown_id, NoteIn())
