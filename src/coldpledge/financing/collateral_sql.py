"""What a facility's collateral is worth on a business date, line by line, from the database.

Collateral value V = Σ over the receipts pledged to the facility of receipt quantity × the price
valuation uses (``prices.service.prices_for``) × (1 − haircut). A line counts nothing, with its
reason, when its pledge has ended, its receipt is no longer pledged, its lot is on quality hold or
failed inspection, or there is no approved price for its commodity. A receipt split after it was
attached is followed to the pledges of its parts. The arithmetic is ``collateral``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.errors import N_
from coldpledge.financing.collateral import LotValue
from coldpledge.financing.models import Facility, FacilityCollateral
from coldpledge.financing.prices.service import PriceUsed, prices_for
from coldpledge.inventory.models import Lot, LotStatus, QualityStatus
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Pledge, PledgeStatus, Receipt

# A receipt frozen (by the bank itself or a court) or moved to disposal is still the bank's security.
COUNTED_RECEIPTS = (ReceiptStatus.PLEDGED, ReceiptStatus.FROZEN, ReceiptStatus.IN_DISPOSAL)


@dataclass(frozen=True)
class CollateralLine:
    """One pledged receipt as valued. ``reason`` (an untranslated message with ``params``) says why
    it counts nothing, or that its price is stale."""

    link_id: int
    pledge_id: int
    receipt_id: int | None = None
    receipt_code: str | None = None
    lot_id: int | None = None
    commodity_id: int | None = None
    quantity_g: int = 0
    price: PriceUsed | None = None
    haircut_bp: int = 0
    value_fen: int = 0
    reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CollateralValuation:
    facility_id: int
    business_date: date
    lines: tuple[CollateralLine, ...]

    @property
    def value_fen(self) -> int:
        return sum(line.value_fen for line in self.lines)

    @property
    def stale_lines(self) -> tuple[CollateralLine, ...]:
        return tuple(line for line in self.lines if line.value_fen > 0 and line.price and line.price.stale)

    @property
    def observation_ids(self) -> list[int]:
        """Every price observation this valuation rests on, for the evidence."""
        return sorted({oid for line in self.lines if line.price for oid in line.price.observation_ids})


def live_links(session: Session, facility_id: int) -> list[FacilityCollateral]:
    return list(
        session.scalars(
            select(FacilityCollateral)
            .where(FacilityCollateral.facility_id == facility_id, FacilityCollateral.detached_at.is_(None))
            .order_by(FacilityCollateral.id)
        )
    )


def value_collateral(
    session: Session, facility: Facility, business_date: date, *, without_link: int | None = None
) -> CollateralValuation:
    """The facility's collateral, valued on ``business_date``; ``without_link`` leaves one
    attachment out (what the value would be if it were detached)."""
    links = [link for link in live_links(session, facility.id) if link.id != without_link]
    pledges = _current_pledges(session, [link.pledge_id for link in links])
    receipts = _by_id(session, Receipt, [p.receipt_id for ps in pledges.values() for p in ps])
    lots = _by_id(session, Lot, [r.lot_id for r in receipts.values()])
    prices = prices_for(session, {lot.commodity_id for lot in lots.values()}, business_date)
    lines: list[CollateralLine] = []
    for link in links:
        for pledge in pledges[link.pledge_id]:
            lines.append(_line(facility, business_date, link, pledge, receipts, lots, prices))
    return CollateralValuation(facility.id, business_date, tuple(lines))


def _line(
    facility: Facility,
    business_date: date,
    link: FacilityCollateral,
    pledge: Pledge,
    receipts: dict[int, Receipt],
    lots: dict[int, Lot],
    prices: dict[int, PriceUsed],
) -> CollateralLine:
    receipt = receipts[pledge.receipt_id]
    lot = lots[receipt.lot_id]
    base: dict[str, Any] = {
        "link_id": link.id,
        "pledge_id": pledge.id,
        "receipt_id": receipt.id,
        "receipt_code": receipt.code,
        "lot_id": lot.id,
        "commodity_id": lot.commodity_id,
        "quantity_g": receipt.quantity_g,
        "haircut_bp": facility.haircut_bp,
    }
    if pledge.status is not PledgeStatus.ACTIVE or pledge.pledgee_org_id != facility.bank_org_id:
        return CollateralLine(
            **base, reason=N_("The pledge is {status_label}."), params={"status_label": pledge.status.label}
        )
    if receipt.status not in COUNTED_RECEIPTS:
        return CollateralLine(
            **base, reason=N_("The receipt is {status_label}."), params={"status_label": receipt.status.label}
        )
    price = prices.get(lot.commodity_id)
    if lot.status is LotStatus.ON_HOLD or lot.quality_status is not QualityStatus.PASSED:
        # Goods on quality hold, or not (or no longer) passed, count nothing (DESIGN §7).
        return CollateralLine(**base, price=price, reason=N_("The lot is on quality hold."))
    if price is None:
        return CollateralLine(
            **base,
            reason=N_("There is no approved price for this commodity on or before {day}."),
            params={"day": business_date.isoformat()},
        )
    value = LotValue(receipt.quantity_g, price.price_fen_per_t, facility.haircut_bp).value_fen
    if price.stale:
        return CollateralLine(
            **base,
            price=price,
            value_fen=value,
            reason=N_("The price is {days} business days old (stale)."),
            params={"days": price.business_days_old},
        )
    return CollateralLine(**base, price=price, value_fen=value)


def _current_pledges(session: Session, pledge_ids: Iterable[int]) -> dict[int, list[Pledge]]:
    """For each attached pledge: itself, or, when its receipt was split, the pledges of the parts
    (followed down however many splits there were)."""
    found: dict[int, list[Pledge]] = {}
    for pledge_id in pledge_ids:
        pledge = session.get_one(Pledge, pledge_id)
        current, frontier = [], [pledge]
        while frontier:
            step = frontier.pop()
            successors = (
                list(session.scalars(select(Pledge).where(Pledge.predecessor_pledge_id == step.id)))
                if step.status is PledgeStatus.SUPERSEDED
                else []
            )
            if successors:
                frontier.extend(successors)
            else:
                current.append(step)
        found[pledge_id] = sorted(current, key=lambda p: p.id)
    return found


def _by_id(session: Session, model: Any, ids: Iterable[int]) -> dict[int, Any]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(wanted)))}
