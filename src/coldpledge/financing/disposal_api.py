"""HTTP routes of release capacity, disposal of a liquidated facility's goods, and write-offs."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, status

from coldpledge.calendar import business_date
from coldpledge.financing import disposal, queries, releasing, write_offs
from coldpledge.financing.disposal_schemas import (
    DisposalIn,
    DisposalOut,
    ReleaseCapacityOut,
    WriteOffIn,
    WriteOffOut,
)
from coldpledge.financing.schemas import MAX_FEN
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["financing"])
ACTION = errors(401, 403, 404, 409, 422)


@router.get(
    "/facilities/{facility_id}/release-capacity",
    response_model=ReleaseCapacityOut,
    responses=errors(401, 404, 422),
)
def release_capacity(
    facility_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    repayment_fen: Annotated[
        int, Query(ge=0, le=MAX_FEN, description="Show also what a repayment of this much would free")
    ] = 0,
    on: Annotated[date | None, Query(description="Business date; today by default")] = None,
) -> ReleaseCapacityOut:
    """How many grams of each pledged receipt may be released now, within the pledge rate at the
    day's price, and how many after a repayment of ``repayment_fen``."""
    facility = queries.get_facility(session, principal, facility_id)
    day = on or business_date(rt.now())
    return ReleaseCapacityOut.model_validate(
        releasing.release_capacity(session, facility, day, repayment_fen)
    )


@router.get(
    "/facilities/{facility_id}/disposals", response_model=list[DisposalOut], responses=errors(401, 404)
)
def list_disposals(facility_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[DisposalOut]:
    return [DisposalOut.model_validate(d) for d in disposal.disposals_of(session, principal, facility_id)]


@router.post(
    "/facilities/{facility_id}/disposals",
    response_model=DisposalOut,
    status_code=status.HTTP_201_CREATED,
    responses=ACTION,
)
def record_disposal(facility_id: int, data: DisposalIn, uow: Uow, principal: CurrentPrincipal) -> DisposalOut:
    """Record the sale of goods that left under a disposal release (the bank); the proceeds pay
    costs, storage lien, penalty, interest and principal, and any surplus goes to the pledgor."""
    return DisposalOut.model_validate(disposal.record_disposal(uow, principal, facility_id, data))


@router.get("/disposals/{disposal_id}", response_model=DisposalOut, responses=errors(401, 404))
def get_disposal(disposal_id: int, session: ReadSession, principal: CurrentPrincipal) -> DisposalOut:
    return DisposalOut.model_validate(disposal.get_disposal(session, principal, disposal_id))


@router.post("/drawdowns/{drawdown_id}/write-off", response_model=WriteOffOut, responses=ACTION)
def write_off(drawdown_id: int, data: WriteOffIn, uow: Uow, principal: CurrentPrincipal) -> WriteOffOut:
    """Write off what a loan in recovery still owes after its goods are sold (the bank's risk
    officer); the claim on the borrower or the guarantor is recorded and survives."""
    return WriteOffOut.model_validate(write_offs.write_off(uow, principal, drawdown_id, data))
