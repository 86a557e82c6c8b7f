"""Write-offs (核销): the bank takes what a loan in recovery still owes off its books once the
facility's goods are sold. The claim on the borrower (or the guarantor) survives and is recorded
with the write-off; the facility closes when nothing is owed any more (``disposal.settle``)."""

from __future__ import annotations

from datetime import timedelta

from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, IllegalTransition, InvalidInput
from coldpledge.financing.accrual import accrue_drawdown
from coldpledge.financing.disposal import settle, unsold_receipts
from coldpledge.financing.disposal_models import WriteOff
from coldpledge.financing.disposal_schemas import WriteOffIn
from coldpledge.financing.facilities import lock, must_be, today
from coldpledge.financing.lifecycle import BANK
from coldpledge.financing.models import Drawdown, DrawdownStatus
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.uow import CONSTRAINT_MESSAGES, UnitOfWork

D = DrawdownStatus

CONSTRAINT_MESSAGES["uq_write_offs_drawdown_id"] = N_("This drawdown is written off already.")
# SQLite reports a failed unique constraint by its columns, not its name.
CONSTRAINT_MESSAGES["write_offs.drawdown_id"] = CONSTRAINT_MESSAGES["uq_write_offs_drawdown_id"]


def write_off(uow: UnitOfWork, principal: Principal, drawdown_id: int, data: WriteOffIn) -> WriteOff:
    """The bank writes off what a loan in recovery still owes once its goods are sold; the claim
    on the borrower (or the guarantor) is recorded and survives."""
    with uow:
        peek = obtain(uow.session, principal, Drawdown, drawdown_id, "write_off")
        facility = lock(uow, principal, peek.facility_id, "view")
        drawdown = obtain(uow.session, principal, Drawdown, drawdown_id, "write_off", for_update=True)
        must_be(principal, facility, BANK)
        if drawdown.status is not D.IN_RECOVERY:
            raise IllegalTransition(
                N_("The drawdown is {state_label}: only a loan in recovery is written off."),
                state=drawdown.status.value,
                state_label=drawdown.status.label,
                allowed_actions=[],
            )
        unsold = unsold_receipts(uow, facility)
        if unsold:
            raise Conflict(
                N_("The goods under receipt {code} are not sold yet; record their disposal first."),
                code=unsold[0],
            )
        against = facility.borrower_org_id
        if data.claim_against == "guarantor":
            if facility.guarantor_org_id is None:
                raise InvalidInput(N_("The facility has no guarantor."), field="claim_against")
            against = facility.guarantor_org_id
        accrue_drawdown(uow, principal, drawdown, today(uow) - timedelta(days=1))
        before = snapshot(drawdown)
        record = WriteOff(
            drawdown_id=drawdown.id,
            facility_id=facility.id,
            principal_fen=drawdown.principal_outstanding_fen,
            interest_fen=drawdown.interest_due_fen,
            penalty_fen=drawdown.penalty_due_fen,
            residual_claim_fen=(
                drawdown.principal_outstanding_fen + drawdown.interest_due_fen + drawdown.penalty_due_fen
            ),
            claim_against_org_id=against,
            reason=data.reason,
            decided_at=uow.now(),
            decided_by_user_id=principal.user_id,
        )
        uow.session.add(record)
        drawdown.principal_written_off_fen += drawdown.principal_outstanding_fen
        drawdown.principal_outstanding_fen = 0
        drawdown.status = D.WRITTEN_OFF
        drawdown.closed_at = uow.now()
        drawdown.status_changed_at = uow.now()
        uow.session.flush()
        uow.record(
            principal,
            "drawdown.write_off",
            drawdown,
            before=before,
            reason=data.reason,
            related=[record.subject_ref, facility.subject_ref],
        )
        uow.record(principal, "facility.write_off", record, before=None, related=[drawdown.subject_ref])
        settle(uow, principal, facility)
        uow.commit()
        return record
