"""Margin calls (追加保证金通知, domain §6.3): issued by a valuation, cured by a later one, expired
into liquidation, or waived by two of the bank's risk officers.

    open ──LTV back within the pledge rate──> cured
    open ──deadline missed, or the liquidation line reached──> expired (the facility liquidates)
    open ──one risk officer asks, a second approves──> waived

The call states its cure at the trigger's prices, each on its own: cash (a margin deposit or a
repayment) or goods of the facility's main commodity at the day's price after its haircut
(``collateral.margin_call_cure``, rounded up so that exactly that much cures). Every deposit,
repayment or top-up while it is open is an event on it, with the re-evaluation it caused.

A waiver returns the facility to warning (or normal, if its latest LTV is below the warning line)
and, until ``waived_until`` (the deadline unless the officers say otherwise), no new call is
issued unless the liquidation line is reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.calendar import business_date
from coldpledge.codes import random_part
from coldpledge.errors import N_, Conflict, InvalidInput, NotFound
from coldpledge.financing import collateral, risk_effects
from coldpledge.financing.facilities import must_be
from coldpledge.financing.lifecycle import BANK
from coldpledge.financing.models import Facility
from coldpledge.financing.mtm_models import (
    MarginCall,
    MarginCallEvent,
    MarginCallEventKind,
    MarginCallStatus,
    Valuation,
)
from coldpledge.financing.mtm_schemas import WaiveIn
from coldpledge.financing.risk import RiskReason, RiskState
from coldpledge.financing.valuation import main_goods
from coldpledge.parties.access import obtain, require, visible
from coldpledge.parties.policy import Principal
from coldpledge.uow import CONSTRAINT_MESSAGES, UnitOfWork

E = MarginCallEventKind
S = MarginCallStatus

CONSTRAINT_MESSAGES.update(
    {
        "uq_margin_calls_one_open_per_facility": N_("The facility already has an open margin call."),
        "uq_valuations_one_daily_per_facility_date": N_(
            "The facility has been marked for that business date already."
        ),
        "waiver_by_two": N_("A waiver is approved by a second risk officer, not the one who asked for it."),
    }
)
CONSTRAINT_MESSAGES["margin_calls.facility_id"] = CONSTRAINT_MESSAGES["uq_margin_calls_one_open_per_facility"]
CONSTRAINT_MESSAGES["valuations.facility_id, valuations.business_date"] = CONSTRAINT_MESSAGES[
    "uq_valuations_one_daily_per_facility_date"
]


def open_call(
    uow: UnitOfWork, principal: Principal, facility: Facility, valuation: Valuation, deadline: date
) -> MarginCall:
    """Issue the margin call of ``valuation`` (records it; the caller moves the facility)."""
    goods = main_goods(uow.session, valuation.id)
    cure = collateral.margin_call_cure(
        valuation.exposure_fen,
        valuation.collateral_value_fen,
        facility.pledge_rate_bp,
        facility.haircut_bp,
        goods.price_fen_per_t if goods is not None else 0,
    )
    call = MarginCall(
        code=f"MC-{random_part(10)}",
        facility_id=facility.id,
        valuation_id=valuation.id,
        business_date=valuation.business_date,
        status=S.OPEN,
        exposure_fen=valuation.exposure_fen,
        collateral_value_fen=valuation.collateral_value_fen,
        ltv_bp=valuation.ltv_bp,
        pledge_rate_bp=facility.pledge_rate_bp,
        cure_cash_fen=cure.cash_fen,
        cure_collateral_value_fen=cure.collateral_value_fen,
        cure_goods_value_fen=cure.goods_value_fen,
        cure_goods_g=cure.goods_g,
        cure_commodity_id=goods.commodity_id if goods is not None else None,
        cure_price_fen_per_t=goods.price_fen_per_t if goods is not None else None,
        cure_haircut_bp=facility.haircut_bp,
        issued_at=uow.now(),
        deadline=deadline,
        created_at=uow.now(),
    )
    uow.session.add(call)
    uow.session.flush()
    event(uow, call, E.ISSUED, valuation=valuation, ltv_bp=valuation.ltv_bp)
    uow.record(
        principal,
        "margin_call.issue",
        call,
        before=None,
        related=[facility.subject_ref, valuation.subject_ref],
    )
    return call


def close_call(
    uow: UnitOfWork,
    principal: Principal,
    call: MarginCall,
    status: MarginCallStatus,
    outcome: str,
    valuation: Valuation | None,
    *,
    user_id: int | None = None,
) -> None:
    before = snapshot(call)
    call.status = status
    call.outcome = outcome
    call.closed_at = uow.now()
    call.closed_on = valuation.business_date if valuation is not None else business_date(uow.now())
    call.closing_valuation_id = valuation.id if valuation is not None else None
    kind = {S.CURED: E.CURED, S.EXPIRED: E.EXPIRED, S.WAIVED: E.WAIVED}[status]
    event(
        uow,
        call,
        kind,
        valuation=valuation,
        ltv_bp=valuation.ltv_bp if valuation is not None else None,
        user_id=user_id,
        note=outcome,
    )
    uow.record(
        principal,
        f"margin_call.{status.value}",
        call,
        before=before,
        reason=outcome,
        related=[f"valuation:{valuation.id}"] if valuation is not None else [],
    )


def settle_open_call(
    uow: UnitOfWork, principal: Principal, facility: Facility, reason: RiskReason, valuation: Valuation
) -> MarginCall | None:
    """The facility leaves margin call: its open call is cured (back to normal) or expired."""
    call = open_call_of(uow.session, facility.id)
    if call is None:
        return None
    status = S.CURED if reason is RiskReason.CURED else S.EXPIRED
    close_call(uow, principal, call, status, reason.value, valuation)
    return call


def event(
    uow: UnitOfWork,
    call: MarginCall,
    kind: MarginCallEventKind,
    *,
    valuation: Valuation | None = None,
    ref: str | None = None,
    amount_fen: int | None = None,
    ltv_bp: int | None = None,
    user_id: int | None = None,
    note: str | None = None,
) -> MarginCallEvent:
    row = MarginCallEvent(
        margin_call_id=call.id,
        kind=kind,
        at=uow.now(),
        business_date=valuation.business_date if valuation is not None else business_date(uow.now()),
        valuation_id=valuation.id if valuation is not None else None,
        ref=ref,
        amount_fen=amount_fen,
        ltv_bp=ltv_bp,
        user_id=user_id,
        note=note,
    )
    uow.session.add(row)
    return row


def open_call_of(session: Session, facility_id: int) -> MarginCall | None:
    return session.scalars(
        select(MarginCall).where(MarginCall.facility_id == facility_id, MarginCall.status == S.OPEN)
    ).first()


def waived_until(session: Session, facility_id: int) -> date | None:
    """The latest day a waiver holds off new calls, if any."""
    return session.scalar(
        select(MarginCall.waived_until)
        .where(MarginCall.facility_id == facility_id, MarginCall.status == S.WAIVED)
        .order_by(MarginCall.waived_until.desc())
        .limit(1)
    )


# --- the waiver: two risk officers of the facility's bank ------------------------------------------


def waive(uow: UnitOfWork, principal: Principal, call_id: int, data: WaiveIn) -> MarginCall:
    """The first risk officer asks for the waiver; a second one of the same bank approves it."""
    require(principal, "facility:waive_margin_call")
    with uow:
        call = get_call(uow.session, principal, call_id)
        facility = obtain(
            uow.session, principal, Facility, call.facility_id, "waive_margin_call", for_update=True
        )
        must_be(principal, facility, BANK)
        call = uow.session.get_one(MarginCall, call.id, with_for_update=True, populate_existing=True)
        if call.status is not S.OPEN:
            raise Conflict(
                N_("The margin call is {status_label}; only an open one can be waived."),
                status_label=call.status.label,
            )
        today = business_date(uow.now())
        until = data.until or call.deadline
        if until < today:
            raise InvalidInput(N_("A waiver cannot end before today."), field="until")
        if call.waive_requested_by_user_id is None:
            before = snapshot(call)
            call.waive_requested_by_user_id = principal.user_id
            call.waive_requested_at = uow.now()
            call.waive_reason = data.reason
            call.waived_until = until
            event(uow, call, E.WAIVE_REQUESTED, user_id=principal.user_id, note=data.reason)
            uow.record(
                principal,
                "margin_call.waive_request",
                call,
                before=before,
                reason=data.reason,
                related=[facility.subject_ref],
            )
            uow.commit()
            return call
        if call.waive_requested_by_user_id == principal.user_id:
            raise Conflict(N_("A waiver is approved by a second risk officer, not the one who asked for it."))
        call.waived_by_user_id = principal.user_id
        call.waived_at = uow.now()
        close_call(uow, principal, call, S.WAIVED, "waived", None, user_id=principal.user_id)
        latest = latest_valuation(uow.session, facility.id)
        assert latest is not None  # the call was issued by one
        back = (
            RiskState.WARNING
            if latest.ltv_bp is None or latest.ltv_bp >= facility.warning_line_bp
            else RiskState.NORMAL
        )
        risk_effects.move(
            uow,
            principal,
            facility,
            back,
            f"margin call {call.code} waived: {data.reason}",
            latest,
            call=call,
        )
        uow.commit()
        return call


def latest_valuation(session: Session, facility_id: int) -> Valuation | None:
    return session.scalars(
        select(Valuation).where(Valuation.facility_id == facility_id).order_by(Valuation.id.desc()).limit(1)
    ).first()


# --- reads ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallFilter:
    status: MarginCallStatus | None = None
    facility_id: int | None = None
    limit: int = 100
    offset: int = 0


def list_calls(session: Session, principal: Principal, where: CallFilter) -> list[MarginCall]:
    """The margin calls of the facilities the principal sees (its bank, borrower, guarantor)."""
    query = (
        select(MarginCall)
        .join(Facility, Facility.id == MarginCall.facility_id)
        .where(visible(principal, "view", Facility))
    )
    if where.status is not None:
        query = query.where(MarginCall.status == where.status)
    if where.facility_id is not None:
        query = query.where(MarginCall.facility_id == where.facility_id)
    query = query.order_by(MarginCall.id.desc()).limit(where.limit).offset(where.offset)
    return list(session.scalars(query))


def get_call(session: Session, principal: Principal, call_id: int) -> MarginCall:
    found = session.scalars(
        select(MarginCall)
        .join(Facility, Facility.id == MarginCall.facility_id)
        .where(MarginCall.id == call_id, visible(principal, "view", Facility))
    ).first()
    if found is None:
        raise NotFound(N_("The {thing} {ident} was not found."), thing=MarginCall.__label__, ident=call_id)
    return found


def events_of(session: Session, call_id: int) -> list[MarginCallEvent]:
    return list(
        session.scalars(
            select(MarginCallEvent)
            .where(MarginCallEvent.margin_call_id == call_id)
            .order_by(MarginCallEvent.id)
        )
    )
