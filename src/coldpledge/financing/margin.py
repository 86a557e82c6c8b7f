"""Cash margin (保证金): deposits into the bank's escrow account lower the exposure; a withdrawal
raises it, so it is checked like a drawdown under the facility's lock."""

from __future__ import annotations

from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, NotFound
from coldpledge.financing.collateral import ltv_within
from coldpledge.financing.facilities import lock, must_be, today
from coldpledge.financing.lifecycle import BANK, LIVE_FACILITY
from coldpledge.financing.marktomarket import revalue_after
from coldpledge.financing.models import MarginDeposit
from coldpledge.financing.mtm_models import MarginCallEventKind
from coldpledge.financing.position import position_of
from coldpledge.financing.schemas import MarginDepositIn
from coldpledge.parties.policy import Principal
from coldpledge.receipts.schemas import ReasonIn
from coldpledge.uow import UnitOfWork


def deposit(uow: UnitOfWork, principal: Principal, facility_id: int, data: MarginDepositIn) -> MarginDeposit:
    """The bank records cash received into the facility's margin account."""
    with uow:
        facility = lock(uow, principal, facility_id, "deposit_margin")
        must_be(principal, facility, BANK)
        if facility.status not in LIVE_FACILITY:
            raise Conflict(
                N_("The facility is {status_label}; it takes no margin."), status_label=facility.status.label
            )
        before = snapshot(facility)
        deposit = MarginDeposit(
            facility_id=facility.id,
            amount_fen=data.amount_fen,
            reference=data.reference,
            deposited_at=uow.now(),
            deposited_by_user_id=principal.user_id,
            note=data.note,
        )
        uow.session.add(deposit)
        facility.cash_margin_fen += data.amount_fen
        uow.session.flush()
        uow.record(principal, "facility.deposit_margin", deposit, before=None, related=[facility.subject_ref])
        uow.record(
            principal, "facility.margin_changed", facility, before=before, related=[deposit.subject_ref]
        )
        revalue_after(
            uow, principal, facility, MarginCallEventKind.DEPOSIT, deposit.subject_ref, data.amount_fen
        )
        uow.commit()
        return deposit


def withdraw(
    uow: UnitOfWork, principal: Principal, facility_id: int, deposit_id: int, data: ReasonIn
) -> MarginDeposit:
    """The bank pays a deposit back, if the exposure it leaves stays within the limit and the
    pledge rate."""
    with uow:
        facility = lock(uow, principal, facility_id, "withdraw_margin")
        must_be(principal, facility, BANK)
        deposit = uow.session.get(MarginDeposit, deposit_id, with_for_update=True)
        if deposit is None or deposit.facility_id != facility.id:
            raise NotFound(
                N_("The {thing} {ident} was not found."), thing=MarginDeposit.__label__, ident=deposit_id
            )
        if deposit.withdrawn_at is not None:
            raise Conflict(N_("This deposit was withdrawn already."))
        margin_after = facility.cash_margin_fen - deposit.amount_fen
        after = position_of(uow.session, facility, today(uow), cash_margin_fen=margin_after)
        exposure = after.committed_exposure_fen
        if exposure > facility.limit_fen or not ltv_within(
            exposure, after.cover_fen, facility.pledge_rate_bp
        ):
            raise Conflict(
                N_(
                    "Without this deposit the exposure would be {exposure} fen against {value} fen of "
                    "collateral, above the pledge rate or the limit."
                ),
                exposure=exposure,
                value=after.cover_fen,
            )
        before, facility_before = snapshot(deposit), snapshot(facility)
        deposit.withdrawn_at = uow.now()
        deposit.withdrawn_by_user_id = principal.user_id
        facility.cash_margin_fen = margin_after
        uow.record(
            principal,
            "facility.withdraw_margin",
            deposit,
            before=before,
            reason=data.reason,
            related=[facility.subject_ref],
            data={"position_after": after.evidence()},
        )
        uow.record(
            principal,
            "facility.margin_changed",
            facility,
            before=facility_before,
            related=[deposit.subject_ref],
        )
        uow.commit()
        return deposit
