"""Use cases of a credit facility's lifecycle (DESIGN §7) and its contracts.

The borrower applies naming a bank and a limit; the bank approves setting the terms (pledge rate,
warning and liquidation lines, rate, day count, penalty, haircut), records the signed contracts,
and activates the facility once the credit agreement and the pledge contract are on file. Every
step locks the facility row, checks the state machine and the party, and is evidenced.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from coldpledge.audit.snapshot import snapshot
from coldpledge.calendar import business_date
from coldpledge.codes import random_part
from coldpledge.errors import N_, Conflict, InvalidInput, PermissionDenied
from coldpledge.financing.lifecycle import (
    BANK,
    BORROWER,
    FACILITY_MOVES,
    LIVE_FACILITY,
    FacilityAction,
    illegal_facility,
)
from coldpledge.financing.models import (
    CLOSED_DRAWDOWN,
    ContractKind,
    Drawdown,
    Facility,
    FacilityCollateral,
    FacilityContract,
    FacilityStatus,
)
from coldpledge.financing.schemas import ContractIn, FacilityApplyIn, FacilityTermsIn
from coldpledge.parties.access import obtain, require
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.parties.service import active_organisation
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from coldpledge.uow import UnitOfWork

A = FacilityAction
S = FacilityStatus
# Contracts a facility needs on file before money can be drawn (domain §6.2: CONTRACTED).
REQUIRED_CONTRACTS = (ContractKind.CREDIT_AGREEMENT, ContractKind.PLEDGE_CONTRACT)


def today(uow: UnitOfWork) -> date:
    return business_date(uow.now())


def lock(uow: UnitOfWork, principal: Principal, facility_id: int, action: str) -> Facility:
    """The facility, row-locked until commit (SQLite: the writer's BEGIN IMMEDIATE serialises)."""
    return obtain(uow.session, principal, Facility, facility_id, action, for_update=True)


def must_be(principal: Principal, facility: Facility, party: str | tuple[str, ...]) -> None:
    """Refuse (403) a step that belongs to the facility's bank (or borrower) to anyone else."""
    parties = (party,) if isinstance(party, str) else party
    orgs = {BANK: facility.bank_org_id, BORROWER: facility.borrower_org_id}
    if principal.org_id is None or principal.org_id not in {orgs[p] for p in parties}:
        message = (
            N_("Only the facility's bank may do this.")
            if parties == (BANK,)
            else N_("Only the facility's borrower may do this.")
            if BANK not in parties
            else N_("Only the facility's bank or borrower may do this.")
        )
        raise PermissionDenied(message)


def apply(uow: UnitOfWork, principal: Principal, data: FacilityApplyIn) -> Facility:
    """The borrower applies to a bank for a credit line."""
    with uow:
        require(principal, "facility:apply")
        active_organisation(uow.session, data.bank_org_id, PartyType.BANK, "bank_org_id")
        if data.guarantor_org_id is not None:
            active_organisation(uow.session, data.guarantor_org_id, PartyType.GUARANTOR, "guarantor_org_id")
        if data.expiry_date <= today(uow):
            raise InvalidInput(N_("The facility would have expired already."), field="expiry_date")
        assert principal.org_id is not None
        facility = Facility(
            code=f"CF-{random_part(10)}",
            bank_org_id=data.bank_org_id,
            borrower_org_id=principal.org_id,
            guarantor_org_id=data.guarantor_org_id,
            limit_fen=data.limit_fen,
            start_date=data.start_date,
            expiry_date=data.expiry_date,
            status=S.APPLIED,
            note=data.note,
            applied_at=uow.now(),
            applied_by_user_id=principal.user_id,
            status_changed_at=uow.now(),
            created_at=uow.now(),
        )
        uow.session.add(facility)
        uow.session.flush()
        uow.record(principal, "facility.apply", facility, before=None, reason=data.note)
        uow.commit()
        return facility


def approve(uow: UnitOfWork, principal: Principal, facility_id: int, data: FacilityTermsIn) -> Facility:
    """The bank approves, setting the terms."""
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.APPROVE)
        facility.limit_fen = data.limit_fen or facility.limit_fen
        facility.pledge_rate_bp = data.pledge_rate_bp
        facility.warning_line_bp = data.warning_line_bp
        facility.liquidation_line_bp = data.liquidation_line_bp
        facility.margin_call_line_bp = data.call_line_bp
        facility.cure_business_days = data.cure_business_days
        facility.rate_kind = data.rate_kind
        facility.rate_bp = data.effective_rate_bp
        facility.lpr_bp = data.lpr_bp
        facility.spread_bp = data.spread_bp
        facility.day_count = data.day_count
        facility.penalty_multiplier_bp = data.penalty_multiplier_bp
        facility.haircut_bp = data.haircut_bp
        facility.decided_at = uow.now()
        facility.decided_by_user_id = principal.user_id
        facility.decision_note = data.note
        return _finish(uow, principal, facility, before, A.APPROVE, data.note)


def reject(uow: UnitOfWork, principal: Principal, facility_id: int, data: ReasonIn) -> Facility:
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.REJECT)
        _no_drawdowns_open(uow, facility)
        facility.decided_at = uow.now()
        facility.decided_by_user_id = principal.user_id
        facility.decision_note = data.reason
        return _finish(uow, principal, facility, before, A.REJECT, data.reason)


def withdraw(uow: UnitOfWork, principal: Principal, facility_id: int, data: ReasonIn) -> Facility:
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.WITHDRAW)
        _no_drawdowns_open(uow, facility)
        return _finish(uow, principal, facility, before, A.WITHDRAW, data.reason)


def activate(uow: UnitOfWork, principal: Principal, facility_id: int, data: NoteIn) -> Facility:
    """The bank opens the line for drawdowns, once the contracts it rests on are on file."""
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.ACTIVATE)
        present = set(
            uow.session.scalars(
                select(FacilityContract.kind).where(FacilityContract.facility_id == facility.id)
            )
        )
        missing = [kind for kind in REQUIRED_CONTRACTS if kind not in present]
        if missing:
            raise Conflict(
                N_("The {kind} is not on file yet; record it before activating the facility."),
                kind=missing[0].label,
            )
        if facility.expiry_date <= today(uow):
            raise Conflict(N_("The facility expired on {day}."), day=facility.expiry_date.isoformat())
        return _finish(uow, principal, facility, before, A.ACTIVATE, data.note)


def suspend(uow: UnitOfWork, principal: Principal, facility_id: int, data: ReasonIn) -> Facility:
    """The bank stops new drawdowns (a covenant breach, a collateral event); loans run on."""
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.SUSPEND)
        return _finish(uow, principal, facility, before, A.SUSPEND, data.reason)


def resume(uow: UnitOfWork, principal: Principal, facility_id: int, data: NoteIn) -> Facility:
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.RESUME)
        if facility.expiry_date <= today(uow):
            raise Conflict(N_("The facility expired on {day}."), day=facility.expiry_date.isoformat())
        return _finish(uow, principal, facility, before, A.RESUME, data.note)


def expire(uow: UnitOfWork, principal: Principal, facility_id: int, data: NoteIn) -> Facility:
    """No new drawdowns from now on; the loans drawn run off to their maturity."""
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.EXPIRE)
        return _finish(uow, principal, facility, before, A.EXPIRE, data.note)


def close(uow: UnitOfWork, principal: Principal, facility_id: int, data: NoteIn) -> Facility:
    """Every loan is closed: the facility closes and its collateral is let go of (the bank
    discharges the pledges themselves on the receipts)."""
    with uow:
        facility, before = _begin(uow, principal, facility_id, A.CLOSE)
        _no_drawdowns_open(uow, facility)
        links = uow.session.scalars(
            select(FacilityCollateral).where(
                FacilityCollateral.facility_id == facility.id, FacilityCollateral.detached_at.is_(None)
            )
        ).all()
        for link in links:
            link_before = snapshot(link)
            link.detached_at = uow.now()
            link.detached_by_user_id = principal.user_id
            uow.record(
                principal,
                "facility.detach_collateral",
                link,
                before=link_before,
                related=[facility.subject_ref],
            )
        return _finish(
            uow,
            principal,
            facility,
            before,
            A.CLOSE,
            data.note,
            related=[link.subject_ref for link in links],
        )


def add_contract(
    uow: UnitOfWork, principal: Principal, facility_id: int, data: ContractIn
) -> FacilityContract:
    """The bank records a signed contract: its number, date, parties and the file's SHA-256."""
    with uow:
        facility = lock(uow, principal, facility_id, "add_contract")
        must_be(principal, facility, BANK)
        if facility.status not in LIVE_FACILITY:
            raise Conflict(
                N_("The facility is {status_label}; its contracts can no longer change."),
                status_label=facility.status.label,
            )
        contract = FacilityContract(
            facility_id=facility.id,
            kind=data.kind,
            number=data.number,
            signed_on=data.signed_on,
            parties=data.parties,
            file_sha256=data.file_sha256,
            added_at=uow.now(),
            added_by_user_id=principal.user_id,
        )
        uow.session.add(contract)
        uow.session.flush()
        uow.record(principal, "facility.add_contract", contract, before=None, related=[facility.subject_ref])
        uow.commit()
        return contract


def _begin(
    uow: UnitOfWork, principal: Principal, facility_id: int, action: FacilityAction
) -> tuple[Facility, dict[str, object]]:
    facility = lock(uow, principal, facility_id, action.value)
    move = FACILITY_MOVES[action]
    must_be(principal, facility, move.party)
    if facility.status not in move.sources:
        raise illegal_facility(facility.status, action)
    return facility, snapshot(facility)


def _finish(
    uow: UnitOfWork,
    principal: Principal,
    facility: Facility,
    before: dict[str, object],
    action: FacilityAction,
    reason: str | None,
    *,
    related: list[str] | None = None,
) -> Facility:
    to = FACILITY_MOVES[action].to
    assert to is not None
    facility.status = S(to)
    facility.status_changed_at = uow.now()
    uow.record(
        principal, f"facility.{action.value}", facility, before=before, reason=reason, related=related or []
    )
    uow.commit()
    return facility


def _no_drawdowns_open(uow: UnitOfWork, facility: Facility) -> None:
    open_one = uow.session.scalars(
        select(Drawdown.code).where(
            Drawdown.facility_id == facility.id, Drawdown.status.not_in(CLOSED_DRAWDOWN)
        )
    ).first()
    if open_one is not None:
        raise Conflict(N_("Drawdown {code} is still open; it must be closed first."), code=open_one)
