"""A facility's position on a business date: exposure, collateral value, LTV and headroom.

Exposure E = principal outstanding + posted unpaid interest and penalty − cash margin (DESIGN §7).
Drawdowns approved and not yet disbursed are *reserved*: they count against the limit and the
pledge rate as if drawn (``committed_exposure_fen``), so two approvals can never together promise
more than one would be allowed. In the same way, goods under a release instruction the bank has
approved and the warehouse has not yet carried out are *promised*: the instruction is executed at
the dock with no further check, so they cover nothing more (``cover_fen``), and two instructions,
or an instruction and a drawdown, can never together uncover the loan. Every check that may raise
exposure or lower cover (a drawdown, a release, a margin withdrawal, a collateral detachment)
judges the cover, reading the position while holding the facility's row lock, so two of them
never judge the same position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.financing import collateral
from coldpledge.financing.collateral_sql import CollateralValuation, value_collateral
from coldpledge.financing.models import OUTSTANDING, RESERVED, Drawdown, Facility
from coldpledge.receipts.models import Release, ReleaseKind, ReleaseStatus


@dataclass(frozen=True)
class Position:
    facility_id: int
    business_date: date
    limit_fen: int
    pledge_rate_bp: int
    principal_outstanding_fen: int
    reserved_fen: int
    interest_due_fen: int
    cash_margin_fen: int
    collateral: CollateralValuation
    # The value of the goods approved release instructions will take away (see the docstring).
    promised_value_fen: int = 0

    @property
    def exposure_fen(self) -> int:
        return collateral.exposure_fen(
            self.principal_outstanding_fen, self.interest_due_fen, self.cash_margin_fen
        )

    @property
    def committed_exposure_fen(self) -> int:
        return self.committed_with(0)

    def committed_with(self, amount_fen: int) -> int:
        """The committed exposure if ``amount_fen`` more were drawn."""
        principal = self.principal_outstanding_fen + self.reserved_fen + amount_fen
        return collateral.exposure_fen(principal, self.interest_due_fen, self.cash_margin_fen)

    @property
    def value_fen(self) -> int:
        """The goods pledged, as they are in the warehouse now."""
        return self.collateral.value_fen

    @property
    def cover_fen(self) -> int:
        """The value that covers the loan: the goods less those promised away."""
        return max(0, self.value_fen - self.promised_value_fen)

    @property
    def ltv_bp(self) -> int | None:
        """Committed exposure over cover, rounded up; None when exposure has no value behind it."""
        return collateral.ltv_bp(self.committed_exposure_fen, self.cover_fen)

    @property
    def headroom_fen(self) -> int:
        """The most ``committed_with`` still accepts. Margin beyond what is owed is not collateral,
        but it does absorb that much of a new drawdown, so the net (possibly negative) amount owed
        is what the headroom is measured from."""
        net_owed = (
            self.principal_outstanding_fen + self.reserved_fen + self.interest_due_fen - self.cash_margin_fen
        )
        return collateral.drawdown_headroom_fen(self.limit_fen, net_owed, self.cover_fen, self.pledge_rate_bp)

    def evidence(self) -> dict[str, object]:
        """The figures a decision rested on, for the audit trail."""
        return {
            "business_date": self.business_date.isoformat(),
            "limit_fen": self.limit_fen,
            "pledge_rate_bp": self.pledge_rate_bp,
            "principal_outstanding_fen": self.principal_outstanding_fen,
            "reserved_fen": self.reserved_fen,
            "interest_due_fen": self.interest_due_fen,
            "cash_margin_fen": self.cash_margin_fen,
            "committed_exposure_fen": self.committed_exposure_fen,
            "collateral_value_fen": self.value_fen,
            "promised_value_fen": self.promised_value_fen,
            "cover_fen": self.cover_fen,
            "price_observation_ids": self.collateral.observation_ids,
            "lines": [
                {
                    "receipt": line.receipt_code,
                    "quantity_g": line.quantity_g,
                    "price_fen_per_t": line.price.price_fen_per_t if line.price else None,
                    "value_fen": line.value_fen,
                }
                for line in self.collateral.lines
            ],
        }


def position_of(
    session: Session,
    facility: Facility,
    business_date: date,
    *,
    without_link: int | None = None,
    cash_margin_fen: int | None = None,
) -> Position:
    """The position now; ``without_link`` and ``cash_margin_fen`` ask what it would be after a
    detachment or a margin withdrawal."""
    owed = session.execute(
        select(
            func.coalesce(func.sum(Drawdown.principal_outstanding_fen), 0),
            func.coalesce(
                func.sum(
                    Drawdown.interest_posted_fen
                    - Drawdown.interest_paid_fen
                    + Drawdown.penalty_posted_fen
                    - Drawdown.penalty_paid_fen
                ),
                0,
            ),
        ).where(Drawdown.facility_id == facility.id, Drawdown.status.in_(OUTSTANDING))
    ).one()
    reserved = session.scalar(
        select(func.coalesce(func.sum(Drawdown.amount_fen), 0)).where(
            Drawdown.facility_id == facility.id, Drawdown.status.in_(RESERVED)
        )
    )
    valued = value_collateral(session, facility, business_date, without_link=without_link)
    return Position(
        facility_id=facility.id,
        business_date=business_date,
        limit_fen=facility.limit_fen,
        pledge_rate_bp=facility.pledge_rate_bp,
        principal_outstanding_fen=int(owed[0]),
        reserved_fen=int(reserved or 0),
        interest_due_fen=int(owed[1]),
        cash_margin_fen=facility.cash_margin_fen if cash_margin_fen is None else cash_margin_fen,
        collateral=valued,
        promised_value_fen=promised_value_fen(session, valued),
    )


def promised_value_fen(session: Session, valued: CollateralValuation) -> int:
    """What the goods under approved, not yet executed partial-release instructions are worth in
    ``valued``: per line, its value less the value of what stays (rounded as a line is). An
    instruction past its validity still counts until it is cancelled or expires in the books: the
    cautious side."""
    counted = {line.receipt_id: line for line in valued.lines if line.value_fen > 0 and line.receipt_id}
    if not counted:
        return 0
    leaving = session.execute(
        select(Release.receipt_id, func.sum(Release.quantity_g))
        .where(
            Release.receipt_id.in_(sorted(counted)),
            Release.kind == ReleaseKind.PARTIAL_RELEASE,
            Release.status == ReleaseStatus.APPROVED,
        )
        .group_by(Release.receipt_id)
    )
    promised = 0
    for receipt_id, grams in leaving:
        line = counted[receipt_id]
        assert line.price is not None
        left_g = max(0, line.quantity_g - int(grams))
        stays = collateral.LotValue(left_g, line.price.price_fen_per_t, line.haircut_bp)
        promised += line.value_fen - stays.value_fen
    return promised
