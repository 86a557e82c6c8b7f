"""HTTP routes of facilities, their collateral, contracts and margin, drawdowns and repayments."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel

from coldpledge.calendar import business_date
from coldpledge.financing import collateral_links, facilities, loans, margin, queries
from coldpledge.financing.lifecycle import drawdown_actions, facility_actions
from coldpledge.financing.models import Drawdown, DrawdownStatus, Facility, FacilityStatus
from coldpledge.financing.position import Position
from coldpledge.financing.schemas import (
    AccrualOut,
    CollateralAttachIn,
    CollateralLineOut,
    CollateralLinkOut,
    ContractIn,
    ContractOut,
    DrawdownOut,
    DrawdownRequestIn,
    FacilityApplyIn,
    FacilityOut,
    FacilityTermsIn,
    MarginDepositIn,
    MarginDepositOut,
    PositionOut,
    RepaymentIn,
    RepaymentOut,
)
from coldpledge.receipts.schemas import NoteIn, ReasonIn
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.errors import translate
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["financing"])
ACTION = errors(401, 403, 404, 409, 422)
CREATED = status.HTTP_201_CREATED


# --- facilities -----------------------------------------------------------------------------------


@router.get("/facilities", response_model=list[FacilityOut], responses=errors(401, 422))
def list_facilities(
    session: ReadSession,
    principal: CurrentPrincipal,
    facility_status: Annotated[FacilityStatus | None, Query(alias="status")] = None,
    bank_org_id: int | None = None,
    borrower_org_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[FacilityOut]:
    where = queries.FacilityFilter(facility_status, bank_org_id, borrower_org_id, limit, offset)
    return [_facility(f) for f in queries.list_facilities(session, principal, where)]


@router.post("/facilities", response_model=FacilityOut, status_code=CREATED, responses=ACTION)
def apply_for_facility(data: FacilityApplyIn, uow: Uow, principal: CurrentPrincipal) -> FacilityOut:
    """The borrower applies to a bank for a credit line (授信申请)."""
    return _facility(facilities.apply(uow, principal, data))


@router.get("/facilities/{facility_id}", response_model=FacilityOut, responses=errors(401, 404))
def get_facility(facility_id: int, session: ReadSession, principal: CurrentPrincipal) -> FacilityOut:
    return _facility(queries.get_facility(session, principal, facility_id))


@router.post("/facilities/{facility_id}/approve", response_model=FacilityOut, responses=ACTION)
def approve_facility(
    facility_id: int, data: FacilityTermsIn, uow: Uow, principal: CurrentPrincipal
) -> FacilityOut:
    """The bank approves the application, setting the terms."""
    return _facility(facilities.approve(uow, principal, facility_id, data))


def _step(
    collection: str,
    id_name: str,
    path: str,
    summary: str,
    handler: Callable[..., Any],
    body: type[BaseModel],
    out: type[BaseModel],
    present: Callable[[Any], BaseModel],
) -> None:
    """Register ``POST /<collection>/{<id_name>}/<path>`` for a lifecycle step of a facility or a
    drawdown; a body of optional fields (a note) may be left out."""
    optional = all(not field.is_required() for field in body.model_fields.values())

    def endpoint(**params: Any) -> BaseModel:
        data = params["data"]
        return present(
            handler(params["uow"], params["principal"], params[id_name], data if data is not None else body())
        )

    # FastAPI reads the signature (real objects, not strings) for validation and the OpenAPI schema.
    keyword = inspect.Parameter.KEYWORD_ONLY
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(id_name, keyword, annotation=int),
            inspect.Parameter("uow", keyword, annotation=Uow),
            inspect.Parameter("principal", keyword, annotation=CurrentPrincipal),
            inspect.Parameter(
                "data",
                keyword,
                annotation=body | None if optional else body,
                default=None if optional else inspect.Parameter.empty,
            ),
        ],
        return_annotation=out,
    )
    endpoint.__name__ = f"{path}_{id_name.removesuffix('_id')}"
    router.add_api_route(
        f"/{collection}/{{{id_name}}}/{path}",
        endpoint,
        methods=["POST"],
        response_model=out,
        responses=ACTION,
        summary=summary,
    )


def _facility_step(path: str, summary: str, handler: Callable[..., Facility], body: type[BaseModel]) -> None:
    # ``_facility`` is defined below: looked up when a request comes.
    _step("facilities", "facility_id", path, summary, handler, body, FacilityOut, lambda f: _facility(f))


_facility_step("reject", "Reject the application (the bank)", facilities.reject, ReasonIn)
_facility_step("withdraw", "Withdraw the application (the borrower)", facilities.withdraw, ReasonIn)
_facility_step("activate", "Open the facility for drawdowns (the bank)", facilities.activate, NoteIn)
_facility_step("suspend", "Stop new drawdowns (the bank)", facilities.suspend, ReasonIn)
_facility_step("resume", "Allow drawdowns again (the bank)", facilities.resume, NoteIn)
_facility_step("expire", "End the facility's availability (the bank)", facilities.expire, NoteIn)
_facility_step("close", "Close the facility once every loan is closed (the bank)", facilities.close, NoteIn)


@router.get("/facilities/{facility_id}/position", response_model=PositionOut, responses=errors(401, 404))
def facility_position(
    facility_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    on: Annotated[date | None, Query(description="Business date; today by default")] = None,
) -> PositionOut:
    """Exposure, collateral value line by line, LTV and what may still be drawn."""
    return _position(queries.position(session, principal, facility_id, on or business_date(rt.now())))


@router.get(
    "/facilities/{facility_id}/contracts", response_model=list[ContractOut], responses=errors(401, 404)
)
def list_contracts(facility_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[ContractOut]:
    return [ContractOut.model_validate(c) for c in queries.contracts(session, principal, facility_id)]


@router.post(
    "/facilities/{facility_id}/contracts", response_model=ContractOut, status_code=CREATED, responses=ACTION
)
def add_contract(facility_id: int, data: ContractIn, uow: Uow, principal: CurrentPrincipal) -> ContractOut:
    """Record a signed contract (the bank): number, date, parties and the file's SHA-256."""
    return ContractOut.model_validate(facilities.add_contract(uow, principal, facility_id, data))


@router.get(
    "/facilities/{facility_id}/collateral", response_model=list[CollateralLinkOut], responses=errors(401, 404)
)
def list_collateral(
    facility_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[CollateralLinkOut]:
    return [
        CollateralLinkOut.model_validate(link)
        for link in queries.collateral_links(session, principal, facility_id)
    ]


@router.post(
    "/facilities/{facility_id}/collateral",
    response_model=CollateralLinkOut,
    status_code=CREATED,
    responses=ACTION,
)
def attach_collateral(
    facility_id: int, data: CollateralAttachIn, uow: Uow, principal: CurrentPrincipal
) -> CollateralLinkOut:
    """Attach a receipt pledged to the bank by the borrower (the bank)."""
    return CollateralLinkOut.model_validate(collateral_links.attach(uow, principal, facility_id, data))


@router.post(
    "/facilities/{facility_id}/collateral/{link_id}/detach",
    response_model=CollateralLinkOut,
    responses=ACTION,
)
def detach_collateral(
    facility_id: int, link_id: int, uow: Uow, principal: CurrentPrincipal
) -> CollateralLinkOut:
    """Detach collateral (the bank), if what remains still covers the exposure at the pledge rate."""
    return CollateralLinkOut.model_validate(collateral_links.detach(uow, principal, facility_id, link_id))


@router.get(
    "/facilities/{facility_id}/margin-deposits",
    response_model=list[MarginDepositOut],
    responses=errors(401, 404),
)
def list_margin_deposits(
    facility_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[MarginDepositOut]:
    return [
        MarginDepositOut.model_validate(d) for d in queries.margin_deposits(session, principal, facility_id)
    ]


@router.post(
    "/facilities/{facility_id}/margin-deposits",
    response_model=MarginDepositOut,
    status_code=CREATED,
    responses=ACTION,
)
def deposit_margin(
    facility_id: int, data: MarginDepositIn, uow: Uow, principal: CurrentPrincipal
) -> MarginDepositOut:
    """Record cash margin received (the bank)."""
    return MarginDepositOut.model_validate(margin.deposit(uow, principal, facility_id, data))


@router.post(
    "/facilities/{facility_id}/margin-deposits/{deposit_id}/withdraw",
    response_model=MarginDepositOut,
    responses=ACTION,
)
def withdraw_margin(
    facility_id: int, deposit_id: int, data: ReasonIn, uow: Uow, principal: CurrentPrincipal
) -> MarginDepositOut:
    """Pay a deposit back (the bank), if the exposure stays within the limit and the pledge rate."""
    return MarginDepositOut.model_validate(margin.withdraw(uow, principal, facility_id, deposit_id, data))


@router.get(
    "/facilities/{facility_id}/drawdowns", response_model=list[DrawdownOut], responses=errors(401, 404)
)
def list_facility_drawdowns(
    facility_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[DrawdownOut]:
    return [_drawdown(d) for d in queries.facility_drawdowns(session, principal, facility_id)]


@router.post(
    "/facilities/{facility_id}/drawdowns",
    response_model=DrawdownOut,
    status_code=CREATED,
    responses=ACTION,
)
def request_drawdown(
    facility_id: int, data: DrawdownRequestIn, uow: Uow, principal: CurrentPrincipal
) -> DrawdownOut:
    """The borrower asks for money under the facility (用款申请)."""
    return _drawdown(loans.request(uow, principal, facility_id, data))


@router.get(
    "/facilities/{facility_id}/repayments", response_model=list[RepaymentOut], responses=errors(401, 404)
)
def list_facility_repayments(
    facility_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[RepaymentOut]:
    return [
        RepaymentOut.model_validate(r) for r in queries.facility_repayments(session, principal, facility_id)
    ]


# --- drawdowns ------------------------------------------------------------------------------------


@router.get("/drawdowns", response_model=list[DrawdownOut], responses=errors(401, 422))
def list_drawdowns(
    session: ReadSession,
    principal: CurrentPrincipal,
    facility_id: int | None = None,
    drawdown_status: Annotated[DrawdownStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[DrawdownOut]:
    found = queries.list_drawdowns(
        session, principal, facility_id=facility_id, status=drawdown_status, limit=limit, offset=offset
    )
    return [_drawdown(d) for d in found]


@router.get("/drawdowns/{drawdown_id}", response_model=DrawdownOut, responses=errors(401, 404))
def get_drawdown(drawdown_id: int, session: ReadSession, principal: CurrentPrincipal) -> DrawdownOut:
    return _drawdown(queries.get_drawdown(session, principal, drawdown_id))


def _drawdown_step(path: str, summary: str, handler: Callable[..., Drawdown], body: type[BaseModel]) -> None:
    _step("drawdowns", "drawdown_id", path, summary, handler, body, DrawdownOut, lambda d: _drawdown(d))


_drawdown_step("approve", "Approve within the limit and the pledge rate (the bank)", loans.approve, NoteIn)
_drawdown_step("reject", "Reject the request (the bank)", loans.reject, ReasonIn)
_drawdown_step("withdraw", "Withdraw the request (the borrower)", loans.withdraw, ReasonIn)
_drawdown_step("disburse", "Pay the money out; interest runs from today (the bank)", loans.disburse, NoteIn)


@router.get(
    "/drawdowns/{drawdown_id}/repayments", response_model=list[RepaymentOut], responses=errors(401, 404)
)
def list_repayments(
    drawdown_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[RepaymentOut]:
    return [RepaymentOut.model_validate(r) for r in queries.repayments(session, principal, drawdown_id)]


@router.post(
    "/drawdowns/{drawdown_id}/repayments", response_model=RepaymentOut, status_code=CREATED, responses=ACTION
)
def repay(drawdown_id: int, data: RepaymentIn, uow: Uow, principal: CurrentPrincipal) -> RepaymentOut:
    """Record money received: it pays penalty, then interest, then principal."""
    return RepaymentOut.model_validate(loans.repay(uow, principal, drawdown_id, data))


@router.get("/drawdowns/{drawdown_id}/accruals", response_model=list[AccrualOut], responses=errors(401, 404))
def list_accruals(drawdown_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[AccrualOut]:
    """The daily interest and penalty accruals, one row per business date and kind."""
    return [AccrualOut.model_validate(a) for a in queries.accruals(session, principal, drawdown_id)]


def _facility(facility: Facility) -> FacilityOut:
    out = FacilityOut.model_validate(facility)
    out.allowed_actions = facility_actions(facility.status)
    return out


def _drawdown(drawdown: Drawdown) -> DrawdownOut:
    out = DrawdownOut.model_validate(drawdown)
    out.allowed_actions = drawdown_actions(drawdown.status)
    return out


def _position(position: Position) -> PositionOut:
    lines = []
    for line in position.collateral.lines:
        price = line.price
        lines.append(
            CollateralLineOut(
                link_id=line.link_id,
                pledge_id=line.pledge_id,
                receipt_id=line.receipt_id,
                receipt_code=line.receipt_code,
                lot_id=line.lot_id,
                commodity_id=line.commodity_id,
                quantity_g=line.quantity_g,
                price_fen_per_t=price.price_fen_per_t if price else None,
                price_observation_id=price.observation_id if price else None,
                price_date=price.price_date if price else None,
                haircut_bp=line.haircut_bp,
                value_fen=line.value_fen,
                reason=translate(line.reason, line.params) if line.reason else None,
            )
        )
    return PositionOut(
        facility_id=position.facility_id,
        business_date=position.business_date,
        principal_outstanding_fen=position.principal_outstanding_fen,
        reserved_fen=position.reserved_fen,
        interest_due_fen=position.interest_due_fen,
        cash_margin_fen=position.cash_margin_fen,
        exposure_fen=position.exposure_fen,
        committed_exposure_fen=position.committed_exposure_fen,
        collateral_value_fen=position.value_fen,
        ltv_bp=position.ltv_bp,
        headroom_fen=position.headroom_fen,
        lines=lines,
    )
