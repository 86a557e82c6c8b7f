"""Price series and observations: entry, four-eyes approval, rejection, staleness, and the price
valuation uses (``price_for``).

A price counts for valuation only once approved, and a person never approves a price they entered
(the service refuses it; a CHECK in the database backs it). The approver belongs to the enterer's
organisation or is the platform operator. Outliers (domain §5) are approved only with the
approver's explicit confirmation; the check is made again at approval, against the approved
history of that moment. Quotes from a vendor feed have no person behind them: they wait for one
approval, unless the series trusts its feed, when they count as approved at import unless they are
outliers (then a person confirms them as for any other).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.calendar import business_date
from coldpledge.errors import N_, Conflict, InvalidInput, PermissionDenied
from coldpledge.financing.businessdays import business_days_between
from coldpledge.financing.prices import checks
from coldpledge.financing.prices.models import (
    ObservationStatus,
    PriceFrequency,
    PriceObservation,
    PriceOrigin,
    PriceSeries,
    PriceUnit,
)
from coldpledge.financing.prices.schemas import ApproveIn, ObservationIn, RejectIn, SeriesChangeIn, SeriesIn
from coldpledge.inventory.models import Commodity
from coldpledge.parties.access import obtain, require, restrict
from coldpledge.parties.models import User
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.uow import CONSTRAINT_MESSAGES, UnitOfWork

S = ObservationStatus
DEFAULT_STALE_AFTER = {PriceFrequency.DAILY: 3, PriceFrequency.WEEKLY: 7}
# The approved history an outlier is judged against: enough for σ of checks.SIGMA_WINDOW returns.
HISTORY = checks.SIGMA_WINDOW + 1
# No holiday calendar is kept yet: business days are the weekdays.
HOLIDAYS: frozenset[date] = frozenset()

# Who a vendor feed's quotes are recorded as: no person, the platform.
FEED = Principal(
    user_id=None, username="price-feed", org_id=None, party_type=PartyType.OPERATOR, role=Role.PLATFORM_ADMIN
)

CONSTRAINT_MESSAGES.update(
    {
        "uq_price_observations_one_live_per_date": N_(
            "This series already has a price for that date; reject it first to correct it."
        ),
        "uq_price_series_one_primary_per_commodity": N_("The commodity already has a primary price series."),
        "uq_price_series_code": N_("A price series with this code exists already."),
        "uq_price_series_source_source_series_id": N_("This source's series is registered already."),
        "four_eyes": N_("A price is approved by someone other than the person who entered it."),
    }
)
# SQLite reports a failed partial unique index by its columns, not its name.
CONSTRAINT_MESSAGES["price_observations.series_id, price_observations.price_date"] = CONSTRAINT_MESSAGES[
    "uq_price_observations_one_live_per_date"
]
CONSTRAINT_MESSAGES["price_series.commodity_id"] = CONSTRAINT_MESSAGES[
    "uq_price_series_one_primary_per_commodity"
]


# --- series -----------------------------------------------------------------------------------


def create_series(uow: UnitOfWork, principal: Principal, data: SeriesIn) -> PriceSeries:
    require(principal, "price:manage_series")
    with uow:
        obtain(uow.session, principal, Commodity, data.commodity_id, field="commodity_id")
        if data.is_primary:
            _demote_primary(uow, principal, data.commodity_id)
        series = PriceSeries(
            code=data.code,
            commodity_id=data.commodity_id,
            source=data.source,
            source_series_id=data.source_series_id,
            market_region=data.market_region,
            spec=data.spec,
            unit=data.unit,
            frequency=data.frequency,
            is_primary=data.is_primary,
            active=True,
            feed_trusted=data.feed_trusted,
            stale_after_business_days=data.stale_after_business_days or DEFAULT_STALE_AFTER[data.frequency],
            average_days=data.average_days,
            created_at=uow.now(),
            created_by_user_id=principal.user_id,
        )
        uow.session.add(series)
        uow.session.flush()
        uow.record(principal, "price_series.create", series, before=None)
        uow.commit()
        return series


def change_series(uow: UnitOfWork, principal: Principal, series_id: int, data: SeriesChangeIn) -> PriceSeries:
    """Change what the operator may change of a series; its identity (source, commodity, unit)
    stays, since its observations were judged in it."""
    require(principal, "price:manage_series")
    with uow:
        series = obtain(uow.session, principal, PriceSeries, series_id, "manage_series", for_update=True)
        before = snapshot(series)
        given = sorted(data.model_fields_set - {"note"})
        for name in given:
            if getattr(data, name) is None and name != "average_days":
                raise InvalidInput(N_("Leave the field out rather than setting it to nothing."), field=name)
        becomes_primary = (data.is_primary if "is_primary" in given else series.is_primary) and (
            data.active if "active" in given else series.active
        )
        if becomes_primary and not (series.is_primary and series.active):
            _demote_primary(uow, principal, series.commodity_id)
        for name in given:
            setattr(series, name, getattr(data, name))
        uow.record(principal, "price_series.change", series, before=before, reason=data.note)
        uow.commit()
        return series


def _demote_primary(uow: UnitOfWork, principal: Principal, commodity_id: int) -> None:
    """The commodity's current primary series stops being primary (one primary per commodity)."""
    current = uow.session.scalars(
        select(PriceSeries)
        .where(PriceSeries.commodity_id == commodity_id, PriceSeries.is_primary, PriceSeries.active)
        .with_for_update()
    ).first()
    if current is None:
        return
    before = snapshot(current)
    current.is_primary = False
    uow.session.flush()
    uow.record(
        principal, "price_series.change", current, before=before, reason="another series became primary"
    )


def list_series(
    session: Session, principal: Principal, *, commodity_id: int | None = None, active: bool | None = None
) -> Sequence[PriceSeries]:
    query = restrict(principal, "view", PriceSeries).order_by(PriceSeries.code)
    if commodity_id is not None:
        query = query.where(PriceSeries.commodity_id == commodity_id)
    if active is not None:
        query = query.where(PriceSeries.active.is_(active))
    return session.scalars(query).all()


def get_series(session: Session, principal: Principal, series_id: int) -> PriceSeries:
    return obtain(session, principal, PriceSeries, series_id)


# --- observations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One price to add to a series, from whatever channel, already parsed."""

    series: PriceSeries
    price_date: date
    quote: checks.Quote
    raw_value: str
    raw_unit: PriceUnit
    payload_sha256: str
    published_at: datetime | None = None
    note: str | None = None


def enter(uow: UnitOfWork, principal: Principal, data: ObservationIn) -> PriceObservation:
    """A person enters one published price; it waits for a second person's approval."""
    require(principal, "price:enter")
    with uow:
        series = obtain(uow.session, principal, PriceSeries, data.series_id, field="series_id")
        entry = entry_of(
            series,
            data.price_date,
            data.unit,
            data.low,
            data.mid,
            data.high,
            payload=data.model_dump(mode="json"),
            published_at=data.published_at,
            note=data.note,
        )
        check_entry(uow.session, entry, business_date(uow.now()))
        observation = add(uow, principal, entry, PriceOrigin.MANUAL)
        uow.commit()
        return observation


def entry_of(
    series: PriceSeries,
    price_date: date,
    unit: PriceUnit | None,
    low: str | None,
    mid: str | None,
    high: str | None,
    *,
    payload: Any,
    published_at: datetime | None = None,
    note: str | None = None,
) -> Entry:
    """Parse a quote as published (decimal texts in ``unit``, the series' own if None)."""
    unit = unit or series.unit
    quote = checks.quote_of(
        None if low is None else checks.to_fen_per_t(low, unit, field="low"),
        None if mid is None else checks.to_fen_per_t(mid, unit, field="mid"),
        None if high is None else checks.to_fen_per_t(high, unit, field="high"),
    )
    raw_value = (
        mid if low is None and high is None and mid is not None else f"{low or ''}/{mid or ''}/{high or ''}"
    )
    return Entry(
        series=series,
        price_date=price_date,
        quote=quote,
        raw_value=raw_value,
        raw_unit=unit,
        payload_sha256=payload_sha256(payload),
        published_at=published_at,
        note=note,
    )


def payload_sha256(payload: Any) -> str:
    """The hash of a quote as received, as canonical JSON (the same quote hashes the same)."""
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_entry(session: Session, entry: Entry, today: date) -> None:
    """Refuse a price for a date to come, for an inactive series, or for a date the series has a
    live price for already."""
    if entry.price_date > today:
        raise InvalidInput(N_("A price cannot be entered for a date still to come."), field="price_date")
    if not entry.series.active:
        raise Conflict(N_("The price series {code} is inactive."), code=entry.series.code)
    if live_observation(session, entry.series.id, entry.price_date) is not None:
        raise Conflict(
            N_("The series {code} already has a price for {date}; reject it first to correct it."),
            code=entry.series.code,
            date=entry.price_date.isoformat(),
        )


def live_observation(session: Session, series_id: int, price_date: date) -> PriceObservation | None:
    return session.scalars(
        select(PriceObservation).where(
            PriceObservation.series_id == series_id,
            PriceObservation.price_date == price_date,
            PriceObservation.status != S.REJECTED,
        )
    ).first()


def add(
    uow: UnitOfWork,
    principal: Principal,
    entry: Entry,
    origin: PriceOrigin,
    *,
    approve: bool = False,
    data: dict[str, Any] | None = None,
) -> PriceObservation:
    """Store ``entry``, judged against the approved history; ``approve`` (a trusted feed) makes it
    count at once unless it is an outlier."""
    verdict = checks.outlier_check(
        entry.quote.mid, approved_history(uow.session, entry.series.id, entry.price_date)
    )
    now = uow.now()
    approved = approve and not verdict.is_outlier
    observation = PriceObservation(
        series_id=entry.series.id,
        price_date=entry.price_date,
        published_at=entry.published_at,
        price_low_fen_per_t=entry.quote.low,
        price_mid_fen_per_t=entry.quote.mid,
        price_high_fen_per_t=entry.quote.high,
        raw_value=entry.raw_value,
        raw_unit=entry.raw_unit.value,
        origin=origin,
        status=S.APPROVED if approved else S.PENDING,
        entered_by_user_id=principal.user_id,
        entered_at=now,
        approved_at=now if approved else None,
        raw_payload_sha256=entry.payload_sha256,
        is_outlier=verdict.is_outlier,
        outlier_reason=verdict.reason,
        outlier_confirmed=False,
        note=entry.note,
    )
    uow.session.add(observation)
    uow.session.flush()
    uow.record(
        principal,
        f"price.{origin.value}",
        observation,
        before=None,
        reason=entry.note,
        related=[entry.series.subject_ref],
        data=data,
    )
    return observation


def approved_history(
    session: Session, series_id: int, before: date, limit: int = HISTORY
) -> list[tuple[date, int]]:
    """The last ``limit`` approved (date, mid) of the series before ``before``, oldest first."""
    rows = session.execute(
        select(PriceObservation.price_date, PriceObservation.price_mid_fen_per_t)
        .where(
            PriceObservation.series_id == series_id,
            PriceObservation.status == S.APPROVED,
            PriceObservation.price_date < before,
        )
        .order_by(PriceObservation.price_date.desc())
        .limit(limit)
    ).all()
    return [(row[0], row[1]) for row in reversed(rows)]


def approve(uow: UnitOfWork, principal: Principal, observation_id: int, data: ApproveIn) -> PriceObservation:
    require(principal, "price:approve")
    with uow:
        observation = obtain(
            uow.session, principal, PriceObservation, observation_id, "approve", for_update=True
        )
        if observation.status is not S.PENDING:
            raise Conflict(N_("Only a price awaiting approval can be approved."))
        _second_pair_of_eyes(uow.session, principal, observation)
        before = snapshot(observation)
        verdict = checks.outlier_check(
            observation.price_mid_fen_per_t,
            approved_history(uow.session, observation.series_id, observation.price_date),
        )
        observation.is_outlier, observation.outlier_reason = verdict.is_outlier, verdict.reason
        if verdict.is_outlier and not data.confirm_outlier:
            raise OutlierUnconfirmed(verdict.reason or "")
        observation.outlier_confirmed = verdict.is_outlier
        observation.status = S.APPROVED
        observation.approved_by_user_id = principal.user_id
        observation.approved_at = uow.now()
        uow.record(
            principal,
            "price.approve",
            observation,
            before=before,
            reason=data.note,
            related=[observation.series.subject_ref],
        )
        uow.commit()
        return observation


class OutlierUnconfirmed(Conflict):
    code = "price_outlier_unconfirmed"

    def __init__(self, reason: str) -> None:
        super().__init__(
            N_("This price is an outlier ({reason}); check it, then approve it with confirm_outlier."),
            reason=reason,
        )
        self.reason = reason

    def extra(self) -> dict[str, Any]:
        return {"outlier_reason": self.reason}


def _second_pair_of_eyes(session: Session, principal: Principal, observation: PriceObservation) -> None:
    entered_by = observation.entered_by_user_id
    if entered_by is None:
        return  # a vendor feed's quote: the approver is the first person to look at it
    if principal.user_id == entered_by:
        raise PermissionDenied(N_("A price is approved by someone other than the person who entered it."))
    enterer_org = session.scalar(select(User.organisation_id).where(User.id == entered_by))
    if not principal.is_operator and principal.org_id != enterer_org:
        raise PermissionDenied(N_("A price is approved within the organisation that entered it."))


def reject(uow: UnitOfWork, principal: Principal, observation_id: int, data: RejectIn) -> PriceObservation:
    """Reject a price awaiting approval, or withdraw an approved one found wrong; valuations made
    with it keep naming it, and the date is free for the right price."""
    require(principal, "price:reject")
    with uow:
        observation = obtain(
            uow.session, principal, PriceObservation, observation_id, "reject", for_update=True
        )
        if observation.status is S.REJECTED:
            raise Conflict(N_("This price is rejected already."))
        before = snapshot(observation)
        observation.status = S.REJECTED
        observation.rejected_by_user_id = principal.user_id
        observation.rejected_at = uow.now()
        observation.rejection_reason = data.reason
        uow.record(
            principal,
            "price.reject",
            observation,
            before=before,
            reason=data.reason,
            related=[observation.series.subject_ref],
        )
        uow.commit()
        return observation


@dataclass(frozen=True)
class ObservationFilter:
    series_id: int | None = None
    commodity_id: int | None = None
    status: ObservationStatus | None = None
    date_from: date | None = None
    date_to: date | None = None
    outlier: bool | None = None
    limit: int = 100
    offset: int = 0


def list_observations(
    session: Session, principal: Principal, where: ObservationFilter
) -> Sequence[PriceObservation]:
    query = restrict(principal, "view", PriceObservation)
    if where.series_id is not None:
        query = query.where(PriceObservation.series_id == where.series_id)
    if where.commodity_id is not None:
        query = query.where(
            PriceObservation.series_id.in_(
                select(PriceSeries.id).where(PriceSeries.commodity_id == where.commodity_id)
            )
        )
    if where.status is not None:
        query = query.where(PriceObservation.status == where.status)
    if where.date_from is not None:
        query = query.where(PriceObservation.price_date >= where.date_from)
    if where.date_to is not None:
        query = query.where(PriceObservation.price_date <= where.date_to)
    if where.outlier is not None:
        query = query.where(PriceObservation.is_outlier.is_(where.outlier))
    query = query.order_by(PriceObservation.price_date.desc(), PriceObservation.id.desc())
    return session.scalars(query.limit(where.limit).offset(where.offset)).all()


def get_observation(session: Session, principal: Principal, observation_id: int) -> PriceObservation:
    return obtain(session, principal, PriceObservation, observation_id)


# --- the price valuation uses -----------------------------------------------------------------


@dataclass(frozen=True)
class PriceUsed:
    """The price of a commodity on a business date, and every observation it rests on."""

    series_id: int
    series_code: str
    commodity_id: int
    observation_id: int  # the latest approved observation on or before the date
    price_date: date
    price_fen_per_t: int  # what valuation uses
    mid_fen_per_t: int
    average_fen_per_t: int | None
    observation_ids: tuple[int, ...]
    stale: bool
    business_days_old: int


def price_for(
    session: Session, commodity_id: int, business_date: date, *, series_id: int | None = None
) -> PriceUsed | None:
    """The price valuation uses for ``commodity_id`` on ``business_date``: from the commodity's
    active primary series (or the series ``series_id``), the latest approved observation on or
    before the date; the lower of its mid and the mean of the series' ``average_days`` latest
    approved mids when the series asks for it. None when there is no such observation. A stale
    price is returned, marked stale: whether to use it is the caller's decision."""
    if series_id is not None:
        series = session.get(PriceSeries, series_id)
        if series is None or series.commodity_id != commodity_id:
            return None
        return _price_of_series(session, series, business_date)
    return prices_for(session, [commodity_id], business_date).get(commodity_id)


def prices_for(session: Session, commodity_ids: Iterable[int], business_date: date) -> dict[int, PriceUsed]:
    """``price_for`` of many commodities at once; those without a price are left out."""
    wanted = sorted(set(commodity_ids))
    if not wanted:
        return {}
    primaries = session.scalars(
        select(PriceSeries).where(
            PriceSeries.commodity_id.in_(wanted), PriceSeries.is_primary, PriceSeries.active
        )
    ).all()
    found = {}
    for series in primaries:
        used = _price_of_series(session, series, business_date)
        if used is not None:
            found[series.commodity_id] = used
    return found


def _price_of_series(session: Session, series: PriceSeries, on: date) -> PriceUsed | None:
    rows = session.execute(
        select(PriceObservation.id, PriceObservation.price_date, PriceObservation.price_mid_fen_per_t)
        .where(
            PriceObservation.series_id == series.id,
            PriceObservation.status == S.APPROVED,
            PriceObservation.price_date <= on,
        )
        .order_by(PriceObservation.price_date.desc())
        .limit(series.average_days or 1)
    ).all()
    if not rows:
        return None
    latest_id, latest_date, mid = rows[0]
    price, average = checks.conservative_price(mid, [row[2] for row in rows] if series.average_days else [])
    age = business_days_between(latest_date, on, HOLIDAYS)
    return PriceUsed(
        series_id=series.id,
        series_code=series.code,
        commodity_id=series.commodity_id,
        observation_id=latest_id,
        price_date=latest_date,
        price_fen_per_t=price,
        mid_fen_per_t=mid,
        average_fen_per_t=average,
        observation_ids=tuple(row[0] for row in rows) if series.average_days else (latest_id,),
        stale=age > series.stale_after_business_days,
        business_days_old=age,
    )


@dataclass(frozen=True)
class Staleness:
    series: PriceSeries
    latest_price_date: date | None
    business_days_old: int | None

    @property
    def stale(self) -> bool:
        return (
            self.business_days_old is None or self.business_days_old > self.series.stale_after_business_days
        )


def staleness(session: Session, principal: Principal, on: date) -> list[Staleness]:
    """How old the latest approved price of every active series is on ``on``."""
    series_list = session.scalars(
        restrict(principal, "view", PriceSeries).where(PriceSeries.active).order_by(PriceSeries.code)
    ).all()
    answers = []
    for series in series_list:
        latest = session.scalar(
            select(PriceObservation.price_date)
            .where(
                PriceObservation.series_id == series.id,
                PriceObservation.status == S.APPROVED,
                PriceObservation.price_date <= on,
            )
            .order_by(PriceObservation.price_date.desc())
            .limit(1)
        )
        age = None if latest is None else business_days_between(latest, on, HOLIDAYS)
        answers.append(Staleness(series, latest, age))
    return answers


def stale_series(session: Session, principal: Principal, on: date) -> list[Staleness]:
    """Active series whose latest approved price is older than their limit, or that have none."""
    return [answer for answer in staleness(session, principal, on) if answer.stale]
