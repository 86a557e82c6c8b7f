"""Reads of valuations, through the facility's scope (its bank, borrower and guarantor; the
operator sees all)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.errors import N_, NotFound
from coldpledge.financing.marktomarket import MARKED
from coldpledge.financing.models import Facility
from coldpledge.financing.mtm_models import LineStatus, Valuation, ValuationKind, ValuationLine
from coldpledge.financing.prices.models import PriceObservation
from coldpledge.financing.queries import get_facility
from coldpledge.financing.valuation import observation_ids
from coldpledge.parties.access import visible
from coldpledge.parties.policy import Principal
from coldpledge.receipts.models import Receipt


@dataclass(frozen=True)
class ValuationFilter:
    date_from: date | None = None
    date_to: date | None = None
    kind: ValuationKind | None = None
    limit: int = 100
    offset: int = 0


def valuations(
    session: Session, principal: Principal, facility_id: int, where: ValuationFilter
) -> list[Valuation]:
    facility = get_facility(session, principal, facility_id)
    query = select(Valuation).where(Valuation.facility_id == facility.id)
    if where.date_from is not None:
        query = query.where(Valuation.business_date >= where.date_from)
    if where.date_to is not None:
        query = query.where(Valuation.business_date <= where.date_to)
    if where.kind is not None:
        query = query.where(Valuation.kind == where.kind)
    query = query.order_by(Valuation.business_date.desc(), Valuation.id.desc())
    return list(session.scalars(query.limit(where.limit).offset(where.offset)))


@dataclass(frozen=True)
class ValuationDetail:
    valuation: Valuation
    lines: list[ValuationLine]
    receipt_codes: dict[int, str]
    observations: list[PriceObservation]


def valuation(session: Session, principal: Principal, facility_id: int, valuation_id: int) -> ValuationDetail:
    facility = get_facility(session, principal, facility_id)
    found = session.get(Valuation, valuation_id)
    if found is None or found.facility_id != facility.id:
        raise NotFound(
            N_("The {thing} {ident} was not found."), thing=Valuation.__label__, ident=valuation_id
        )
    lines = list(
        session.scalars(
            select(ValuationLine)
            .where(ValuationLine.valuation_id == found.id)
            .order_by(ValuationLine.link_id, ValuationLine.pledge_id, ValuationLine.id)
        )
    )
    receipts = {line.receipt_id for line in lines}
    codes = (
        {
            row[0]: row[1]
            for row in session.execute(select(Receipt.id, Receipt.code).where(Receipt.id.in_(receipts)))
        }
        if receipts
        else {}
    )
    used = observation_ids(lines)
    observations = (
        list(
            session.scalars(
                select(PriceObservation).where(PriceObservation.id.in_(used)).order_by(PriceObservation.id)
            )
        )
        if used
        else []
    )
    return ValuationDetail(found, lines, codes, observations)


# --- the portfolio, for the receipt risk screen ----------------------------------------------------


@dataclass(frozen=True)
class FacilityMark:
    """A marked facility the principal sees, with its latest valuation (None: never valued)."""

    facility: Facility
    valuation: Valuation | None


def facility_marks(session: Session, principal: Principal) -> list[FacilityMark]:
    """Every facility the principal sees that is marked to market, with its latest valuation.
    One query whatever the number of facilities."""
    latest = (
        select(Valuation.facility_id, func.max(Valuation.id).label("valuation_id"))
        .group_by(Valuation.facility_id)
        .subquery()
    )
    rows = session.execute(
        select(Facility, Valuation)
        .outerjoin(latest, latest.c.facility_id == Facility.id)
        .outerjoin(Valuation, Valuation.id == latest.c.valuation_id)
        .where(visible(principal, "view", Facility), Facility.status.in_(MARKED))
        .order_by(Facility.code)
    )
    return [FacilityMark(facility, valuation) for facility, valuation in rows]


@dataclass(frozen=True)
class DailyTotal:
    business_date: date
    exposure_fen: int
    collateral_value_fen: int
    facilities: int


def daily_totals(session: Session, principal: Principal, since: date) -> list[DailyTotal]:
    """Exposure and collateral value of the facilities the principal sees, summed over their
    daily marks, per business date from ``since``, oldest first."""
    rows = session.execute(
        select(
            Valuation.business_date,
            func.sum(Valuation.exposure_fen),
            func.sum(Valuation.collateral_value_fen),
            func.count(Valuation.id),
        )
        .join(Facility, Facility.id == Valuation.facility_id)
        .where(
            visible(principal, "view", Facility),
            Valuation.kind == ValuationKind.DAILY,
            Valuation.business_date >= since,
        )
        .group_by(Valuation.business_date)
        .order_by(Valuation.business_date)
    )
    return [DailyTotal(day, int(exposure), int(value), count) for day, exposure, value, count in rows]


def valued_commodities(session: Session, principal: Principal, valuation_ids: list[int]) -> set[int]:
    """The commodities counted in these valuations (of facilities the principal sees)."""
    if not valuation_ids:
        return set()
    found = session.scalars(
        select(ValuationLine.commodity_id)
        .distinct()
        .join(Valuation, Valuation.id == ValuationLine.valuation_id)
        .join(Facility, Facility.id == Valuation.facility_id)
        .where(
            ValuationLine.valuation_id.in_(valuation_ids),
            ValuationLine.status == LineStatus.COUNTED,
            visible(principal, "view", Facility),
        )
    )
    return set(found)
