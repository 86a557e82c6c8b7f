"""Financing pages: facilities with where each stands today, their drawdowns with the steps the
viewer may take (the bank approves, rejects and pays out; the borrower asks and withdraws), and
release instructions awaiting the bank. Each step calls the service the API calls."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from coldpledge.calendar import business_date
from coldpledge.financing import loans, mtm_queries
from coldpledge.financing import queries as finance
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility
from coldpledge.financing.schemas import DrawdownRequestIn
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.parties.service import organisation_names
from coldpledge.receipts import queries as receipt_queries
from coldpledge.receipts import releases
from coldpledge.receipts.models import ReleaseStatus
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep, Uow
from coldpledge.web.forms import fen_from_yuan, form_model
from coldpledge.web.pages import _qr_svg
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)


def drawdown_actions(principal: Principal, drawdown: Drawdown) -> list[str]:
    """The steps this viewer may take on this drawdown now (the service checks again)."""
    possible = {
        DrawdownStatus.REQUESTED: ("approve", "reject", "withdraw"),
        DrawdownStatus.APPROVED: ("disburse", "withdraw"),
    }.get(drawdown.status, ())
    return [step for step in possible if principal.can(f"drawdown:{step}")]


@router.get("/facilities")
def facility_list(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    today = business_date(rt.now())
    found = finance.list_facilities(session, user.principal, finance.FacilityFilter(limit=500))
    names = organisation_names(session, {org for f in found for org in (f.bank_org_id, f.borrower_org_id)})
    rows = [(facility, _position_or_none(session, user.principal, facility, today)) for facility in found]
    is_bank = user.principal.party_type is PartyType.BANK
    return render(
        request, "finance/facilities.html", user=user, rows=rows, names=names, today=today, is_bank=is_bank
    )


def _position_or_none(session: ReadSession, principal: Principal, facility: Facility, on: date) -> object:
    # A facility not yet approved has no position worth showing (no limit, no collateral).
    if facility.status.value in {"applied", "rejected", "withdrawn"}:
        return None
    return finance.position(session, principal, facility.id, on)


@router.get("/facilities/{facility_id}")
def facility_page(
    facility_id: int, request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    facility = finance.get_facility(session, user.principal, facility_id)
    today = business_date(rt.now())
    return render(
        request,
        "finance/facility.html",
        user=user,
        facility=facility,
        names=organisation_names(session, (facility.bank_org_id, facility.borrower_org_id)),
        position=_position_or_none(session, user.principal, facility, today),
        drawdowns=finance.facility_drawdowns(session, user.principal, facility.id),
        marks=mtm_queries.valuations(
            session, user.principal, facility.id, mtm_queries.ValuationFilter(limit=10)
        ),
        actions=lambda drawdown: drawdown_actions(user.principal, drawdown),
        may_request=user.principal.can("facility:request_drawdown"),
        today=today,
    )


@router.post("/facilities/{facility_id}/drawdowns")
def request_drawdown(
    facility_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    amount_yuan: Annotated[str, Form(max_length=32)],
    maturity_date: Annotated[str, Form(max_length=10)],
    purpose: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    data = form_model(
        DrawdownRequestIn,
        amount_fen=fen_from_yuan(amount_yuan, "amount_yuan"),
        maturity_date=maturity_date,
        purpose=purpose or None,
    )
    drawdown = loans.request(uow, user.principal, facility_id, data)
    return _row(request, user.principal, drawdown, status_code=201)


@router.post("/drawdowns/{drawdown_id}/{step}")
def drawdown_step(
    drawdown_id: int,
    step: str,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    text: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if step in {"approve", "disburse"}:
        done = {"approve": loans.approve, "disburse": loans.disburse}[step](
            uow, user.principal, drawdown_id, form_model(NoteIn, note=text or None)
        )
    elif step in {"reject", "withdraw"}:
        done = {"reject": loans.reject, "withdraw": loans.withdraw}[step](
            uow, user.principal, drawdown_id, form_model(ReasonIn, reason=text)
        )
    else:
        return render_fragment(request, "_error.html", status_code=404, message=step)
    return _row(request, user.principal, done)


def _row(request: Request, principal: Principal, drawdown: Drawdown, status_code: int = 200) -> Response:
    return render_fragment(
        request,
        "finance/_drawdown_row.html",
        status_code=status_code,
        drawdown=drawdown,
        actions=drawdown_actions(principal, drawdown),
    )


@router.get("/releases")
def release_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    found = receipt_queries.list_releases(session, user.principal, None)
    waiting = [r for r in found if r.status is ReleaseStatus.REQUESTED]
    others = [r for r in reversed(found) if r.status is not ReleaseStatus.REQUESTED][:50]
    codes = {
        receipt_id: receipt_queries.get_receipt(session, user.principal, receipt_id).code
        for receipt_id in {r.receipt_id for r in found}
    }
    return render(
        request,
        "finance/releases.html",
        user=user,
        waiting=waiting,
        others=others,
        codes=codes,
        may_decide=user.principal.can("release:approve"),
    )


@router.post("/releases/{release_id}/approve")
def approve_release(
    release_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    rt: RuntimeDep,
    text: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    release, code = releases.approve(uow, user.principal, release_id, form_model(NoteIn, note=text or None))
    # The one-time code exists in this answer only (the service keeps its digest): the bank hands
    # it, or its QR code, to the borrower's collector, who shows it at the dock.
    return render_fragment(
        request,
        "finance/_release_approved.html",
        release=release,
        code=code,
        qr_svg=_qr_svg(f"coldpledge:release:{release.id}:{code}"),
    )


@router.post("/releases/{release_id}/reject")
def reject_release(
    release_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    text: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    release = releases.reject(uow, user.principal, release_id, form_model(ReasonIn, reason=text))
    return render_fragment(request, "finance/_release_decided.html", release=release)
