"""Collateral risk pages: the daily mark-to-market (run by the operator, read by every party to a
facility) with each valuation line by line, a margin call with its history, the disposal of a
liquidated facility's goods and the write-off of what the sale did not pay, and a drawdown's
daily interest accruals. Each page calls the service its API route calls, with the same input
model, so it refuses what the API refuses in the API's words."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.calendar import business_date
from coldpledge.financing import disposal, margincalls, mtm_queries, write_offs
from coldpledge.financing import queries as finance
from coldpledge.financing.disposal_models import Disposal, DisposalChannel
from coldpledge.financing.disposal_schemas import DisposalIn, WriteOffIn
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.financing.models import DrawdownStatus, Facility, FacilityStatus
from coldpledge.financing.mtm_schemas import MarkIn
from coldpledge.financing.risk import RiskState
from coldpledge.inventory.models import Commodity
from coldpledge.parties.access import require
from coldpledge.parties.policy import Principal
from coldpledge.parties.service import organisation_names
from coldpledge.receipts import queries as receipt_queries
from coldpledge.receipts.models import Pledge, Receipt, Release, ReleaseKind, ReleaseStatus
from coldpledge.uow import UnitOfWork
from coldpledge.web.deps import PageUserDep, ReadSession, RuntimeDep, Uow
from coldpledge.web.errors import translate
from coldpledge.web.forms import fen_from_yuan, form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)


def receipt_codes(session: Session, receipt_ids: Iterable[int]) -> dict[int, str]:
    """Receipt codes for rows the viewer already may see (a disposal, a release of its goods)."""
    wanted = set(receipt_ids)
    if not wanted:
        return {}
    return dict(session.execute(select(Receipt.id, Receipt.code).where(Receipt.id.in_(wanted))).all())


def micro_fen_as_yuan(ufen: int) -> str:
    """Accrued interest is kept in micro-fen; shown in yuan to the micro-fen."""
    return f"{Decimal(ufen).scaleb(-8):,.8f}"


# --- mark-to-market -------------------------------------------------------------------------------


@router.get("/mark-to-market")
def mark_page(request: Request, user: PageUserDep, session: ReadSession, rt: RuntimeDep) -> Response:
    return render(
        request,
        "risk/mark_to_market.html",
        user=user,
        marks=mtm_queries.facility_marks(session, user.principal),
        today=business_date(rt.now()),
        may_run=user.principal.can("facility:mark_to_market"),
    )


@router.post("/mark-to-market")
def run_mark(
    request: Request,
    user: PageUserDep,
    session: ReadSession,
    rt: RuntimeDep,
    business_date: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    data = form_model(MarkIn, business_date=business_date)
    require(user.principal, "facility:mark_to_market")
    run = mark_to_market(
        lambda: UnitOfWork(rt.write_session, clock=rt.clock), data.business_date, user.principal
    )
    # The run's figures, and the facilities' table again (out of band) with their new marks.
    return render_fragment(
        request,
        "risk/_mark_run.html",
        run=run,
        moved=[(RiskState(state), count) for state, count in sorted(run.moved.items())],
        marks=mtm_queries.facility_marks(session, user.principal),
    )


@router.get("/facilities/{facility_id}/valuations")
def valuation_list(facility_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    facility = finance.get_facility(session, user.principal, facility_id)
    found = mtm_queries.valuations(
        session, user.principal, facility.id, mtm_queries.ValuationFilter(limit=200)
    )
    return render(request, "risk/valuations.html", user=user, facility=facility, valuations=found)


@router.get("/facilities/{facility_id}/valuations/{valuation_id}")
def valuation_page(
    facility_id: int, valuation_id: int, request: Request, user: PageUserDep, session: ReadSession
) -> Response:
    facility = finance.get_facility(session, user.principal, facility_id)
    detail = mtm_queries.valuation(session, user.principal, facility.id, valuation_id)
    reasons = {line.id: translate(line.reason, line.params or {}) for line in detail.lines if line.reason}
    return render(
        request,
        "risk/valuation.html",
        user=user,
        facility=facility,
        valuation=detail.valuation,
        lines=detail.lines,
        codes=detail.receipt_codes,
        reasons=reasons,
        observations=detail.observations,
    )


# --- a margin call and its history ---------------------------------------------------------------


@router.get("/margin-calls/{call_id}")
def margin_call_page(call_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    call = margincalls.get_call(session, user.principal, call_id)
    facility = finance.get_facility(session, user.principal, call.facility_id)
    commodity = session.get(Commodity, call.cure_commodity_id) if call.cure_commodity_id else None
    return render(
        request,
        "risk/margin_call.html",
        user=user,
        call=call,
        facility=facility,
        commodity=commodity,
        events=margincalls.events_of(session, call.id),
    )


# --- disposal of a liquidated facility's goods, and write-offs ------------------------------------


def in_disposal(facility: Facility) -> bool:
    return facility.risk_state in disposal.IN_LIQUIDATION


@router.get("/disposals")
def disposal_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    found = finance.list_facilities(session, user.principal, finance.FacilityFilter(limit=500))
    liquidated = [facility for facility in found if in_disposal(facility)]
    sales = [
        sale
        for facility in liquidated
        for sale in disposal.disposals_of(session, user.principal, facility.id)
    ]
    return render(
        request,
        "risk/disposals.html",
        user=user,
        facilities=liquidated,
        names=organisation_names(session, {f.borrower_org_id for f in liquidated}),
        codes={facility.id: facility.code for facility in liquidated},
        disposals=sorted(sales, key=lambda sale: sale.id, reverse=True),
        receipts=receipt_codes(session, (sale.receipt_id for sale in sales)),
    )


def releases_to_record(
    session: Session, principal: Principal, facility: Facility, recorded: list[Disposal]
) -> list[Release]:
    """The facility's executed disposal releases whose sale is not recorded yet (the service
    checks again that the chosen one is of this facility's goods)."""
    links = finance.collateral_links(session, principal, facility.id)
    pledged = set(
        session.scalars(select(Pledge.receipt_id).where(Pledge.id.in_([link.pledge_id for link in links])))
    )
    done = {sale.release_id for sale in recorded}
    return [
        release
        for receipt_id in sorted(pledged)
        for release in receipt_queries.list_releases(session, principal, receipt_id)
        if release.kind is ReleaseKind.DISPOSAL
        and release.status is ReleaseStatus.EXECUTED
        and release.id not in done
    ]


@router.get("/facilities/{facility_id}/disposals")
def facility_disposals(
    facility_id: int, request: Request, user: PageUserDep, session: ReadSession
) -> Response:
    facility = finance.get_facility(session, user.principal, facility_id)
    recorded = disposal.disposals_of(session, user.principal, facility.id)
    may_record = (
        in_disposal(facility)
        and facility.status is not FacilityStatus.CLOSED
        and user.principal.can("facility:record_disposal")
    )
    releases = releases_to_record(session, user.principal, facility, recorded) if may_record else []
    drawdowns = [
        drawdown
        for drawdown in finance.facility_drawdowns(session, user.principal, facility.id)
        if drawdown.status
        in (DrawdownStatus.IN_RECOVERY, DrawdownStatus.RECOVERED, DrawdownStatus.WRITTEN_OFF)
    ]
    return render(
        request,
        "risk/facility_disposals.html",
        user=user,
        facility=facility,
        names=organisation_names(
            session, {org for org in (facility.borrower_org_id, facility.guarantor_org_id) if org}
        ),
        disposals=recorded,
        receipts=receipt_codes(
            session, [sale.receipt_id for sale in recorded] + [r.receipt_id for r in releases]
        ),
        releases=releases,
        may_record=may_record,
        channels=list(DisposalChannel),
        drawdowns=drawdowns,
        may_write_off=user.principal.can("drawdown:write_off"),
    )


@router.post("/facilities/{facility_id}/disposals")
def record_disposal(
    facility_id: int,
    user: PageUserDep,
    uow: Uow,
    release_id: Annotated[str, Form(max_length=20)] = "",
    channel: Annotated[str, Form(max_length=40)] = "",
    buyer_name: Annotated[str, Form(max_length=200)] = "",
    price_yuan_per_t: Annotated[str, Form(max_length=32)] = "",
    proceeds_yuan: Annotated[str, Form(max_length=32)] = "",
    fees_yuan: Annotated[str, Form(max_length=32)] = "",
    storage_lien_yuan: Annotated[str, Form(max_length=32)] = "",
    reference: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    typed = {
        "release_id": _whole(release_id),
        "channel": optional(channel),
        "buyer_name": buyer_name.strip(),
        "price_fen_per_t": fen_from_yuan(price_yuan_per_t, "price_yuan_per_t"),
        "proceeds_fen": fen_from_yuan(proceeds_yuan, "proceeds_yuan"),
        # Costs left empty are left out, as a JSON body would: the API's default (none) applies.
        "fees_fen": fen_from_yuan(fees_yuan, "fees_yuan") if fees_yuan.strip() else None,
        "storage_lien_fen": (
            fen_from_yuan(storage_lien_yuan, "storage_lien_yuan") if storage_lien_yuan.strip() else None
        ),
        "reference": optional(reference),
        "note": optional(note),
    }
    data = form_model(DisposalIn, **{key: value for key, value in typed.items() if value is not None})
    sale = disposal.record_disposal(uow, user.principal, facility_id, data)
    return Response(status_code=201, headers={"HX-Redirect": f"/disposals/{sale.id}"})


def _whole(text: str) -> int | str | None:
    """A whole number chosen or typed; anything else goes to the model as typed, to be refused
    there in the API's words."""
    cleaned = text.strip()
    if not cleaned:
        return None
    return int(cleaned) if cleaned.isdigit() and len(cleaned) < 19 else cleaned


@router.get("/disposals/{disposal_id}")
def disposal_page(disposal_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    sale = disposal.get_disposal(session, user.principal, disposal_id)
    facility = finance.get_facility(session, user.principal, sale.facility_id)
    drawdowns = finance.facility_drawdowns(session, user.principal, facility.id)
    return render(
        request,
        "risk/disposal.html",
        user=user,
        sale=sale,
        facility=facility,
        receipt_code=receipt_codes(session, [sale.receipt_id]).get(sale.receipt_id, ""),
        names=organisation_names(session, {org for org in (sale.pledgor_org_id, sale.buyer_org_id) if org}),
        drawdown_codes={drawdown.id: drawdown.code for drawdown in drawdowns},
    )


# Not ``/drawdowns/{id}/write-off``: the financing pages take any ``/drawdowns/{id}/{step}``.
@router.post("/drawdowns/{drawdown_id}/write-off/confirm")
def write_off(
    drawdown_id: int,
    user: PageUserDep,
    uow: Uow,
    reason: Annotated[str, Form(max_length=1000)] = "",
    claim_against: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    fields: dict[str, str] = {"reason": reason}
    if claim_against.strip():
        fields["claim_against"] = claim_against.strip()
    write_offs.write_off(uow, user.principal, drawdown_id, form_model(WriteOffIn, **fields))
    return Response(status_code=200, headers={"HX-Refresh": "true"})


# --- a drawdown's interest, day by day -----------------------------------------------------------


@router.get("/drawdowns/{drawdown_id}/accruals")
def accrual_page(drawdown_id: int, request: Request, user: PageUserDep, session: ReadSession) -> Response:
    drawdown = finance.get_drawdown(session, user.principal, drawdown_id)
    facility = finance.get_facility(session, user.principal, drawdown.facility_id)
    accruals = finance.accruals(session, user.principal, drawdown.id)
    posted: dict[str, int] = {}
    for accrual in accruals:
        posted[accrual.kind.value] = posted.get(accrual.kind.value, 0) + accrual.posted_fen
    return render(
        request,
        "risk/accruals.html",
        user=user,
        drawdown=drawdown,
        facility=facility,
        accruals=accruals,
        posted=posted,
        as_yuan=micro_fen_as_yuan,
    )
