"""What a change of a facility's risk state does, in the caller's unit of work: the record, the
alerts, the notices to its bank, borrower and guarantor, the margin-call follow-up work order, and
on liquidation the start of disposal (``disposal.start_disposal``: loans accelerated, goods to
disposal).

Alerts go through the rules' mechanism (``alerts.service.apply_transitions``) with one rule per
risk state on the subject ``facility:<code>``: ``ltv_warning`` (major) while in warning,
``margin_call`` (critical) while a call is open, ``ltv_liquidation`` (critical) in liquidation.
The facility's risk state is the condition (``step_risk`` already keeps its hysteresis), so a move
resolves the alert of the state left and fires the one of the state entered. A facility whose
value is incomplete has a ``price_stale`` alert (major) until its prices are usable again. Each
alert names the facility (``alerts.facility_id``), so whoever sees the facility sees its alerts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from coldpledge.alerts.lifecycle import Severity, WorkOrderType
from coldpledge.alerts.models import Alert
from coldpledge.alerts.people import AlertScope
from coldpledge.alerts.service import apply_transitions
from coldpledge.alerts.workorders import open_work_order
from coldpledge.audit.snapshot import snapshot
from coldpledge.financing.disposal import start_disposal
from coldpledge.financing.models import Facility
from coldpledge.financing.mtm_models import MarginCall, Valuation
from coldpledge.financing.risk import RiskState
from coldpledge.notify.service import notify
from coldpledge.parties.models import User
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import Transition
from coldpledge.uow import UnitOfWork

# The daily job and the re-evaluations act as the platform in the audit trail and evidence log.
MTM = Principal(
    user_id=None,
    username="mark-to-market",
    org_id=None,
    party_type=PartyType.OPERATOR,
    role=Role.PLATFORM_ADMIN,
)
MARGIN_CALL_RULE = "margin_call"
RULE_OF_STATE: dict[RiskState, tuple[str, str]] = {
    RiskState.WARNING: (RuleCode.LTV_WARNING.value, "major"),
    RiskState.MARGIN_CALL: (MARGIN_CALL_RULE, "critical"),
    RiskState.LIQUIDATION: (RuleCode.LTV_LIQUIDATION.value, "critical"),
}


def move(
    uow: UnitOfWork,
    principal: Principal,
    facility: Facility,
    after: RiskState,
    reason: str,
    valuation: Valuation,
    *,
    call: MarginCall | None = None,
) -> None:
    """Move the facility (locked by the caller) to ``after`` and do what that entails."""
    before_state = facility.risk_state
    if after is before_state:
        return
    before = snapshot(facility)
    facility.risk_state = after
    related = [valuation.subject_ref] + ([call.subject_ref] if call is not None else [])
    figures = _figures(valuation)
    uow.record(
        principal,
        "facility.risk_state",
        facility,
        before=before,
        reason=reason,
        related=related,
        data={"from": before_state.value, "to": after.value, **figures},
    )
    detail = _detail(facility, after, reason, valuation, call)
    raise_alerts(uow, facility, _transitions(uow, facility, before_state, after, figures, detail, reason))
    tell(
        uow,
        facility,
        kind=f"facility.{after.value}",
        subject_ref=call.subject_ref
        if call is not None and after is RiskState.MARGIN_CALL
        else facility.subject_ref,
        title=f"{facility.code}: {after.label}",
        body=detail,
        severity=RULE_OF_STATE[after][1] if after in RULE_OF_STATE else "minor",
    )
    if after is RiskState.MARGIN_CALL and call is not None:
        _follow_up(uow, principal, facility, call, detail)
    if after is RiskState.LIQUIDATION:
        _liquidate(uow, principal, facility, reason)


def _figures(valuation: Valuation) -> dict[str, Any]:
    return {
        "valuation_id": valuation.id,
        "business_date": valuation.business_date.isoformat(),
        "exposure_fen": valuation.exposure_fen,
        "collateral_value_fen": valuation.collateral_value_fen,
        "ltv_bp": valuation.ltv_bp,
    }


def _detail(
    facility: Facility, after: RiskState, reason: str, valuation: Valuation, call: MarginCall | None
) -> str:
    ltv = "∞" if valuation.ltv_bp is None else f"{valuation.ltv_bp / 100:.2f} %"
    text = (
        f"{facility.code} is now {after.value} ({reason}): LTV {ltv} on {valuation.business_date}, "
        f"exposure {valuation.exposure_fen} fen against collateral worth "
        f"{valuation.collateral_value_fen} fen."
    )
    if call is not None and after is RiskState.MARGIN_CALL:
        goods = (
            f" or goods worth {call.cure_goods_value_fen} fen ({call.cure_goods_g} g at "
            f"{call.cure_price_fen_per_t} fen/t)"
            if call.cure_goods_g is not None
            else ""
        )
        text += f" Margin call {call.code}: bring {call.cure_cash_fen} fen{goods} by {call.deadline}."
    return text


def _transitions(
    uow: UnitOfWork,
    facility: Facility,
    before: RiskState,
    after: RiskState,
    figures: dict[str, Any],
    detail: str,
    reason: str,
) -> list[Transition]:
    out: list[Transition] = []
    if before in RULE_OF_STATE:
        rule, severity = RULE_OF_STATE[before]
        out.append(Transition(rule, facility.subject_ref, "resolved", severity, uow.now(), figures, detail))
    if after in RULE_OF_STATE:
        rule, severity = RULE_OF_STATE[after]
        out.append(Transition(rule, facility.subject_ref, "firing", severity, uow.now(), figures, detail))
    return out


def resolve_alert_of(uow: UnitOfWork, facility: Facility, state: RiskState, detail: str) -> list[Alert]:
    """Resolve the alert of ``state`` (the state the facility left by another way than a
    valuation: disposal, say)."""
    if state not in RULE_OF_STATE:
        return []
    rule, severity = RULE_OF_STATE[state]
    return raise_alerts(
        uow, facility, [Transition(rule, facility.subject_ref, "resolved", severity, uow.now(), {}, detail)]
    )


def raise_alerts(uow: UnitOfWork, facility: Facility, transitions: Sequence[Transition]) -> list[Alert]:
    """Apply the transitions; the alerts they touch belong to the facility, and their response
    work orders to the bank's risk officer."""
    scope = AlertScope(responder_user_id=bank_officer(uow, facility))
    alerts = apply_transitions(uow, transitions, scope=scope)
    for alert in alerts:
        if alert.facility_id is None:
            alert.facility_id = facility.id
    return alerts


def price_stale(
    uow: UnitOfWork, facility: Facility, firing: bool, valuation: Valuation, commodity_ids: Sequence[int]
) -> list[Alert]:
    """The ``price_stale`` alert of a facility whose value was incomplete (``firing``) or is whole
    again."""
    trigger = {
        **_figures(valuation),
        "unpriced_lines": valuation.unpriced_lines,
        "commodity_ids": list(commodity_ids),
    }
    detail = (
        f"{facility.code}: {valuation.unpriced_lines} pledged receipts have no usable price on "
        f"{valuation.business_date}; its risk state is held."
        if firing
        else f"{facility.code}: every pledged receipt is priced again."
    )
    transition = Transition(
        RuleCode.PRICE_STALE.value,
        facility.subject_ref,
        "firing" if firing else "resolved",
        "major",
        uow.now(),
        trigger,
        detail,
    )
    return raise_alerts(uow, facility, [transition])


def party_users(uow: UnitOfWork, facility: Facility) -> list[int]:
    """The active people of the facility's bank, borrower and guarantor."""
    orgs = [facility.bank_org_id, facility.borrower_org_id]
    if facility.guarantor_org_id is not None:
        orgs.append(facility.guarantor_org_id)
    return list(
        uow.session.scalars(
            select(User.id).where(User.organisation_id.in_(orgs), User.is_active).order_by(User.id)
        )
    )


def tell(
    uow: UnitOfWork, facility: Facility, *, kind: str, subject_ref: str, title: str, body: str, severity: str
) -> list[int]:
    people = party_users(uow, facility)
    notify(
        uow,
        user_ids=people,
        kind=kind,
        subject_ref=subject_ref,
        title=title[:200],
        body=body,
        severity=severity,
        at=uow.now(),
    )
    return people


def _follow_up(
    uow: UnitOfWork, principal: Principal, facility: Facility, call: MarginCall, detail: str
) -> None:
    """A margin-call follow-up work order for the bank's risk officer (the first of them)."""
    officer = bank_officer(uow, facility)
    open_work_order(
        uow,
        principal,
        kind=WorkOrderType.MARGIN_CALL_FOLLOW_UP,
        severity=Severity.MAJOR,
        title=f"Follow up margin call {call.code} on {facility.code} (deadline {call.deadline})",
        description=detail,
        place=AlertScope(),
        subject=call.subject_ref,
        assignee_user_id=officer,
    )


def bank_officer(uow: UnitOfWork, facility: Facility) -> int | None:
    """The facility bank's first active risk officer: who answers for its alerts."""
    return uow.session.scalars(
        select(User.id)
        .where(
            User.organisation_id == facility.bank_org_id,
            User.role == Role.BANK_RISK_OFFICER,
            User.is_active,
        )
        .order_by(User.id)
        .limit(1)
    ).first()


def _liquidate(uow: UnitOfWork, principal: Principal, facility: Facility, reason: str) -> None:
    """Liquidation (平仓): releases are frozen (the release checks read the risk state), and
    ``disposal.start_disposal`` accelerates the loans and sends the facility's goods to disposal."""
    start_disposal(
        uow, facility, principal=principal, reason=f"facility {facility.code} in liquidation: {reason}"
    )
