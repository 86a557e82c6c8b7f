"""Price pages: the price series with their latest approved prices, prices entered by hand awaiting
a second person's approval (四眼原则), and the forms to enter one, to import a CSV file of them, and
for the operator to register a series or change one. The approval and its refusals (one's own
entry, an outlier not confirmed, a file with wrong rows) are the service's, as in the API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from coldpledge.errors import N_, PayloadTooLarge
from coldpledge.financing.prices import csvimport
from coldpledge.financing.prices import service as prices
from coldpledge.financing.prices.models import (
    ObservationStatus,
    PriceFrequency,
    PriceObservation,
    PriceSeries,
    PriceUnit,
)
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, RejectIn, SeriesChangeIn, SeriesIn
from coldpledge.inventory import service as inventory
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.errors import translate
from coldpledge.web.forms import form_model, optional
from coldpledge.web.templating import render, render_fragment

router = APIRouter(include_in_schema=False)


@router.get("/prices")
def price_page(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    may_manage = user.principal.can("price:manage_series")
    # Whoever manages the series sees the inactive ones too, to turn them on again.
    series = prices.list_series(
        session, user.principal, commodity_id=None, active=None if may_manage else True
    )
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
        may_import=user.principal.can("price:import"),
        may_manage=may_manage,
        commodities=inventory.list_commodities(session, user.principal) if may_manage else [],
        units=list(PriceUnit),
        frequencies=list(PriceFrequency),
        columns=csvimport.COLUMNS,
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


# --- series: registered and changed by the operator ---------------------------------------------


def whole(text: str) -> int | str | None:
    """A whole number typed; anything else goes to the model as typed, to be refused there in
    the API's words."""
    cleaned = text.strip()
    if not cleaned:
        return None
    return int(cleaned) if cleaned.isdigit() and len(cleaned) < 19 else cleaned


@router.post("/prices/series")
def create_series(
    user: PageUserDep,
    uow: Uow,
    code: Annotated[str, Form(max_length=40)] = "",
    commodity_id: Annotated[str, Form(max_length=20)] = "",
    source: Annotated[str, Form(max_length=64)] = "",
    source_series_id: Annotated[str, Form(max_length=100)] = "",
    market_region: Annotated[str, Form(max_length=100)] = "",
    spec: Annotated[str, Form(max_length=200)] = "",
    unit: Annotated[str, Form(max_length=10)] = "",
    frequency: Annotated[str, Form(max_length=10)] = "",
    is_primary: Annotated[str, Form(max_length=8)] = "",
    feed_trusted: Annotated[str, Form(max_length=8)] = "",
    stale_after_business_days: Annotated[str, Form(max_length=10)] = "",
    average_days: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    typed = {
        "code": code.strip(),
        "commodity_id": whole(commodity_id),
        "source": source.strip(),
        "source_series_id": source_series_id.strip(),
        "market_region": market_region.strip(),
        "spec": spec.strip(),
        "unit": optional(unit),
        "frequency": optional(frequency),
        "is_primary": is_primary == "yes",
        "feed_trusted": feed_trusted == "yes",
        "stale_after_business_days": whole(stale_after_business_days),
        "average_days": whole(average_days),
    }
    # A field left empty is left out, as a JSON body would: the API's defaults apply.
    data = form_model(SeriesIn, **{key: value for key, value in typed.items() if value is not None})
    prices.create_series(uow, user.principal, data)
    return Response(status_code=201, headers={"HX-Refresh": "true"})


def series_changes(series: PriceSeries, form: dict[str, str]) -> dict[str, object]:
    """What the form changes of ``series``, and only that: the API changes only the fields given.
    The form shows every field as it is, so a field left as shown is not given; an emptied
    averaging turns it off (``null``), an emptied staleness limit is left as it is."""
    wanted: dict[str, object] = {
        "is_primary": form["is_primary"] == "yes",
        "active": form["active"] == "yes",
        "feed_trusted": form["feed_trusted"] == "yes",
        "average_days": whole(form["average_days"]),
    }
    if form["stale_after_business_days"].strip():
        wanted["stale_after_business_days"] = whole(form["stale_after_business_days"])
    changes = {name: value for name, value in wanted.items() if value != getattr(series, name)}
    note = optional(form["note"])
    return {**changes, "note": note} if note is not None else changes


@router.post("/prices/series/{series_id}")
def change_series(
    series_id: int,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    is_primary: Annotated[str, Form(max_length=8)] = "",
    active: Annotated[str, Form(max_length=8)] = "",
    feed_trusted: Annotated[str, Form(max_length=8)] = "",
    stale_after_business_days: Annotated[str, Form(max_length=10)] = "",
    average_days: Annotated[str, Form(max_length=10)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    series = prices.get_series(session, user.principal, series_id)
    form = {
        "is_primary": is_primary,
        "active": active,
        "feed_trusted": feed_trusted,
        "stale_after_business_days": stale_after_business_days,
        "average_days": average_days,
        "note": note,
    }
    data = form_model(SeriesChangeIn, **series_changes(series, form))
    prices.change_series(uow, user.principal, series_id, data)
    return Response(status_code=200, headers={"HX-Refresh": "true"})


# --- a CSV file of prices ------------------------------------------------------------------------


@router.post("/prices/imports")
def import_prices(
    request: Request,
    user: PageUserDep,
    uow: Uow,
    session: ReadSession,
    file: Annotated[UploadFile, File()],
) -> Response:
    content = file.file.read(csvimport.MAX_BYTES + 1)
    if len(content) > csvimport.MAX_BYTES:
        raise PayloadTooLarge(
            N_("The file is larger than the limit of {limit} bytes."), limit=csvimport.MAX_BYTES
        )
    try:
        result = csvimport.import_csv(uow, user.principal, content)
    except csvimport.ImportRejected as refused:
        # Nothing was stored: the rows to fix, each with its reason, go to the form's error box.
        return render_fragment(
            request,
            "prices/_import_refused.html",
            status_code=refused.status,
            message=translate(refused.message, refused.params),
            rows=refused.errors[: csvimport.MAX_REPORTED],
            more=max(0, len(refused.errors) - csvimport.MAX_REPORTED),
        )
    return render_fragment(
        request,
        "prices/_imported.html",
        status_code=201,
        observations=result.observations,
        codes={
            series_id: prices.get_series(session, user.principal, series_id).code
            for series_id in {o.series_id for o in result.observations}
        },
        approved=sum(o.status is ObservationStatus.APPROVED for o in result.observations),
    )
