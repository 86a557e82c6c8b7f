"""Releases (解押出库) of goods that secure a facility: allowed only while the loan stays covered.

A partial release of a pledged receipt attached to a facility is allowed when, after it, the
facility's committed exposure (principal outstanding, approved drawdowns not yet paid out, posted
unpaid interest and penalty, less cash margin) is within the pledge rate of the collateral left,
valued at today's price — the exact check ``collateral.ltv_within``, Frappe Lending's unpledge rule
(domain §2.6) — or when nothing is owed at all. It is checked when the borrower asks and again when
the bank approves, because the price may have moved in between. A facility in liquidation (or
disposed) releases nothing: its goods are the bank's to sell (DESIGN §7).

A refusal is a 409 that carries the figures, above all the most grams of the receipt that could
leave now (``collateral.max_release_quantity_g``). Repaying frees goods: each fen repaid frees
goods worth 1 / pledge rate fen; ``release_capacity`` shows what a repayment of a given amount
would make releasable, per receipt.

Receipts not attached to any facility are the pledgee's own affair and pass unchecked.

Locks: the receipts use cases lock lot, then release, then receipt; financing locks the facility
before anything else. A release that involves a facility therefore locks the facility first
(``lock_cover``), so it queues behind a drawdown, a detachment or a liquidation of the same
facility rather than deadlocking with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.errors import N_, Conflict
from coldpledge.financing.collateral import (
    LotValue,
    ltv_bp,
    ltv_within,
    max_release_quantity_g,
    max_release_value_fen,
)
from coldpledge.financing.collateral_sql import CollateralLine
from coldpledge.financing.facilities import today
from coldpledge.financing.models import Facility, FacilityCollateral
from coldpledge.financing.position import Position, position_of
from coldpledge.financing.risk import RiskState
from coldpledge.parties.policy import Principal
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Pledge, Receipt, Release, ReleaseStatus
from coldpledge.uow import UnitOfWork

# Risk states in which no goods leave (DESIGN §7: liquidation freezes releases).
RELEASES_FROZEN = (RiskState.LIQUIDATION, RiskState.DISPOSED)


class ReleaseBeyondCover(Conflict):
    """A release that would leave the loan above the pledge rate; the body carries the figures."""

    code = "release_beyond_cover"

    def extra(self) -> dict[str, Any]:
        return {"figures": self.params}


class ReleasesFrozen(Conflict):
    code = "releases_frozen"

    def extra(self) -> dict[str, Any]:
        return {"figures": self.params}


@dataclass(frozen=True)
class ReceiptCapacity:
    """How much of one pledged receipt may leave: now, and after the repayment asked about."""

    receipt_id: int
    receipt_code: str
    quantity_g: int
    price_fen_per_t: int | None
    value_fen: int
    max_release_g: int
    max_release_g_after_repayment: int


@dataclass(frozen=True)
class ReleaseCapacity:
    facility_id: int
    business_date: date
    risk_state: RiskState
    frozen: bool
    stale: bool  # a price under the collateral is stale: no release until it is current again
    pledge_rate_bp: int
    exposure_fen: int
    value_fen: int
    max_release_value_fen: int
    repayment_fen: int
    exposure_after_repayment_fen: int
    max_release_value_after_repayment_fen: int
    price_observation_ids: list[int]
    receipts: tuple[ReceiptCapacity, ...]


# --- which facility a receipt secures --------------------------------------------------------------


def facility_id_of(session: Session, receipt_id: int) -> int | None:
    """The facility the receipt's live pledge secures, directly or through the pledge it came from
    when a receipt was split or replaced after it was attached."""
    pledge = session.scalars(
        select(Pledge).where(Pledge.receipt_id == receipt_id).order_by(Pledge.id.desc()).limit(1)
    ).first()
    while pledge is not None:
        link = session.scalars(
            select(FacilityCollateral.facility_id).where(
                FacilityCollateral.pledge_id == pledge.id, FacilityCollateral.detached_at.is_(None)
            )
        ).first()
        if link is not None:
            return link
        pledge = session.get(Pledge, pledge.predecessor_pledge_id) if pledge.predecessor_pledge_id else None
    return None


def lock_cover(uow: UnitOfWork, *, receipt_id: int | None = None, release_id: int | None = None) -> None:
    """Lock the facility a receipt (or a release's receipt) secures, if any, before the receipt's
    own locks are taken. Reveals nothing: the caller's scope checks come after."""
    if release_id is not None:
        release = uow.session.get(Release, release_id)
        receipt_id = release.receipt_id if release is not None else None
    if receipt_id is None:
        return
    facility_id = facility_id_of(uow.session, receipt_id)
    if facility_id is not None:
        uow.session.get(Facility, facility_id, with_for_update=True, populate_existing=True)


# --- the check -------------------------------------------------------------------------------------


def check_release(uow: UnitOfWork, principal: Principal, receipt: Receipt, quantity_g: int) -> None:
    """Refuse (409) a partial release of ``quantity_g`` grams of ``receipt`` that would leave its
    facility above the pledge rate, or any release while the facility is in liquidation. The
    figures the decision rested on are recorded on the facility."""
    facility_id = facility_id_of(uow.session, receipt.id)
    if facility_id is None:
        return
    facility = uow.session.get_one(Facility, facility_id)
    _not_frozen(facility)
    position = position_of(uow.session, facility, today(uow))
    exposure = position.committed_exposure_fen
    figures: dict[str, Any] = {
        "facility": facility.code,
        "receipt": receipt.code,
        "quantity": quantity_g,
        "exposure": exposure,
        "value": position.cover_fen,
        "rate": position.pledge_rate_bp,
    }
    if exposure > 0:
        stale = position.collateral.stale_lines
        if stale:
            raise Conflict(
                N_("The price of the goods under receipt {code} is stale; a release needs a current price."),
                code=stale[0].receipt_code,
            )
        line = _line_of(position, receipt.id)
        lot = _lot_value(line, receipt.quantity_g, facility.haircut_bp)
        # The cover (goods less those already promised away) less this receipt's goods plus what
        # stays of them; a receipt has one open instruction at most, so none of it is promised yet.
        value_after = position.cover_fen - lot.value_fen + lot.value_of_g(receipt.quantity_g - quantity_g)
        most = max_release_quantity_g(lot, position.cover_fen, exposure, position.pledge_rate_bp)
        figures.update(
            value_after=value_after, ltv_after_bp=ltv_bp(exposure, value_after), max_release_g=most
        )
        if not ltv_within(exposure, value_after, position.pledge_rate_bp):
            raise ReleaseBeyondCover(
                N_(
                    "Releasing {quantity} g of receipt {receipt} would leave {exposure} fen of exposure "
                    "against {value_after} fen of collateral, above the pledge rate of {rate} bp; at most "
                    "{max_release_g} g can be released now. Repay or add margin to free more."
                ),
                **figures,
            )
    uow.record(
        principal,
        "facility.release_checked",
        facility,
        before=None,
        related=[receipt.subject_ref],
        data={"release": figures, "position": position.evidence()},
    )


def ensure_not_frozen(session: Session, receipt: Receipt) -> None:
    """At the dock: goods of a facility in liquidation do not leave under a partial release."""
    facility_id = facility_id_of(session, receipt.id)
    if facility_id is not None:
        _not_frozen(session.get_one(Facility, facility_id))


def _not_frozen(facility: Facility) -> None:
    if facility.risk_state in RELEASES_FROZEN:
        raise ReleasesFrozen(
            N_("Facility {facility} is in {state_label}: its goods are frozen and released to nobody."),
            facility=facility.code,
            state=facility.risk_state.value,
            state_label=facility.risk_state.label,
        )


def _line_of(position: Position, receipt_id: int) -> CollateralLine | None:
    return next((line for line in position.collateral.lines if line.receipt_id == receipt_id), None)


def _lot_value(line: CollateralLine | None, quantity_g: int, haircut_bp: int) -> LotValue:
    """The receipt as valuation saw it; goods that count nothing (no price, quality hold, pledge
    ended) are an ineligible lot, so releasing them changes nothing."""
    if line is None or line.price is None or line.value_fen == 0:
        price = line.price.price_fen_per_t if line is not None and line.price is not None else 0
        return LotValue(quantity_g, price, haircut_bp, eligible=False)
    return LotValue(quantity_g, line.price.price_fen_per_t, haircut_bp)


# --- capacity --------------------------------------------------------------------------------------


def release_capacity(
    session: Session, facility: Facility, business_date: date, repayment_fen: int = 0
) -> ReleaseCapacity:
    """How much may be released now, per pledged receipt and in value, and how much more a
    repayment of ``repayment_fen`` would free (it lowers the exposure by that much, never below
    zero). Nothing may leave a frozen facility, nor, while something is owed, one whose collateral
    rests on a stale price."""
    position = position_of(session, facility, business_date)
    exposure = position.committed_exposure_fen
    after = max(0, exposure - repayment_fen)
    frozen = facility.risk_state in RELEASES_FROZEN
    stale = bool(position.collateral.stale_lines)
    rate = position.pledge_rate_bp

    def blocked(owed: int) -> bool:
        return frozen or (stale and owed > 0)

    pledged = set(
        session.scalars(
            select(Receipt.id).where(
                Receipt.id.in_([line.receipt_id for line in position.collateral.lines if line.receipt_id]),
                Receipt.status == ReceiptStatus.PLEDGED,
            )
        )
    )
    # A receipt has one open instruction at most: while it has one, no other can be asked for.
    instructed = set(
        session.scalars(
            select(Release.receipt_id).where(
                Release.receipt_id.in_(pledged),
                Release.status.in_((ReleaseStatus.REQUESTED, ReleaseStatus.APPROVED)),
            )
        )
    )
    receipts: list[ReceiptCapacity] = []
    for line in position.collateral.lines:
        if line.receipt_id not in pledged or line.receipt_code is None:
            continue
        lot = _lot_value(line, line.quantity_g, line.haircut_bp)
        now_g, after_g = (
            0
            if blocked(owed) or line.receipt_id in instructed
            else max_release_quantity_g(lot, position.cover_fen, owed, rate)
            for owed in (exposure, after)
        )
        receipts.append(
            ReceiptCapacity(
                receipt_id=line.receipt_id,
                receipt_code=line.receipt_code,
                quantity_g=line.quantity_g,
                price_fen_per_t=line.price.price_fen_per_t if line.price else None,
                value_fen=line.value_fen,
                max_release_g=now_g,
                max_release_g_after_repayment=after_g,
            )
        )
    value_now, value_after = (
        0 if blocked(owed) else max_release_value_fen(position.cover_fen, owed, rate)
        for owed in (exposure, after)
    )
    return ReleaseCapacity(
        facility_id=facility.id,
        business_date=business_date,
        risk_state=facility.risk_state,
        frozen=frozen,
        stale=stale,
        pledge_rate_bp=rate,
        exposure_fen=exposure,
        value_fen=position.value_fen,
        max_release_value_fen=value_now,
        repayment_fen=repayment_fen,
        exposure_after_repayment_fen=after,
        max_release_value_after_repayment_fen=value_after,
        price_observation_ids=position.collateral.observation_ids,
        receipts=tuple(receipts),
    )
