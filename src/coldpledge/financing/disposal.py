"""Disposal (处置) of a facility's collateral after liquidation, and write-offs (DESIGN §7, domain
§2.5 step 5-6, §6.2).

``start_disposal`` is what liquidation does to the goods and the loans, in the caller's unit of
work: the facility's pledged receipts move to in_disposal (the receipts lifecycle; receipts frozen
by a court or reported lost stay where they are and are listed), open partial releases are
cancelled (releases are frozen), a disposal work order goes to the supervisor of each lot, the
loans are accelerated (宣布提前到期: maturity today, so penalty interest runs from today) and move to
in_recovery, and drawdowns requested or approved but not paid out are rejected.

The goods leave under the bank's disposal release, executed at the dock with weighing
(``receipts.releases``). ``record_disposal`` then records the sale of what left — channel, buyer,
price, proceeds, costs, the keeper's storage lien — and applies the proceeds in the waterfall
order: costs of the sale, storage lien, penalty, interest, principal (each across the facility's
loans, oldest first), and whatever is left to the pledgor. A loan paid in full is recovered. When
no goods are left to sell the facility's risk state is disposed; what is still owed then is a
residual claim, which the bank either collects (a repayment by the borrower or the guarantor) or
writes off (``write_offs``), the claim surviving in the record. The facility closes when nothing is
owed any more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.alerts.lifecycle import Severity, WorkOrderType
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.workorders import open_work_order
from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, InvalidInput, NotFound
from coldpledge.financing.accrual import accrue_drawdown
from coldpledge.financing.collateral_sql import value_collateral
from coldpledge.financing.disposal_models import Disposal, DisposalAllocation
from coldpledge.financing.disposal_schemas import DisposalIn
from coldpledge.financing.facilities import lock, must_be, today
from coldpledge.financing.lifecycle import BANK
from coldpledge.financing.models import (
    CLOSED_DRAWDOWN,
    OUTSTANDING,
    Drawdown,
    DrawdownStatus,
    Facility,
    FacilityCollateral,
    FacilityStatus,
)
from coldpledge.financing.prices.service import price_for
from coldpledge.financing.risk import RiskState
from coldpledge.financing.waterfall import allocate_in_order, disposal_waterfall
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot
from coldpledge.parties.access import obtain, restrict
from coldpledge.parties.policy import SYSTEM, Principal
from coldpledge.receipts import service as receipts
from coldpledge.receipts.lifecycle import ReceiptAction, ReceiptStatus, is_allowed
from coldpledge.receipts.models import (
    NotationKind,
    PledgeStatus,
    Receipt,
    Release,
    ReleaseKind,
    ReleaseStatus,
)
from coldpledge.uow import CONSTRAINT_MESSAGES, UnitOfWork

D = DrawdownStatus
# Goods still to be sold: a receipt in these states under a live pledge of the facility.
UNSOLD = (ReceiptStatus.PLEDGED, ReceiptStatus.IN_DISPOSAL, ReceiptStatus.FROZEN, ReceiptStatus.LOSS_REPORTED)
IN_LIQUIDATION = (RiskState.LIQUIDATION, RiskState.DISPOSED)
# Drawdowns that liquidation accelerates, and those it stops before any money goes out.
ACCELERATED = (D.ACTIVE, D.OVERDUE, D.DEFAULTED)
NOT_PAID_OUT = (D.REQUESTED, D.APPROVED)

CONSTRAINT_MESSAGES["uq_disposals_release_id"] = N_(
    "The sale of the goods under this release is recorded already."
)
# SQLite reports a failed unique constraint by its columns, not its name.
CONSTRAINT_MESSAGES["disposals.release_id"] = CONSTRAINT_MESSAGES["uq_disposals_release_id"]


@dataclass
class DisposalStart:
    """What ``start_disposal`` did, by code."""

    facility_id: int
    receipts: list[str] = field(default_factory=list)  # moved to in_disposal now
    already: list[str] = field(default_factory=list)  # in disposal before
    held: list[str] = field(default_factory=list)  # frozen or reported lost: they wait
    drawdowns: list[str] = field(default_factory=list)  # accelerated, in recovery
    rejected: list[str] = field(default_factory=list)  # requested or approved, never paid out
    work_orders: list[int] = field(default_factory=list)


def start_disposal(
    uow: UnitOfWork, facility: Facility, *, principal: Principal = SYSTEM, reason: str | None = None
) -> DisposalStart:
    """Take a liquidated facility's goods to disposal and its loans to recovery. Runs in the
    caller's unit of work (which decided the liquidation and records it) and does not commit;
    idempotent: a second call finds everything done and changes nothing."""
    why = reason or f"facility {facility.code} in liquidation"
    uow.session.flush()
    uow.session.scalars(select(Facility).where(Facility.id == facility.id).with_for_update()).one()
    done = DisposalStart(facility.id)
    day = today(uow)
    for line in value_collateral(uow.session, facility, day).lines:
        if line.receipt_id is None:
            continue
        _to_disposal(uow, principal, facility, line.receipt_id, why, done)
    drawdowns = uow.session.scalars(
        select(Drawdown)
        .where(Drawdown.facility_id == facility.id, Drawdown.status.in_((*ACCELERATED, *NOT_PAID_OUT)))
        .order_by(Drawdown.id)
        .with_for_update()
    ).all()
    for drawdown in drawdowns:
        if drawdown.status in NOT_PAID_OUT:
            before = snapshot(drawdown)
            drawdown.status = D.REJECTED
            drawdown.decided_at = uow.now()
            drawdown.decision_note = why
            _moved(uow, principal, drawdown, before, "drawdown.reject", why, facility)
            done.rejected.append(drawdown.code)
            continue
        accrue_drawdown(uow, principal, drawdown, day - timedelta(days=1))
        before = snapshot(drawdown)
        drawdown.maturity_date = min(drawdown.maturity_date, day)
        drawdown.status = D.IN_RECOVERY
        _moved(uow, principal, drawdown, before, "drawdown.in_recovery", why, facility)
        done.drawdowns.append(drawdown.code)
    return done


def _to_disposal(
    uow: UnitOfWork, principal: Principal, facility: Facility, receipt_id: int, why: str, done: DisposalStart
) -> None:
    peek = uow.session.get_one(Receipt, receipt_id)
    inventory.lock_lot(uow.session, peek.lot_id)
    receipt = uow.session.get_one(Receipt, receipt_id, with_for_update=True, populate_existing=True)
    pledge = receipts.live_pledge(uow.session, receipt.id)
    if (
        pledge is None
        or pledge.status is not PledgeStatus.ACTIVE
        or pledge.pledgee_org_id != facility.bank_org_id
    ):
        return
    # Releases are frozen: an instruction asked for or approved before the liquidation is void.
    receipts._close_open_releases(
        uow, principal, receipt, N_("Releases are frozen: the facility is in liquidation.")
    )
    if receipt.status is ReceiptStatus.IN_DISPOSAL:
        done.already.append(receipt.code)
        return
    if not is_allowed(receipt.status, ReceiptAction.START_DISPOSAL):
        done.held.append(receipt.code)
        return
    step = receipts.Step(receipt, snapshot(receipt), ReceiptAction.START_DISPOSAL)
    receipts.finish(
        uow,
        principal,
        step,
        to=ReceiptStatus.IN_DISPOSAL,
        reason=why,
        related=[facility.subject_ref],
        notation=(NotationKind.DISPOSAL, f"处置 · 授信 {facility.code} 平仓", None),
    )
    lot = uow.session.get_one(Lot, receipt.lot_id)
    order = open_work_order(
        uow,
        principal,
        kind=WorkOrderType.DISPOSAL,
        severity=Severity.MAJOR,
        title=f"DISPOSAL of receipt {receipt.code} (facility {facility.code})",
        description=why,
        place=AlertScope(room_id=lot.room_id),
        subject=receipt.subject_ref,
    )
    done.receipts.append(receipt.code)
    done.work_orders.append(order.id)


def _moved(
    uow: UnitOfWork,
    principal: Principal,
    drawdown: Drawdown,
    before: dict[str, object],
    action: str,
    why: str,
    facility: Facility,
) -> None:
    drawdown.status_changed_at = uow.now()
    uow.record(principal, action, drawdown, before=before, reason=why, related=[facility.subject_ref])


# --- a sale and its proceeds ---------------------------------------------------------------------


def record_disposal(uow: UnitOfWork, principal: Principal, facility_id: int, data: DisposalIn) -> Disposal:
    """The bank records a sale of goods that left under a disposal release and applies the
    proceeds: costs, storage lien, penalty, interest, principal, surplus to the pledgor."""
    with uow:
        facility = lock(uow, principal, facility_id, "record_disposal")
        must_be(principal, facility, BANK)
        if facility.risk_state not in IN_LIQUIDATION:
            raise Conflict(
                N_("The facility is {state_label}; only a facility in liquidation disposes of its goods."),
                state_label=facility.risk_state.label,
            )
        day = today(uow)
        collateral = value_collateral(uow.session, facility, day)
        release = uow.session.get(Release, data.release_id, with_for_update=True)
        if (
            release is None
            or release.kind is not ReleaseKind.DISPOSAL
            or release.receipt_id not in {line.receipt_id for line in collateral.lines}
        ):
            raise InvalidInput(
                N_("That is not a disposal release of this facility's goods."), field="release_id"
            )
        if release.status is not ReleaseStatus.EXECUTED or not release.executed_net_g:
            raise Conflict(
                N_("Release instruction {ident} is {status_label}; record the sale once the goods are out."),
                ident=release.id,
                status_label=release.status.label,
            )
        drawdowns = _owing(uow, principal, facility, day)
        split = disposal_waterfall(
            data.proceeds_fen,
            data.fees_fen,
            data.storage_lien_fen,
            sum(d.penalty_due_fen for d in drawdowns),
            sum(d.interest_due_fen for d in drawdowns),
            sum(d.principal_outstanding_fen for d in drawdowns),
        )
        receipt = uow.session.get_one(Receipt, release.receipt_id)
        reference = price_for(uow.session, uow.session.get_one(Lot, receipt.lot_id).commodity_id, day)
        disposal = Disposal(
            facility_id=facility.id,
            receipt_id=receipt.id,
            release_id=release.id,
            channel=data.channel,
            buyer_name=data.buyer_name,
            buyer_org_id=data.buyer_org_id,
            quantity_g=release.executed_net_g,
            price_fen_per_t=data.price_fen_per_t,
            proceeds_fen=data.proceeds_fen,
            fees_fen=data.fees_fen,
            fees_paid_fen=split.fees_fen,
            storage_lien_fen=data.storage_lien_fen,
            storage_lien_paid_fen=split.storage_lien_fen,
            penalty_fen=split.penalty_fen,
            interest_fen=split.interest_fen,
            principal_fen=split.principal_fen,
            surplus_fen=split.surplus_fen,
            pledgor_org_id=facility.borrower_org_id,
            residual_claim_fen=split.residual_claim_fen,
            reference_price_fen_per_t=reference.price_fen_per_t if reference else None,
            reference_observation_id=reference.observation_id if reference else None,
            business_date=day,
            reference=data.reference,
            note=data.note,
            recorded_at=uow.now(),
            recorded_by_user_id=principal.user_id,
        )
        uow.session.add(disposal)
        uow.session.flush()
        uow.record(
            principal,
            "facility.record_disposal",
            disposal,
            before=None,
            reason=data.note,
            related=[facility.subject_ref, receipt.subject_ref, release.subject_ref],
        )
        _apply(uow, principal, disposal, drawdowns)
        settle(uow, principal, facility)
        uow.commit()
        return disposal


def _owing(uow: UnitOfWork, principal: Principal, facility: Facility, day: date) -> list[Drawdown]:
    """The facility's loans still owed, oldest first, locked and accrued up to yesterday."""
    drawdowns = list(
        uow.session.scalars(
            select(Drawdown)
            .where(Drawdown.facility_id == facility.id, Drawdown.status.in_(OUTSTANDING))
            .order_by(Drawdown.disbursed_on, Drawdown.id)
            .with_for_update()
        )
    )
    for drawdown in drawdowns:
        accrue_drawdown(uow, principal, drawdown, day - timedelta(days=1))
    return drawdowns


def _apply(uow: UnitOfWork, principal: Principal, disposal: Disposal, drawdowns: list[Drawdown]) -> None:
    """Spread the disposal's penalty, interest and principal over the loans, oldest first."""
    penalty, _ = allocate_in_order(disposal.penalty_fen, [d.penalty_due_fen for d in drawdowns])
    interest, _ = allocate_in_order(disposal.interest_fen, [d.interest_due_fen for d in drawdowns])
    principal_paid, _ = allocate_in_order(
        disposal.principal_fen, [d.principal_outstanding_fen for d in drawdowns]
    )
    for drawdown, pen, intr, prin in zip(drawdowns, penalty, interest, principal_paid, strict=True):
        if pen + intr + prin == 0:
            continue
        before = snapshot(drawdown)
        disposal.allocations.append(
            DisposalAllocation(
                drawdown_id=drawdown.id, penalty_fen=pen, interest_fen=intr, principal_fen=prin
            )
        )
        drawdown.penalty_paid_fen += pen
        drawdown.interest_paid_fen += intr
        drawdown.principal_outstanding_fen -= prin
        drawdown.principal_repaid_fen += prin
        if drawdown.principal_outstanding_fen == drawdown.interest_due_fen == drawdown.penalty_due_fen == 0:
            drawdown.status = D.RECOVERED
            drawdown.closed_at = uow.now()
            drawdown.status_changed_at = uow.now()
        uow.record(
            principal,
            "drawdown.recovery_applied",
            drawdown,
            before=before,
            related=[disposal.subject_ref],
            data={"penalty_fen": pen, "interest_fen": intr, "principal_fen": prin},
        )


def settle(uow: UnitOfWork, principal: Principal, facility: Facility) -> None:
    """No goods left to sell: disposed. Nothing owed any more: the facility closes."""
    # risk_effects starts disposals itself: imported here, not at the top, to keep one direction.
    from coldpledge.financing.risk_effects import resolve_alert_of

    before = snapshot(facility)
    was_liquidating = facility.risk_state is RiskState.LIQUIDATION
    if facility.risk_state is RiskState.LIQUIDATION and not unsold_receipts(uow, facility):
        facility.risk_state = RiskState.DISPOSED
    owed = uow.session.scalars(
        select(Drawdown.id).where(
            Drawdown.facility_id == facility.id, Drawdown.status.not_in(CLOSED_DRAWDOWN)
        )
    ).first()
    links: list[FacilityCollateral] = []
    if owed is None and facility.status is not FacilityStatus.CLOSED:
        facility.status = FacilityStatus.CLOSED
        facility.status_changed_at = uow.now()
        facility.risk_state = RiskState.DISPOSED
        links = list(
            uow.session.scalars(
                select(FacilityCollateral).where(
                    FacilityCollateral.facility_id == facility.id, FacilityCollateral.detached_at.is_(None)
                )
            )
        )
        for link in links:
            link.detached_at = uow.now()
            link.detached_by_user_id = principal.user_id
    if was_liquidating and facility.risk_state is RiskState.DISPOSED:
        # The liquidation alert's condition ended with the last sale, not with a valuation.
        resolve_alert_of(uow, facility, RiskState.LIQUIDATION, "the pledged goods are disposed of")
    if snapshot(facility) != before:
        action = "facility.close" if facility.status is FacilityStatus.CLOSED else "facility.disposed"
        uow.record(
            principal,
            action,
            facility,
            before=before,
            reason="disposal complete" if facility.status is not FacilityStatus.CLOSED else "nothing owed",
            related=[link.subject_ref for link in links],
        )


def unsold_receipts(uow: UnitOfWork, facility: Facility) -> list[str]:
    """Receipts of the facility whose goods have not all been sold yet."""
    lines = value_collateral(uow.session, facility, today(uow)).lines
    ids = [line.receipt_id for line in lines if line.receipt_id is not None]
    if not ids:
        return []
    return list(
        uow.session.scalars(
            select(Receipt.code).where(Receipt.id.in_(ids), Receipt.status.in_(UNSOLD)).order_by(Receipt.id)
        )
    )


# --- reads ---------------------------------------------------------------------------------------


def disposals_of(session: Session, principal: Principal, facility_id: int) -> list[Disposal]:
    facility = obtain(session, principal, Facility, facility_id)
    return list(
        session.scalars(select(Disposal).where(Disposal.facility_id == facility.id).order_by(Disposal.id))
    )


def get_disposal(session: Session, principal: Principal, disposal_id: int) -> Disposal:
    """A disposal, seen by whoever sees its facility."""
    disposal = session.get(Disposal, disposal_id)
    if (
        disposal is None
        or not session.scalars(
            restrict(principal, "view", Facility).where(Facility.id == disposal.facility_id)
        ).first()
    ):
        raise NotFound(N_("The {thing} {ident} was not found."), thing=Disposal.__label__, ident=disposal_id)
    return disposal
