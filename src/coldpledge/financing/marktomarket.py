"""The daily mark-to-market (盯市) of every facility, and the re-evaluation a cure causes at once.

``mark_to_market(uow_factory, business_date)`` values every facility that has money out or may
have (active, suspended, expired; not disposed) on the business date, line by line at the day's
prices (``valuation``), and settles each valuation's decision: the risk state moves, margin calls
are issued, cured or expired, alerts are raised and resolved, the parties are told, and a facility
that reaches liquidation has its loans accelerated and its goods sent to disposal
(``risk_effects``).

It is idempotent per business date and safe with two schedulers running at once: a facility has
one daily valuation per date (a partial unique index). On PostgreSQL the whole run is one set-based
pass (``mtm_sql``) under an advisory lock per date: a second run waits, then inserts nothing. On
SQLite each facility is valued in a transaction of its own, and writers are serialised anyway.

A deposit of margin, a repayment or goods attached to a facility in warning or under margin call
re-evaluate it at once (``revalue_after``, an intraday valuation) and cure the call when its LTV is
back within the pledge rate; an intraday re-evaluation never makes things worse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from coldpledge.alerts.lifecycle import LIVE_ALERT
from coldpledge.alerts.models import Alert
from coldpledge.calendar import BUSINESS_TZ
from coldpledge.calendar import business_date as business_date_of
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import N_, InvalidInput
from coldpledge.financing import margincalls, mtm_sql, risk_effects
from coldpledge.financing.businessdays import is_business_day
from coldpledge.financing.models import Facility, FacilityStatus
from coldpledge.financing.mtm_models import MarginCallEventKind, Valuation, ValuationKind
from coldpledge.financing.risk import RiskState
from coldpledge.financing.valuation import (
    Decision,
    decide,
    facility_lines,
    risk_lines,
    unpriced_commodities,
    value_facility,
)
from coldpledge.parties.policy import Principal
from coldpledge.rules.catalogue import RuleCode
from coldpledge.uow import UnitOfWork

MTM = risk_effects.MTM
# Facilities with money out, or that may have: marked every business day.
MARKED = (FacilityStatus.ACTIVE, FacilityStatus.SUSPENDED, FacilityStatus.EXPIRED)
# Risk states a cure may improve at once.
CURABLE = (RiskState.WARNING, RiskState.MARGIN_CALL)

UowFactory = Callable[[], UnitOfWork]


@dataclass
class MarkRun:
    """What one run of the job did."""

    business_date: date
    path: str
    facilities: int = 0
    valued: int = 0
    lines: int = 0
    held: int = 0
    moved: dict[str, int] = field(default_factory=dict)
    margin_calls_issued: int = 0
    margin_calls_cured: int = 0
    margin_calls_expired: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def in_scope() -> Any:
    return and_(Facility.status.in_(MARKED), Facility.risk_state != RiskState.DISPOSED)


def marked_already(business_date: date) -> Any:
    return exists().where(
        Valuation.facility_id == Facility.id,
        Valuation.business_date == business_date,
        Valuation.kind == ValuationKind.DAILY,
    )


def mark_to_market(uow_factory: UowFactory, business_date: date, principal: Principal = MTM) -> MarkRun:
    """Mark every facility in scope for ``business_date`` that has not been marked for it yet."""
    started = time.perf_counter()
    with uow_factory() as uow:
        if business_date > business_date_of(uow.now()):
            raise InvalidInput(
                N_("Collateral is marked on prices that exist: {day} has not come yet."),
                field="business_date",
                day=business_date.isoformat(),
            )
        set_based = uow.session.get_bind().dialect.name == "postgresql"
        waiting = list(
            uow.session.scalars(
                select(Facility.id).where(in_scope(), ~marked_already(business_date)).order_by(Facility.id)
            )
        )
    run = MarkRun(business_date, "set" if set_based else "each")
    if waiting:
        if set_based:
            _mark_set(uow_factory, business_date, principal, run)
        else:
            _mark_each(uow_factory, business_date, principal, run, waiting)
    run.seconds = round(time.perf_counter() - started, 3)
    return run


def _mark_each(
    uow_factory: UowFactory, business_date: date, principal: Principal, run: MarkRun, facility_ids: list[int]
) -> None:
    run.facilities = len(facility_ids)
    for facility_id in facility_ids:
        with uow_factory() as uow:
            facility = uow.session.get(Facility, facility_id, with_for_update=True, populate_existing=True)
            assert facility is not None
            done = uow.session.scalar(
                select(Valuation.id).where(
                    Valuation.facility_id == facility_id,
                    Valuation.business_date == business_date,
                    Valuation.kind == ValuationKind.DAILY,
                )
            )
            if done is not None or facility.status not in MARKED or facility.risk_state is RiskState.DISPOSED:
                continue
            valuation = value_facility(uow, facility, business_date, ValuationKind.DAILY)
            decision = decision_for(uow.session, facility, valuation)
            _count(run, valuation.lines, decision)
            settle(uow, principal, facility, valuation, decision)
            watch_prices(uow, facility, valuation, live_alert=None)
            uow.commit()


def _mark_set(uow_factory: UowFactory, business_date: date, principal: Principal, run: MarkRun) -> None:
    """The PostgreSQL run: the valuations and their lines in a few statements, then the decisions,
    carried out only where something happens."""
    with uow_factory() as uow:
        session = uow.session
        marked = mtm_sql.value_all(session, business_date, uow.now())
        run.facilities = marked.facilities
        live = live_price_alerts(session)
        for row in marked.rows:
            decision = decide(
                row.risk_state,
                row.ltv_bp,
                exposure_fen=row.exposure_fen,
                complete=row.unpriced_lines == 0,
                lines=risk_lines(
                    row.pledge_rate_bp, row.warning_line_bp, row.margin_call_line_bp, row.liquidation_line_bp
                ),
                deadline=row.deadline,
                business_date=business_date,
                cure_business_days=row.cure_business_days,
                waived_until=row.waived_until,
            )
            _count(run, row.lines, decision)
            incomplete = row.unpriced_lines > 0 and row.exposure_fen > 0
            if not decision.changed and incomplete == (row.facility_id in live):
                continue
            facility = session.get_one(Facility, row.facility_id)
            valuation = session.get_one(Valuation, row.valuation_id)
            settle(uow, principal, facility, valuation, decision)
            watch_prices(uow, facility, valuation, live_alert=row.facility_id in live)
        uow.commit()


def _count(run: MarkRun, lines: int, decision: Decision) -> None:
    run.valued += 1
    run.lines += lines
    run.held += decision.held
    if decision.changed:
        run.moved[decision.after.value] = run.moved.get(decision.after.value, 0) + 1
    if decision.opens_margin_call:
        run.margin_calls_issued += 1
    if decision.closes_margin_call:
        if decision.after is RiskState.NORMAL:
            run.margin_calls_cured += 1
        else:
            run.margin_calls_expired += 1


def decision_for(
    session: Session, facility: Facility, valuation: Valuation, *, intraday: bool = False
) -> Decision:
    call = margincalls.open_call_of(session, facility.id)
    return decide(
        facility.risk_state,
        valuation.ltv_bp,
        exposure_fen=valuation.exposure_fen,
        complete=valuation.complete,
        lines=facility_lines(facility),
        deadline=call.deadline if call is not None else None,
        business_date=valuation.business_date,
        cure_business_days=facility.cure_business_days,
        waived_until=margincalls.waived_until(session, facility.id),
        intraday=intraday,
    )


def settle(
    uow: UnitOfWork, principal: Principal, facility: Facility, valuation: Valuation, decision: Decision
) -> None:
    """Carry a valuation's decision out on the facility (locked by the caller); no commit."""
    valuation.risk_after = decision.after
    valuation.risk_reason = decision.reason
    valuation.held = decision.held
    if not decision.changed:
        return
    assert decision.reason is not None  # a held valuation changes nothing
    call = None
    if decision.closes_margin_call:
        call = margincalls.settle_open_call(uow, principal, facility, decision.reason, valuation)
    if decision.opens_margin_call:
        assert decision.deadline is not None
        call = margincalls.open_call(uow, principal, facility, valuation, decision.deadline)
    risk_effects.move(uow, principal, facility, decision.after, decision.reason.value, valuation, call=call)


def watch_prices(
    uow: UnitOfWork, facility: Facility, valuation: Valuation, *, live_alert: bool | None
) -> None:
    """Raise the facility's ``price_stale`` alert while it owes something and some of its goods have
    no usable price; resolve it once they have. ``live_alert`` None: look it up."""
    incomplete = valuation.unpriced_lines > 0 and valuation.exposure_fen > 0
    if live_alert is None:
        live_alert = live_price_alerts(uow.session, [facility.id]) != set()
    if incomplete and not live_alert:
        commodities = unpriced_commodities(uow.session, [valuation.id]).get(valuation.id, [])
        risk_effects.price_stale(uow, facility, True, valuation, commodities)
    elif live_alert and not incomplete:
        risk_effects.price_stale(uow, facility, False, valuation, [])


def live_price_alerts(session: Session, facility_ids: list[int] | None = None) -> set[int]:
    """Facilities (of ``facility_ids``, or all) with a live ``price_stale`` alert."""
    query = select(Alert.facility_id).where(
        Alert.rule == RuleCode.PRICE_STALE.value,
        Alert.facility_id.is_not(None),
        Alert.status.in_(LIVE_ALERT),
    )
    if facility_ids is not None:
        query = query.where(Alert.facility_id.in_(facility_ids))
    return {facility_id for facility_id in session.scalars(query) if facility_id is not None}


def revalue_after(
    uow: UnitOfWork,
    principal: Principal,
    facility: Facility,
    kind: MarginCallEventKind,
    ref: str,
    amount_fen: int | None = None,
) -> Valuation | None:
    """After a deposit, a repayment or goods attached (``kind``, ``ref`` naming the record), in the
    caller's unit of work with the facility locked: a facility in warning or under margin call is
    valued again at once, the event is noted on its open call, and the state improves if the new
    LTV allows (a call cures when LTV is back within the pledge rate)."""
    if facility.risk_state not in CURABLE:
        return None
    valuation = value_facility(uow, facility, business_date_of(uow.now()), ValuationKind.INTRADAY, cause=ref)
    call = margincalls.open_call_of(uow.session, facility.id)
    if call is not None:
        margincalls.event(
            uow,
            call,
            kind,
            valuation=valuation,
            ref=ref,
            amount_fen=amount_fen,
            ltv_bp=valuation.ltv_bp,
            user_id=principal.user_id,
        )
    settle(uow, MTM, facility, valuation, decision_for(uow.session, facility, valuation, intraday=True))
    return valuation


def mark_due(database: Database, settings: Settings, moment: datetime) -> dict[str, Any]:
    """The scheduler's step: on a business day, once the day's prices are in (after
    ``settings.mtm_after``, China time), mark the day. Runs again do nothing."""
    local = moment.astimezone(BUSINESS_TZ)
    hour, minute = (int(part) for part in settings.mtm_after.split(":"))
    if not is_business_day(local.date()) or (local.hour, local.minute) < (hour, minute):
        return {"due": 0}
    run = mark_to_market(lambda: UnitOfWork(database.write_session, clock=lambda: moment), local.date())
    return {
        "due": 1,
        "valued": run.valued,
        "held": run.held,
        "moved": sum(run.moved.values()),
        "margin_calls_issued": run.margin_calls_issued,
    }
