"""Price pages: the price series with their latest approved prices, prices entered by hand awaiting
a second person's approval (四眼原则), and the form to enter one. The approval and its refusals
(one's own entry, an outlier not confirmed) are the service's, as in the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from coldpledge.financing.prices import service as prices
from coldpledge.financing.prices.models import ObservationStatus, PriceObservation
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, RejectIn
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)


@router.get("/prices")
def price_page(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    series = prices.list_series(session, user.principal, commodity_id=None, active=True)
    latest: dict[int, PriceObservation] = {}
    for one in series:  # newest price date first: the first approved one is the series' latest
        found = prices.list_observations(
            session,
            user.principal,
            prices.ObservationFilter(series_id=one.id, status=ObservationStatus.APPROVED, limit=1),
        )
        if found:
            latest[one.id] = found[0]
    pending = prices.list_observations(
        session, user.principal, prices.ObservationFilter(status=ObservationStatus.PENDING, limit=200)
    )
    return render(
        request,
        "prices/prices.html",
        user=user,
        series=series,
        latest=latest,
        pending=pending,
        codes={s.id: s.code for s in series},
        may_enter=user.principal.can("price:enter"),
        may_decide=user.principal.can("price:approve"),
    )


@router.post("/prices/observations")
def enter_price(
    request: Request,
    user: PageUserDep,
    uow: Uow,
    series_id: Annotated[int, Form()],
    price_date: Annotated[str, Form(max_length=10)],
    mid: Annotated[str, Form(max_length=20)],
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    data = form_model(
        ObservationIn, series_id=series_id, price_date=price_date, mid=mid.strip(), note=optional(note)
    )
    prices.enter(uow, user.principal, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


@router.post("/prices/observations/{observation_id}/{step}")
def decide_price(
    observation_id: int,
    step: str,
    request: Request,
    user: PageUserDep,
    uow: Uow,
    text: Annotated[str, Form(max_length=500)] = "",
    confirm_outlier: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    if step == "approve":
        data = form_model(ApproveIn, confirm_outlier=confirm_outlier == "yes", note=optional(text))
        observation = prices.approve(uow, user.principal, observation_id, data)
    elif step == "reject":
        observation = prices.reject(uow, user.principal, observation_id, form_model(RejectIn, reason=text))
    else:
        return render_fragment(request, "_error.html", status_code=404, message=step)
    return render_fragment(request, "prices/_decided.html", observation=observation)
