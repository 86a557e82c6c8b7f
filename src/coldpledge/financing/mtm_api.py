"""HTTP routes of mark-to-market: a facility's valuations (with their lines and the price
observations used), margin calls and their waiver, and a run of the daily mark by the operator."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from coldpledge.financing import margincalls, mtm_queries
from coldpledge.financing.marktomarket import mark_to_market
from coldpledge.financing.mtm_models import MarginCall, MarginCallStatus, Valuation, ValuationKind
from coldpledge.financing.mtm_schemas import (
    MarginCallDetailOut,
    MarginCallEventOut,
    MarginCallOut,
    MarkIn,
    MarkRunOut,
    ObservationUsedOut,
    ValuationDetailOut,
    ValuationLineOut,
    ValuationOut,
    WaiveIn,
)
from coldpledge.parties.access import require
from coldpledge.uow import UnitOfWork
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.errors import translate
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["mark-to-market"])
ACTION = errors(401, 403, 404, 409, 422)


@router.get(
    "/facilities/{facility_id}/valuations", response_model=list[ValuationOut], responses=errors(401, 404, 422)
)
def list_valuations(
    facility_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    date_from: date | None = None,
    date_to: date | None = None,
    kind: ValuationKind | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ValuationOut]:
    """The facility's valuations, newest first: one daily mark per business date, and the
    intraday re-evaluations that cures caused."""
    where = mtm_queries.ValuationFilter(date_from, date_to, kind, limit, offset)
    return [_valuation(v) for v in mtm_queries.valuations(session, principal, facility_id, where)]


@router.get(
    "/facilities/{facility_id}/valuations/{valuation_id}",
    response_model=ValuationDetailOut,
    responses=errors(401, 404),
)
def get_valuation(
    facility_id: int, valuation_id: int, session: ReadSession, principal: CurrentPrincipal
) -> ValuationDetailOut:
    """A valuation line by line, with every price observation it used."""
    detail = mtm_queries.valuation(session, principal, facility_id, valuation_id)
    lines = []
    for line in detail.lines:
        out = ValuationLineOut.model_validate(line)
        out.receipt_code = detail.receipt_codes.get(line.receipt_id)
        out.reason = translate(line.reason, line.params or {}) if line.reason else None
        lines.append(out)
    observations = [
        ObservationUsedOut(
            id=o.id,
            series_id=o.series_id,
            series_code=o.series.code,
            price_date=o.price_date,
            price_mid_fen_per_t=o.price_mid_fen_per_t,
            status=o.status.value,
        )
        for o in detail.observations
    ]
    return ValuationDetailOut(
        **_valuation(detail.valuation).model_dump(), valuation_lines=lines, observations=observations
    )


@router.get("/margin-calls", response_model=list[MarginCallOut], responses=errors(401, 422))
def list_margin_calls(
    session: ReadSession,
    principal: CurrentPrincipal,
    call_status: Annotated[MarginCallStatus | None, Query(alias="status")] = None,
    facility_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[MarginCallOut]:
    """Margin calls on the facilities the caller sees."""
    where = margincalls.CallFilter(call_status, facility_id, limit, offset)
    return [_call(c) for c in margincalls.list_calls(session, principal, where)]


@router.get("/margin-calls/{call_id}", response_model=MarginCallDetailOut, responses=errors(401, 404))
def get_margin_call(call_id: int, session: ReadSession, principal: CurrentPrincipal) -> MarginCallDetailOut:
    """A margin call with its events: notices, deposits, repayments, goods topped up, outcome."""
    call = margincalls.get_call(session, principal, call_id)
    events = [MarginCallEventOut.model_validate(e) for e in margincalls.events_of(session, call.id)]
    return MarginCallDetailOut(**_call(call).model_dump(), events=events)


@router.post("/margin-calls/{call_id}/waive", response_model=MarginCallOut, responses=ACTION)
def waive_margin_call(call_id: int, data: WaiveIn, uow: Uow, principal: CurrentPrincipal) -> MarginCallOut:
    """Waive a margin call: one of the bank's risk officers asks, a second one approves."""
    return _call(margincalls.waive(uow, principal, call_id, data))


@router.post("/financing/mark-to-market", response_model=MarkRunOut, responses=errors(401, 403, 422))
def run_mark_to_market(data: MarkIn, rt: RuntimeDep, principal: CurrentPrincipal) -> MarkRunOut:
    """Mark every facility for a business date now (the operator; the scheduler does it daily).
    Facilities marked for that date already are left as they are."""
    require(principal, "facility:mark_to_market")
    run = mark_to_market(lambda: UnitOfWork(rt.write_session, clock=rt.clock), data.business_date, principal)
    return MarkRunOut.model_validate(run.as_dict())


def _valuation(valuation: Valuation) -> ValuationOut:
    return ValuationOut.model_validate(valuation)


def _call(call: MarginCall) -> MarginCallOut:
    return MarginCallOut.model_validate(call)
