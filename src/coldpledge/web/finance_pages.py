"""Financing pages: facilities with where each stands today, their drawdowns with the steps the
viewer may take (the bank approves, rejects and pays out; the borrower asks and withdraws), and
release instructions awaiting the bank. Each step calls the service the API calls."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from coldpledge.calendar import business_date
from coldpledge.errors import N_, InvalidInput
from coldpledge.financing import (
    collateral_links,
    facilities,
    lifecycle,
    loans,
    margin,
    margincalls,
    mtm_queries,
)
from coldpledge.financing import queries as finance
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.interest import RateKind
from coldpledge.financing.models import ContractKind, Drawdown, DrawdownStatus, Facility
from coldpledge.financing.mtm_models import MarginCall, MarginCallStatus
from coldpledge.financing.mtm_schemas import WaiveIn
from coldpledge.financing.position import Position
from coldpledge.financing.schemas import (
    CollateralAttachIn,
    ContractIn,
    DrawdownRequestIn,
    FacilityApplyIn,
    FacilityTermsIn,
    MarginDepositIn,
    RepaymentIn,
)
from coldpledge.parties.access import require
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.parties.service import list_organisations, organisation_names
from coldpledge.receipts import queries as receipt_queries
from coldpledge.receipts import releases
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import Receipt, ReleaseStatus
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from coldpledge.uow import UnitOfWork
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep, Uow
from coldpledge.web.forms import fen_from_yuan, form_model, optional
from coldpledge.web.pages import _qr_svg
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)


def drawdown_actions(principal: Principal, drawdown: Drawdown) -> list[str]:
    """The steps this viewer may take on this drawdown now (the service checks again)."""
    possible = {
        DrawdownStatus.REQUESTED: ("approve", "reject", "withdraw"),
        DrawdownStatus.APPROVED: ("disburse", "withdraw"),
    }.get(drawdown.status, ())
    steps = [step for step in possible if principal.can(f"drawdown:{step}")]
    # Money received: whoever the API lets record it, in every state the lifecycle allows it.
    if "repay" in lifecycle.drawdown_actions(drawdown.status) and principal.can("drawdown:repay"):
        steps.append("repay")
    return steps


@router.get("/facilities")
def facility_list(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    today = business_date(rt.now())
    found = finance.list_facilities(session, user.principal, finance.FacilityFilter(limit=500))
    names = organisation_names(session, {org for f in found for org in (f.bank_org_id, f.borrower_org_id)})
    rows = [(facility, _position_or_none(session, user.principal, facility, today)) for facility in found]
    is_bank = user.principal.party_type is PartyType.BANK
    return render(
        request,
        "finance/facilities.html",
        user=user,
        rows=rows,
        names=names,
        today=today,
        is_bank=is_bank,
        may_apply=user.principal.can("facility:apply"),
    )


def _position_or_none(
    session: ReadSession, principal: Principal, facility: Facility, on: date
) -> Position | None:
    # A facility not yet approved has no position worth showing (no limit, no collateral).
    if facility.status.value in {"applied", "rejected", "withdrawn"}:
        return None
    return finance.position(session, principal, facility.id, on)


# --- a facility's life: applied for, decided, activated, stepped through -------------------------

# The steps ``_facility_step`` registers in the API, by the body each takes (a reason, or an
# optional note); approve takes the terms and has its own form.
REASON_STEPS: dict[str, Callable[[UnitOfWork, Principal, int, ReasonIn], Facility]] = {
    "reject": facilities.reject,
    "withdraw": facilities.withdraw,
    "suspend": facilities.suspend,
}
NOTE_STEPS: dict[str, Callable[[UnitOfWork, Principal, int, NoteIn], Facility]] = {
    "activate": facilities.activate,
    "resume": facilities.resume,
    "expire": facilities.expire,
    "close": facilities.close,
}


def facility_steps(principal: Principal, facility: Facility) -> list[str]:
    """The steps this viewer may take on this facility now (the service checks again)."""
    return [step for step in lifecycle.facility_actions(facility.status) if principal.can(f"facility:{step}")]


# Before ``/facilities/{facility_id}``, which would take "apply" for an id.
@router.get("/facilities/apply")
def apply_form(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    require(user.principal, "facility:apply")
    banks = [org for org in list_organisations(session, user.principal) if org.party_type is PartyType.BANK]
    return render(request, "finance/apply.html", user=user, banks=banks, today=business_date(rt.now()))


@router.post("/facilities/apply")
def apply_for_facility(
    user: PageUserDep,
    uow: Uow,
    bank_org_id: Annotated[str, Form(max_length=20)] = "",
    limit_yuan: Annotated[str, Form(max_length=32)] = "",
    start_date: Annotated[str, Form(max_length=10)] = "",
    expiry_date: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    data = form_model(
        FacilityApplyIn,
        bank_org_id=_whole(bank_org_id),
        limit_fen=fen_from_yuan(limit_yuan, "limit_yuan"),
        start_date=start_date,
        expiry_date=expiry_date,
        note=optional(note),
    )
    facility = facilities.apply(uow, user.principal, data)
    return Response(status_code=200, headers={"HX-Redirect": f"/facilities/{facility.id}"})


def _whole(text: str) -> int | str | None:
    """A whole number typed or chosen; anything else goes to the model as typed, to be refused
    there in the API's words."""
    cleaned = text.strip()
    if not cleaned:
        return None
    return int(cleaned) if cleaned.isdigit() and len(cleaned) < 19 else cleaned


def bp_from_percent(text: str, field: str) -> int | None:
    """People type percentages (``65``, ``4.35``); rates and ratios are kept in basis points."""
    cleaned = text.replace("%", "").strip()
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput(N_("Enter a percentage, such as 65 or 4.35."), field=field) from None
    scaled = amount.scaleb(2)
    if not amount.is_finite() or scaled != scaled.to_integral_value():
        raise InvalidInput(N_("Enter a percentage, such as 65 or 4.35."), field=field)
    return int(scaled)


def multiplier_bp(text: str, field: str) -> int | None:
    """A multiplier typed as ``1.5``, kept in basis points (15000)."""
    percent = bp_from_percent(text, field)
    return None if percent is None else percent * 100


@router.post("/facilities/{facility_id}/approve")
def approve_facility(
    facility_id: int,
    user: PageUserDep,
    uow: Uow,
    limit_yuan: Annotated[str, Form(max_length=32)] = "",
    pledge_rate_pct: Annotated[str, Form(max_length=10)] = "",
    warning_line_pct: Annotated[str, Form(max_length=10)] = "",
    margin_call_line_pct: Annotated[str, Form(max_length=10)] = "",
    liquidation_line_pct: Annotated[str, Form(max_length=10)] = "",
    cure_business_days: Annotated[str, Form(max_length=10)] = "",
    rate_kind: Annotated[str, Form(max_length=20)] = "",
    rate_pct: Annotated[str, Form(max_length=10)] = "",
    lpr_pct: Annotated[str, Form(max_length=10)] = "",
    spread_pct: Annotated[str, Form(max_length=10)] = "",
    day_count: Annotated[str, Form(max_length=20)] = "",
    penalty_multiplier: Annotated[str, Form(max_length=10)] = "",
    haircut_pct: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    typed = {
        "limit_fen": fen_from_yuan(limit_yuan, "limit_yuan") if limit_yuan.strip() else None,
        "pledge_rate_bp": bp_from_percent(pledge_rate_pct, "pledge_rate_pct"),
        "warning_line_bp": bp_from_percent(warning_line_pct, "warning_line_pct"),
        "margin_call_line_bp": bp_from_percent(margin_call_line_pct, "margin_call_line_pct"),
        "liquidation_line_bp": bp_from_percent(liquidation_line_pct, "liquidation_line_pct"),
        "cure_business_days": _whole(cure_business_days),
        "rate_kind": optional(rate_kind),
        "rate_bp": bp_from_percent(rate_pct, "rate_pct"),
        "lpr_bp": bp_from_percent(lpr_pct, "lpr_pct"),
        "spread_bp": bp_from_percent(spread_pct, "spread_pct"),
        "day_count": optional(day_count),
        "penalty_multiplier_bp": multiplier_bp(penalty_multiplier, "penalty_multiplier"),
        "haircut_bp": bp_from_percent(haircut_pct, "haircut_pct"),
        "note": optional(note),
    }
    # A field left empty is left out, as a JSON body would: the API's defaults apply.
    data = form_model(FacilityTermsIn, **{key: value for key, value in typed.items() if value is not None})
    facilities.approve(uow, user.principal, facility_id, data)
    return Response(status_code=200, headers={"HX-Refresh": "true"})


@router.post("/facilities/{facility_id}/steps/{step}")
def facility_step(
    facility_id: int,
    step: str,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    if step in REASON_STEPS:
        REASON_STEPS[step](uow, user.principal, facility_id, form_model(ReasonIn, reason=text))
    elif step in NOTE_STEPS:
        NOTE_STEPS[step](uow, user.principal, facility_id, form_model(NoteIn, note=optional(text)))
    else:
        return render_fragment(request, "_error.html", status_code=404, message=step)
    return Response(status_code=200, headers={"HX-Refresh": "true"})


@router.post("/facilities/{facility_id}/contracts")
def add_contract(
    facility_id: int,
    user: PageUserDep,
    uow: Uow,
    kind: Annotated[str, Form(max_length=40)] = "",
    number: Annotated[str, Form(max_length=200)] = "",
    signed_on: Annotated[str, Form(max_length=10)] = "",
    parties: Annotated[str, Form(max_length=2000)] = "",
    file_sha256: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    data = form_model(
        ContractIn,
        kind=kind,
        number=number.strip(),
        signed_on=signed_on,
        parties=parties.strip(),
        file_sha256=file_sha256.strip().lower(),
    )
    facilities.add_contract(uow, user.principal, facility_id, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/facilities/{facility_id}/collateral")
def attach_collateral(
    facility_id: int, user: PageUserDep, uow: Uow, receipt_id: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    data = form_model(CollateralAttachIn, receipt_id=_whole(receipt_id))
    collateral_links.attach(uow, user.principal, facility_id, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/facilities/{facility_id}/collateral/{link_id}/detach")
def detach_collateral(facility_id: int, link_id: int, user: PageUserDep, uow: Uow) -> Response:
    collateral_links.detach(uow, user.principal, facility_id, link_id)
    return Response(status_code=200, headers={"HX-Refresh": "true"})


@router.post("/facilities/{facility_id}/margin-deposits")
def deposit_margin(
    facility_id: int,
    user: PageUserDep,
    uow: Uow,
    amount_yuan: Annotated[str, Form(max_length=32)] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(
        MarginDepositIn,
        amount_fen=fen_from_yuan(amount_yuan, "amount_yuan"),
        reference=optional(reference),
        note=optional(note),
    )
    margin.deposit(uow, user.principal, facility_id, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/facilities/{facility_id}/margin-deposits/{deposit_id}/withdraw")
def withdraw_margin(
    facility_id: int,
    deposit_id: int,
    user: PageUserDep,
    uow: Uow,
    text: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    margin.withdraw(uow, user.principal, facility_id, deposit_id, form_model(ReasonIn, reason=text))
    return Response(status_code=200, headers={"HX-Refresh": "true"})


def pledged_to_the_bank(session: ReadSession, principal: Principal, facility: Facility) -> list[Receipt]:
    """Receipts the facility's borrower pledged to its bank and the bank may attach."""
    if not principal.can("facility:attach_collateral"):
        return []
    found = receipt_queries.list_receipts(
        session, principal, receipt_queries.ReceiptFilter(status=ReceiptStatus.PLEDGED, limit=500)
    )
    chosen = []
    for receipt in found:
        pledge = receipt_queries.current_pledge(session, receipt.id)
        if (
            pledge is not None
            and pledge.pledgee_org_id == facility.bank_org_id
            and pledge.pledgor_org_id == facility.borrower_org_id
        ):
            chosen.append(receipt)
    return chosen


@router.get("/facilities/{facility_id}")
def facility_page(
    facility_id: int, request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep
) -> Response:
    facility = finance.get_facility(session, user.principal, facility_id)
    today = business_date(rt.now())
    drawdowns = finance.facility_drawdowns(session, user.principal, facility.id)
    position = _position_or_none(session, user.principal, facility, today)
    # Collateral, contracts and margin change only while the facility lives (the services check).
    live = facility.status in lifecycle.LIVE_FACILITY
    link_codes = (
        {line.link_id: line.receipt_code for line in position.collateral.lines}
        if isinstance(position, Position)
        else {}
    )
    return render(
        request,
        "finance/facility.html",
        user=user,
        facility=facility,
        names=organisation_names(session, (facility.bank_org_id, facility.borrower_org_id)),
        position=position,
        link_codes=link_codes,
        drawdowns=drawdowns,
        drawdown_codes={drawdown.id: drawdown.code for drawdown in drawdowns},
        repayments=finance.facility_repayments(session, user.principal, facility.id),
        marks=mtm_queries.valuations(
            session, user.principal, facility.id, mtm_queries.ValuationFilter(limit=10)
        ),
        actions=lambda drawdown: drawdown_actions(user.principal, drawdown),
        may_request=user.principal.can("facility:request_drawdown"),
        today=today,
        steps=facility_steps(user.principal, facility),
        contracts=finance.contracts(session, user.principal, facility.id),
        contract_kinds=list(ContractKind),
        may_add_contract=live and user.principal.can("facility:add_contract"),
        links=[
            link
            for link in finance.collateral_links(session, user.principal, facility.id)
            if not link.detached_at
        ],
        may_detach=user.principal.can("facility:detach_collateral"),
        attachable=pledged_to_the_bank(session, user.principal, facility) if live else [],
        deposits=finance.margin_deposits(session, user.principal, facility.id),
        may_deposit=live and user.principal.can("facility:deposit_margin"),
        may_withdraw_margin=user.principal.can("facility:withdraw_margin"),
        rate_kinds=list(RateKind),
        day_counts=list(DayCount),
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


# Before ``drawdown_step``, whose ``{step}`` would take "repayments" for a step's name.
@router.post("/drawdowns/{drawdown_id}/repayments")
def repay(
    drawdown_id: int,
    user: PageUserDep,
    uow: Uow,
    # Not "amount_yuan": the drawdown request form on the same page has that field.
    repayment_yuan: Annotated[str, Form(max_length=32)] = "",
    reference: Annotated[str, Form(max_length=200)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    data = form_model(
        RepaymentIn,
        amount_fen=fen_from_yuan(repayment_yuan, "repayment_yuan"),
        reference=optional(reference),
        note=optional(note),
    )
    loans.repay(uow, user.principal, drawdown_id, data)
    # The drawdown's row, the position and the facility's repayments all change: reload the page.
    return Response(status_code=201, headers={"HX-Refresh": "true"})


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


# --- margin calls ---------------------------------------------------------------------------------


def may_waive(principal: Principal, call: MarginCall) -> bool:
    """An open call, a risk officer of the bank, not the one who asked for the waiver already."""
    return (
        call.status is MarginCallStatus.OPEN
        and principal.can("facility:waive_margin_call")
        and call.waive_requested_by_user_id != principal.user_id
    )


@router.get("/margin-calls")
def margin_call_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    calls = margincalls.list_calls(session, user.principal, margincalls.CallFilter(limit=500))
    codes = {
        facility_id: finance.get_facility(session, user.principal, facility_id).code
        for facility_id in {call.facility_id for call in calls}
    }
    return render(
        request,
        "finance/margin_calls.html",
        user=user,
        calls=calls,
        codes=codes,
        may_waive=lambda call: may_waive(user.principal, call),
    )


@router.post("/margin-calls/{call_id}/waive")
def waive_margin_call(
    call_id: int,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    reason: Annotated[str, Form(max_length=1000)] = "",
    until: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    call = margincalls.waive(
        uow, user.principal, call_id, form_model(WaiveIn, reason=reason, until=optional(until))
    )
    return render_fragment(
        request,
        "finance/_margin_call_row.html",
        call=call,
        code=finance.get_facility(session, user.principal, call.facility_id).code,
        may_waive=may_waive(user.principal, call),
        user=user,
    )
