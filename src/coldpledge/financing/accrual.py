"""Daily interest accrual, idempotent per business date (``coldpledge financing accrue``).

Each day a drawdown is out bears one day of interest on the principal outstanding at the end of
that day: from the disbursement day, not on the repayment day for what was repaid (算头不算尾).
The job accrues only days that have ended, and a repayment first accrues its drawdown up to the day
before it, so each day is accrued exactly once, on the principal it ended with.
From the maturity date on, principal still outstanding bears penalty interest (罚息) at the
penalty rate instead. Amounts are accrued in micro-fen and posted as the change in the rounded
cumulative amount (``interest``), so the posted fen never drift from the exact total.

Running the job for a date accrues every day up to and including it that a drawdown has not had
yet (a missed night is caught up, in order); running it again does nothing. Each drawdown is
accrued in a transaction of its own, under its row lock, so two schedulers running at once
accrue every day exactly once (and the unique (drawdown, date, kind) index is a second guard).
The job also marks drawdowns overdue past maturity and defaulted after ``DEFAULT_AFTER_DAYS``, and
expires facilities whose expiry date has come.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from coldpledge.audit.snapshot import snapshot
from coldpledge.calendar import business_date as today_of
from coldpledge.errors import N_, InvalidInput
from coldpledge.financing.interest import daily_accrual_ufen, post_fen
from coldpledge.financing.lifecycle import FACILITY_MOVES, FacilityAction
from coldpledge.financing.models import (
    OUTSTANDING,
    AccrualKind,
    Drawdown,
    DrawdownStatus,
    Facility,
    FacilityStatus,
    InterestAccrual,
)
from coldpledge.parties.policy import SYSTEM, Principal
from coldpledge.uow import UnitOfWork

# Overdue this many days, a loan is defaulted (non-performing at 90 days, the usual classification).
DEFAULT_AFTER_DAYS = 90
# The job takes no more than this many days of one drawdown in one run (a long outage is caught
# up over several runs rather than in one huge transaction).
MAX_DAYS_PER_RUN = 400


@dataclass
class AccrualRun:
    """What one run of the job did."""

    business_date: date
    drawdowns: int = 0
    days: int = 0
    interest_fen: int = 0
    penalty_fen: int = 0
    overdue: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)


@dataclass
class Accrued:
    days: int = 0
    interest_fen: int = 0
    penalty_fen: int = 0


def accrue(uow: UnitOfWork, business_date: date, principal: Principal = SYSTEM) -> AccrualRun:
    """Accrue every outstanding drawdown through ``business_date``, then move what fell due."""
    run = AccrualRun(business_date)
    with uow:
        if business_date >= today_of(uow.now()):
            raise InvalidInput(
                N_("Interest is accrued for days that have ended; {day} has not."),
                field="date",
                day=business_date.isoformat(),
            )
        drawdown_ids = list(
            uow.session.scalars(
                select(Drawdown.id)
                .where(Drawdown.status.in_(OUTSTANDING), Drawdown.accrued_until <= business_date)
                .order_by(Drawdown.id)
            )
        )
        facility_ids = list(
            uow.session.scalars(
                select(Facility.id)
                .where(
                    Facility.status.in_(FACILITY_MOVES[FacilityAction.EXPIRE].sources),
                    Facility.expiry_date <= business_date,
                )
                .order_by(Facility.id)
            )
        )
    for drawdown_id in drawdown_ids:
        with uow:
            drawdown = uow.session.get(Drawdown, drawdown_id, with_for_update=True, populate_existing=True)
            assert drawdown is not None
            status = drawdown.status
            done = accrue_drawdown(uow, principal, drawdown, business_date)
            uow.commit()
        if done.days:
            run.drawdowns += 1
            run.days += done.days
            run.interest_fen += done.interest_fen
            run.penalty_fen += done.penalty_fen
        if drawdown.status is not status and drawdown.status is DrawdownStatus.OVERDUE:
            run.overdue.append(drawdown.code)
        if drawdown.status is not status and drawdown.status is DrawdownStatus.DEFAULTED:
            run.defaulted.append(drawdown.code)
    for facility_id in facility_ids:
        with uow:
            facility = uow.session.get(Facility, facility_id, with_for_update=True, populate_existing=True)
            assert facility is not None
            if facility.status in FACILITY_MOVES[FacilityAction.EXPIRE].sources:
                before = snapshot(facility)
                facility.status = FacilityStatus.EXPIRED
                facility.status_changed_at = uow.now()
                uow.record(
                    principal, "facility.expire", facility, before=before, reason="expiry date reached"
                )
                run.expired.append(facility.code)
            uow.commit()
    return run


def accrue_due(uow: UnitOfWork) -> dict[str, int]:
    """The scheduler's step: accrue through yesterday (the last day that has ended). Cheap when
    done: only drawdowns not yet accrued through that day are read."""
    run = accrue(uow, today_of(uow.now()) - timedelta(days=1))
    return {
        "drawdowns": run.drawdowns,
        "days": run.days,
        "interest_fen": run.interest_fen,
        "penalty_fen": run.penalty_fen,
        "overdue": len(run.overdue),
        "defaulted": len(run.defaulted),
        "expired": len(run.expired),
    }


def accrue_drawdown(uow: UnitOfWork, principal: Principal, drawdown: Drawdown, through: date) -> Accrued:
    """Accrue ``drawdown`` (locked by the caller) for every day up to and including ``through``
    it has not had, then mark it overdue or defaulted if it is. Records, does not commit."""
    done = Accrued()
    if drawdown.status not in OUTSTANDING or drawdown.accrued_until is None:
        return done
    start = drawdown.accrued_until
    end = min(through, start + timedelta(days=MAX_DAYS_PER_RUN - 1))
    before = snapshot(drawdown)
    if start <= end:
        day = start
        while day <= end:
            posted = _accrue_day(uow, drawdown, day, drawdown.principal_outstanding_fen)
            if posted is not None:
                kind, fen = posted
                done.days += 1
                if kind is AccrualKind.PENALTY:
                    done.penalty_fen += fen
                else:
                    done.interest_fen += fen
            day += timedelta(days=1)
        drawdown.accrued_until = end + timedelta(days=1)
        uow.record(
            principal,
            "drawdown.accrue",
            drawdown,
            before=before,
            data={
                "from": start.isoformat(),
                "through": end.isoformat(),
                "interest_fen": done.interest_fen,
                "penalty_fen": done.penalty_fen,
            },
        )
    _fall_due(uow, principal, drawdown, end)
    return done


def _accrue_day(
    uow: UnitOfWork, drawdown: Drawdown, day: date, principal_fen: int
) -> tuple[AccrualKind, int] | None:
    if principal_fen <= 0:
        return None
    penalty = day >= drawdown.maturity_date
    kind = AccrualKind.PENALTY if penalty else AccrualKind.INTEREST
    rate_bp = drawdown.penalty_rate_bp if penalty else drawdown.rate_bp
    ufen = daily_accrual_ufen(principal_fen, rate_bp, drawdown.day_count)
    if penalty:
        cumulative = drawdown.penalty_accrued_ufen + ufen
        posted = post_fen(cumulative) - drawdown.penalty_posted_fen
        drawdown.penalty_accrued_ufen = cumulative
        drawdown.penalty_posted_fen += posted
    else:
        cumulative = drawdown.accrued_ufen + ufen
        posted = post_fen(cumulative) - drawdown.interest_posted_fen
        drawdown.accrued_ufen = cumulative
        drawdown.interest_posted_fen += posted
    uow.session.add(
        InterestAccrual(
            drawdown_id=drawdown.id,
            business_date=day,
            kind=kind,
            principal_fen=principal_fen,
            rate_bp=rate_bp,
            day_count=drawdown.day_count,
            ufen=ufen,
            cumulative_ufen=cumulative,
            posted_fen=posted,
            created_at=uow.now(),
        )
    )
    return kind, posted


def _fall_due(uow: UnitOfWork, principal: Principal, drawdown: Drawdown, through: date) -> None:
    """Past maturity with anything still owed: overdue; long overdue: defaulted (accelerated)."""
    owed = drawdown.principal_outstanding_fen + drawdown.interest_due_fen + drawdown.penalty_due_fen
    if owed == 0 or through < drawdown.maturity_date:
        return
    before = snapshot(drawdown)
    if drawdown.status is DrawdownStatus.ACTIVE:
        drawdown.status = DrawdownStatus.OVERDUE
        drawdown.overdue_since = drawdown.maturity_date
        drawdown.status_changed_at = uow.now()
        uow.record(principal, "drawdown.overdue", drawdown, before=before, reason="maturity date passed")
        before = snapshot(drawdown)
    if (
        drawdown.status is DrawdownStatus.OVERDUE
        and (through - drawdown.maturity_date).days >= DEFAULT_AFTER_DAYS
    ):
        drawdown.status = DrawdownStatus.DEFAULTED
        drawdown.status_changed_at = uow.now()
        uow.record(
            principal,
            "drawdown.default",
            drawdown,
            before=before,
            reason=f"overdue {DEFAULT_AFTER_DAYS} days",
        )
