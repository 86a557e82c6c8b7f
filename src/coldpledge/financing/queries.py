"""Reads of the financing context, every one through the facility's scope (its bank, borrower and
guarantor; the operator sees all)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.financing.models import (
    Drawdown,
    DrawdownStatus,
    Facility,
    FacilityCollateral,
    FacilityContract,
    FacilityStatus,
    InterestAccrual,
    MarginDeposit,
    Repayment,
)
from coldpledge.financing.position import Position, position_of
from coldpledge.parties.access import obtain, restrict
from coldpledge.parties.policy import Principal


@dataclass(frozen=True)
class FacilityFilter:
    status: FacilityStatus | None = None
    bank_org_id: int | None = None
    borrower_org_id: int | None = None
    limit: int = 100
    offset: int = 0


def list_facilities(session: Session, principal: Principal, where: FacilityFilter) -> list[Facility]:
    query = restrict(principal, "view", Facility)
    if where.status is not None:
        query = query.where(Facility.status == where.status)
    if where.bank_org_id is not None:
        query = query.where(Facility.bank_org_id == where.bank_org_id)
    if where.borrower_org_id is not None:
        query = query.where(Facility.borrower_org_id == where.borrower_org_id)
    return list(session.scalars(query.order_by(Facility.id.desc()).limit(where.limit).offset(where.offset)))


def get_facility(session: Session, principal: Principal, facility_id: int) -> Facility:
    return obtain(session, principal, Facility, facility_id)


def position(session: Session, principal: Principal, facility_id: int, on: date) -> Position:
    return position_of(session, get_facility(session, principal, facility_id), on)


def contracts(session: Session, principal: Principal, facility_id: int) -> list[FacilityContract]:
    facility = get_facility(session, principal, facility_id)
    query = select(FacilityContract).where(FacilityContract.facility_id == facility.id)
    return list(session.scalars(query.order_by(FacilityContract.id)))


def collateral_links(session: Session, principal: Principal, facility_id: int) -> list[FacilityCollateral]:
    facility = get_facility(session, principal, facility_id)
    query = select(FacilityCollateral).where(FacilityCollateral.facility_id == facility.id)
    return list(session.scalars(query.order_by(FacilityCollateral.id)))


def margin_deposits(session: Session, principal: Principal, facility_id: int) -> list[MarginDeposit]:
    facility = get_facility(session, principal, facility_id)
    query = select(MarginDeposit).where(MarginDeposit.facility_id == facility.id)
    return list(session.scalars(query.order_by(MarginDeposit.id)))


def facility_repayments(session: Session, principal: Principal, facility_id: int) -> list[Repayment]:
    facility = get_facility(session, principal, facility_id)
    query = (
        select(Repayment)
        .join(Drawdown, Drawdown.id == Repayment.drawdown_id)
        .where(Drawdown.facility_id == facility.id)
    )
    return list(session.scalars(query.order_by(Repayment.id)))


def list_drawdowns(
    session: Session,
    principal: Principal,
    *,
    facility_id: int | None = None,
    status: DrawdownStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Drawdown]:
    query = restrict(principal, "view", Drawdown)
    if facility_id is not None:
        query = query.where(Drawdown.facility_id == facility_id)
    if status is not None:
        query = query.where(Drawdown.status == status)
    return list(session.scalars(query.order_by(Drawdown.id.desc()).limit(limit).offset(offset)))


def facility_drawdowns(session: Session, principal: Principal, facility_id: int) -> list[Drawdown]:
    facility = get_facility(session, principal, facility_id)
    query = select(Drawdown).where(Drawdown.facility_id == facility.id)
    return list(session.scalars(query.order_by(Drawdown.id)))


def get_drawdown(session: Session, principal: Principal, drawdown_id: int) -> Drawdown:
    return obtain(session, principal, Drawdown, drawdown_id)


def repayments(session: Session, principal: Principal, drawdown_id: int) -> list[Repayment]:
    drawdown = get_drawdown(session, principal, drawdown_id)
    query = select(Repayment).where(Repayment.drawdown_id == drawdown.id)
    return list(session.scalars(query.order_by(Repayment.id)))


def accruals(session: Session, principal: Principal, drawdown_id: int) -> list[InterestAccrual]:
    drawdown = get_drawdown(session, principal, drawdown_id)
    query = select(InterestAccrual).where(InterestAccrual.drawdown_id == drawdown.id)
    return list(session.scalars(query.order_by(InterestAccrual.business_date, InterestAccrual.kind)))
