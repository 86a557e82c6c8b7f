"""Reads of valuations, through the facility's scope (its bank, borrower and guarantor; the
operator sees all)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.errors import N_, NotFound
from coldpledge.financing.mtm_models import Valuation, ValuationKind, ValuationLine
from coldpledge.financing.prices.models import PriceObservation
from coldpledge.financing.queries import get_facility
from coldpledge.financing.valuation import observation_ids
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
