"""Drawdowns (用款/借据) and repayments (还款).

The borrower requests a drawdown; the bank approves it only when the facility is active, the
business date is within [start, expiry), the facility is not under margin call or liquidation,
the committed exposure plus the amount stays within the limit and within the pledge rate of the
collateral value on a current price (DESIGN §7). Approval reserves the amount; disbursement makes
it principal. All of it runs under the facility's row lock (SELECT … FOR UPDATE; on SQLite the
writer's BEGIN IMMEDIATE), taken before the position is read, so concurrent approvals are judged
one after another and can never together exceed the limit or the pledge rate.

A repayment first accrues the drawdown up to yesterday, then pays penalty, interest and principal
in that order; the drawdown is repaid when nothing is owed.
"""

from __future__ import annotations

from datetime import timedelta

from coldpledge.audit.snapshot import snapshot
from coldpledge.codes import random_part
from coldpledge.errors import N_, Conflict, InvalidInput
from coldpledge.financing.accrual import accrue_drawdown
from coldpledge.financing.collateral import ltv_within
from coldpledge.financing.facilities import lock, must_be, today
from coldpledge.financing.interest import penalty_rate_bp
from coldpledge.financing.lifecycle import BORROWER, DRAWDOWN_MOVES, DrawdownAction, illegal_drawdown
from coldpledge.financing.marktomarket import revalue_after
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility, FacilityStatus, Repayment
from coldpledge.financing.mtm_models import MarginCallEventKind
from coldpledge.financing.position import Position, position_of
from coldpledge.financing.risk import RiskState
from coldpledge.financing.schemas import DrawdownRequestIn, RepaymentIn
from coldpledge.financing.waterfall import allocate_repayment
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from coldpledge.uow import UnitOfWork

A = DrawdownAction
S = DrawdownStatus
# Risk states in which no new money goes out (DESIGN §7: a margin call blocks drawdowns).
NO_NEW_MONEY = (RiskState.MARGIN_CALL, RiskState.LIQUIDATION, RiskState.DISPOSED)


def request(uow: UnitOfWork, principal: Principal, facility_id: int, data: DrawdownRequestIn) -> Drawdown:
    """The borrower asks for money under an active facility."""
    with uow:
        facility = lock(uow, principal, facility_id, "request_drawdown")
        must_be(principal, facility, BORROWER)
        _open_for_drawdowns(uow, facility)
        _maturity_fits(uow, facility, data)
        if data.amount_fen > facility.limit_fen:
            raise InvalidInput(
                N_("The amount exceeds the facility's limit of {limit} fen."),
                field="amount_fen",
                limit=facility.limit_fen,
            )
        assert facility.rate_bp is not None
        drawdown = Drawdown(
            facility_id=facility.id,
            code=f"LN-{random_part(10)}",
            status=S.REQUESTED,
            amount_fen=data.amount_fen,
            maturity_date=data.maturity_date,
            purpose=data.purpose,
            rate_bp=facility.rate_bp,
            penalty_rate_bp=penalty_rate_bp(facility.rate_bp, facility.penalty_multiplier_bp),
            day_count=facility.day_count,
            requested_at=uow.now(),
            requested_by_user_id=principal.user_id,
            status_changed_at=uow.now(),
        )
        uow.session.add(drawdown)
        uow.session.flush()
        uow.record(principal, "drawdown.request", drawdown, before=None, related=[facility.subject_ref])
        uow.commit()
        return drawdown


def approve(uow: UnitOfWork, principal: Principal, drawdown_id: int, data: NoteIn) -> Drawdown:
    """The bank approves: the amount is reserved if the facility can carry it now."""
    with uow:
        facility, drawdown, before = _begin(uow, principal, drawdown_id, A.APPROVE)
        _open_for_drawdowns(uow, facility)
        if drawdown.maturity_date <= today(uow) or drawdown.maturity_date > facility.expiry_date:
            raise Conflict(
                N_("The maturity date no longer fits: between tomorrow and the facility's expiry.")
            )
        position = position_of(uow.session, facility, today(uow))
        _within_cover(position, drawdown.amount_fen)
        assert facility.rate_bp is not None
        # The terms in force when the bank says yes are the loan's terms.
        drawdown.rate_bp = facility.rate_bp
        drawdown.penalty_rate_bp = penalty_rate_bp(facility.rate_bp, facility.penalty_multiplier_bp)
        drawdown.day_count = facility.day_count
        drawdown.decided_at = uow.now()
        drawdown.decided_by_user_id = principal.user_id
        drawdown.decision_note = data.note
        return _finish(uow, principal, facility, drawdown, before, A.APPROVE, data.note, position)


def reject(uow: UnitOfWork, principal: Principal, drawdown_id: int, data: ReasonIn) -> Drawdown:
    with uow:
        facility, drawdown, before = _begin(uow, principal, drawdown_id, A.REJECT)
        drawdown.decided_at = uow.now()
        drawdown.decided_by_user_id = principal.user_id
        drawdown.decision_note = data.reason
        return _finish(uow, principal, facility, drawdown, before, A.REJECT, data.reason)


def withdraw(uow: UnitOfWork, principal: Principal, drawdown_id: int, data: ReasonIn) -> Drawdown:
    with uow:
        facility, drawdown, before = _begin(uow, principal, drawdown_id, A.WITHDRAW)
        return _finish(uow, principal, facility, drawdown, before, A.WITHDRAW, data.reason)


def disburse(uow: UnitOfWork, principal: Principal, drawdown_id: int, data: NoteIn) -> Drawdown:
    """The bank pays the money out; interest runs from today. The reservation already counts in
    the position, so the checks are made again on it as it stands now (a price may have fallen
    since the approval)."""
    with uow:
        facility, drawdown, before = _begin(uow, principal, drawdown_id, A.DISBURSE)
        _open_for_drawdowns(uow, facility)
        day = today(uow)
        if drawdown.maturity_date <= day:
            raise Conflict(N_("The maturity date has come already; ask for a new drawdown."))
        position = position_of(uow.session, facility, day)
        _current_prices(position)
        exposure = position.committed_exposure_fen
        if exposure > position.limit_fen or not ltv_within(
            exposure, position.cover_fen, position.pledge_rate_bp
        ):
            raise Conflict(
                N_(
                    "The collateral no longer covers this drawdown: {exposure} fen committed against "
                    "{value} fen of collateral at a pledge rate of {rate} bp. Add collateral or margin first."
                ),
                exposure=exposure,
                value=position.cover_fen,
                rate=position.pledge_rate_bp,
            )
        drawdown.principal_outstanding_fen = drawdown.amount_fen
        drawdown.disbursed_at = uow.now()
        drawdown.disbursed_by_user_id = principal.user_id
        drawdown.disbursed_on = day
        drawdown.accrued_until = day
        return _finish(uow, principal, facility, drawdown, before, A.DISBURSE, data.note, position)


def repay(uow: UnitOfWork, principal: Principal, drawdown_id: int, data: RepaymentIn) -> Repayment:
    """Money received against a drawdown: penalty first, then interest, then principal."""
    with uow:
        facility, drawdown, _ = _begin(uow, principal, drawdown_id, A.REPAY)
        day = today(uow)
        accrue_drawdown(uow, principal, drawdown, day - timedelta(days=1))
        before = snapshot(drawdown)
        split = allocate_repayment(
            data.amount_fen,
            drawdown.penalty_due_fen,
            drawdown.interest_due_fen,
            drawdown.principal_outstanding_fen,
        )
        if split.excess_fen:
            raise InvalidInput(
                N_("Only {owed} fen is owed on this drawdown today."),
                field="amount_fen",
                owed=data.amount_fen - split.excess_fen,
            )
        repayment = Repayment(
            drawdown_id=drawdown.id,
            amount_fen=data.amount_fen,
            penalty_fen=split.penalty_fen,
            interest_fen=split.interest_fen,
            principal_fen=split.principal_fen,
            reference=data.reference,
            received_at=uow.now(),
            received_on=day,
            by_user_id=principal.user_id,
            note=data.note,
        )
        uow.session.add(repayment)
        drawdown.penalty_paid_fen += split.penalty_fen
        drawdown.interest_paid_fen += split.interest_fen
        drawdown.principal_outstanding_fen -= split.principal_fen
        drawdown.principal_repaid_fen += split.principal_fen
        if drawdown.principal_outstanding_fen == drawdown.interest_due_fen == drawdown.penalty_due_fen == 0:
            drawdown.status = S.REPAID
            drawdown.closed_at = uow.now()
            drawdown.status_changed_at = uow.now()
        uow.session.flush()
        uow.record(
            principal,
            "drawdown.repay",
            repayment,
            before=None,
            reason=data.note,
            related=[drawdown.subject_ref, facility.subject_ref],
        )
        uow.record(
            principal, "drawdown.repayment_applied", drawdown, before=before, related=[repayment.subject_ref]
        )
        revalue_after(
            uow, principal, facility, MarginCallEventKind.REPAYMENT, repayment.subject_ref, data.amount_fen
        )
        uow.commit()
        return repayment


def _begin(
    uow: UnitOfWork, principal: Principal, drawdown_id: int, action: DrawdownAction
) -> tuple[Facility, Drawdown, dict[str, object]]:
    """Lock the facility, then the drawdown: every use case takes them in that order."""
    peek = obtain(uow.session, principal, Drawdown, drawdown_id, action.value)
    facility = lock(uow, principal, peek.facility_id, "view")
    drawdown = obtain(uow.session, principal, Drawdown, drawdown_id, action.value, for_update=True)
    move = DRAWDOWN_MOVES[action]
    must_be(principal, facility, move.party)
    if drawdown.status not in move.sources:
        raise illegal_drawdown(drawdown.status, action)
    return facility, drawdown, snapshot(drawdown)


def _finish(
    uow: UnitOfWork,
    principal: Principal,
    facility: Facility,
    drawdown: Drawdown,
    before: dict[str, object],
    action: DrawdownAction,
    reason: str | None,
    position: Position | None = None,
) -> Drawdown:
    to = DRAWDOWN_MOVES[action].to
    assert to is not None
    drawdown.status = S(to)
    drawdown.status_changed_at = uow.now()
    uow.record(
        principal,
        f"drawdown.{action.value}",
        drawdown,
        before=before,
        reason=reason,
        related=[facility.subject_ref],
        data={"position": position.evidence()} if position else None,
    )
    uow.commit()
    return drawdown


def _open_for_drawdowns(uow: UnitOfWork, facility: Facility) -> None:
    if facility.status is not FacilityStatus.ACTIVE:
        raise Conflict(
            N_("The facility is {status_label}; no drawdowns now."), status_label=facility.status.label
        )
    day = today(uow)
    if not facility.start_date <= day < facility.expiry_date:
        raise Conflict(
            N_("Drawdowns are possible from {start} until the day before {expiry}."),
            start=facility.start_date.isoformat(),
            expiry=facility.expiry_date.isoformat(),
        )
    if facility.risk_state in NO_NEW_MONEY:
        raise Conflict(
            N_("The facility is under {state_label}: no drawdowns until it is cured."),
            state_label=facility.risk_state.label,
        )


def _maturity_fits(uow: UnitOfWork, facility: Facility, data: DrawdownRequestIn) -> None:
    if data.maturity_date <= today(uow):
        raise InvalidInput(N_("The maturity date must be after today."), field="maturity_date")
    if data.maturity_date > facility.expiry_date:
        raise InvalidInput(
            N_("The maturity date is after the facility's expiry on {expiry}."),
            field="maturity_date",
            expiry=facility.expiry_date.isoformat(),
        )


def _within_cover(position: Position, amount_fen: int) -> None:
    """Refuse (409) what would take the committed exposure above the limit or the pledge rate."""
    _current_prices(position)
    exposure = position.committed_with(amount_fen)
    if exposure > position.limit_fen or not ltv_within(exposure, position.cover_fen, position.pledge_rate_bp):
        raise Conflict(
            N_(
                "The facility can carry {headroom} fen more now (limit {limit} fen, exposure {exposure} fen, "
                "collateral {value} fen at a pledge rate of {rate} bp); {amount} fen is too much."
            ),
            headroom=position.headroom_fen,
            limit=position.limit_fen,
            exposure=position.committed_exposure_fen,
            value=position.cover_fen,
            rate=position.pledge_rate_bp,
            amount=amount_fen,
        )


def _current_prices(position: Position) -> None:
    stale = position.collateral.stale_lines
    if stale:
        raise Conflict(
            N_("The price of the goods under receipt {code} is stale; a drawdown needs a current price."),
            code=stale[0].receipt_code,
        )
