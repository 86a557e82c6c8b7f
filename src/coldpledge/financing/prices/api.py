"""HTTP routes of prices: series, observations with their approval, CSV import, staleness and the
price valuation uses. The operator manages them; everyone signed in reads them."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status

from coldpledge.calendar import business_date
from coldpledge.errors import N_, NotFound, PayloadTooLarge
from coldpledge.financing.prices import csvimport, service
from coldpledge.financing.prices.models import ObservationStatus
from coldpledge.financing.prices.schemas import (
    ApproveIn,
    ImportOut,
    ObservationIn,
    ObservationOut,
    PriceUsedOut,
    RejectIn,
    SeriesChangeIn,
    SeriesIn,
    SeriesOut,
    StaleSeriesOut,
)
from coldpledge.inventory.models import Commodity
from coldpledge.parties.access import obtain
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1/prices", tags=["prices"])
ACTION = errors(401, 403, 404, 409, 422)


@router.get("/series", response_model=list[SeriesOut], responses=errors(401, 422))
def list_series(
    session: ReadSession,
    principal: CurrentPrincipal,
    commodity_id: int | None = None,
    active: bool | None = None,
) -> list[SeriesOut]:
    found = service.list_series(session, principal, commodity_id=commodity_id, active=active)
    return [SeriesOut.model_validate(series) for series in found]


@router.post("/series", response_model=SeriesOut, status_code=status.HTTP_201_CREATED, responses=ACTION)
def create_series(data: SeriesIn, uow: Uow, principal: CurrentPrincipal) -> SeriesOut:
    """Register a price source's series for a commodity (the operator)."""
    return SeriesOut.model_validate(service.create_series(uow, principal, data))


@router.get("/series/{series_id}", response_model=SeriesOut, responses=errors(401, 404))
def get_series(series_id: int, session: ReadSession, principal: CurrentPrincipal) -> SeriesOut:
    return SeriesOut.model_validate(service.get_series(session, principal, series_id))


@router.patch("/series/{series_id}", response_model=SeriesOut, responses=ACTION)
def change_series(series_id: int, data: SeriesChangeIn, uow: Uow, principal: CurrentPrincipal) -> SeriesOut:
    """Make a series primary, deactivate it, trust its feed, or change its staleness limit or
    averaging; only the fields given change."""
    return SeriesOut.model_validate(service.change_series(uow, principal, series_id, data))


@router.get("/observations", response_model=list[ObservationOut], responses=errors(401, 422))
def list_observations(
    session: ReadSession,
    principal: CurrentPrincipal,
    series_id: int | None = None,
    commodity_id: int | None = None,
    observation_status: Annotated[ObservationStatus | None, Query(alias="status")] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    outlier: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ObservationOut]:
    where = service.ObservationFilter(
        series_id, commodity_id, observation_status, date_from, date_to, outlier, limit, offset
    )
    return [
        ObservationOut.model_validate(found) for found in service.list_observations(session, principal, where)
    ]


@router.post(
    "/observations", response_model=ObservationOut, status_code=status.HTTP_201_CREATED, responses=ACTION
)
def enter_observation(data: ObservationIn, uow: Uow, principal: CurrentPrincipal) -> ObservationOut:
    """Enter a published price by hand; it counts once someone else approves it."""
    return ObservationOut.model_validate(service.enter(uow, principal, data))


@router.get("/observations/{observation_id}", response_model=ObservationOut, responses=errors(401, 404))
def get_observation(observation_id: int, session: ReadSession, principal: CurrentPrincipal) -> ObservationOut:
    return ObservationOut.model_validate(service.get_observation(session, principal, observation_id))


@router.post("/observations/{observation_id}/approve", response_model=ObservationOut, responses=ACTION)
def approve_observation(
    observation_id: int, uow: Uow, principal: CurrentPrincipal, data: ApproveIn | None = None
) -> ObservationOut:
    """The second person approves a price; an outlier needs ``confirm_outlier``."""
    return ObservationOut.model_validate(service.approve(uow, principal, observation_id, data or ApproveIn()))


@router.post("/observations/{observation_id}/reject", response_model=ObservationOut, responses=ACTION)
def reject_observation(
    observation_id: int, data: RejectIn, uow: Uow, principal: CurrentPrincipal
) -> ObservationOut:
    return ObservationOut.model_validate(service.reject(uow, principal, observation_id, data))


@router.post(
    "/imports",
    response_model=ImportOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 413, 422),
)
def import_prices(
    file: Annotated[UploadFile, File(description="CSV: series, price_date, unit, low, mid, high, ...")],
    uow: Uow,
    principal: CurrentPrincipal,
) -> ImportOut:
    """Import a CSV file of prices, all rows or none; they wait for approval like entered ones."""
    content = file.file.read(csvimport.MAX_BYTES + 1)
    if len(content) > csvimport.MAX_BYTES:
        raise PayloadTooLarge(
            N_("The file is larger than the limit of {limit} bytes."), limit=csvimport.MAX_BYTES
        )
    result = csvimport.import_csv(uow, principal, content)
    observations = [ObservationOut.model_validate(found) for found in result.observations]
    approved = sum(found.status is ObservationStatus.APPROVED for found in observations)
    return ImportOut(
        series_codes=result.series_codes,
        observations=observations,
        outliers=sum(found.is_outlier for found in observations),
        approved=approved,
        pending=len(observations) - approved,
    )


@router.get("/stale", response_model=list[StaleSeriesOut], responses=errors(401, 422))
def stale_series(
    session: ReadSession, principal: CurrentPrincipal, rt: RuntimeDep, on: date | None = None
) -> list[StaleSeriesOut]:
    """Active series whose latest approved price is older than their limit (business days), on
    ``on`` (today if left out)."""
    answers = service.stale_series(session, principal, on or business_date(rt.now()))
    return [
        StaleSeriesOut(
            series=SeriesOut.model_validate(answer.series),
            latest_price_date=answer.latest_price_date,
            business_days_old=answer.business_days_old,
            limit_business_days=answer.series.stale_after_business_days,
        )
        for answer in answers
    ]


@router.get("/commodities/{commodity_id}", response_model=PriceUsedOut, responses=errors(401, 404, 422))
def price_of_commodity(
    commodity_id: int,
    session: ReadSession,
    principal: CurrentPrincipal,
    rt: RuntimeDep,
    on: date | None = None,
) -> PriceUsedOut:
    """The price valuation uses for the commodity on ``on`` (today if left out), and the
    observations it rests on."""
    obtain(session, principal, Commodity, commodity_id)
    day = on or business_date(rt.now())
    used = service.price_for(session, commodity_id, day)
    if used is None:
        raise NotFound(N_("The commodity has no approved price on or before {date}."), date=day.isoformat())
    return PriceUsedOut(**asdict(used))
