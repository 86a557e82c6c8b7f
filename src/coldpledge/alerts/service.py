"""From rule transitions to alerts, and what people do to an alert (DESIGN §5).

``apply_transitions`` runs inside the caller's unit of work (the ingest transaction, or the
scheduler's), so an alert exists if and only if the readings that raised it were stored. One live
alert per (rule, subject) is a partial unique index; the insert is ``ON CONFLICT DO NOTHING`` on it,
so two ingest workers raising the same condition at once make one alert, and the second finds it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from coldpledge.alerts import workorders
from coldpledge.alerts.errors import illegal_for_alert
from coldpledge.alerts.lifecycle import (
    ALERT_TRANSITIONS,
    LIVE_ALERT,
    RANK,
    AlertAction,
    AlertStatus,
    ConditionState,
    Severity,
    WorkOrderType,
    next_alert_status,
)
from coldpledge.alerts.models import LIVE_ALERT_SQL, Alert
from coldpledge.alerts.people import (
    CRITICAL_RECIPIENTS_MIN,
    AlertScope,
    complete,
    critical_recipients,
    evidence_refs,
)
from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, InvalidInput
from coldpledge.notify.service import notify
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import PartyType, Principal, Role
from coldpledge.rules.policies import parameters_for_rooms
from coldpledge.uow import UnitOfWork

__all__ = ["AlertScope", "Transition", "acknowledge", "apply_transitions", "close", "resolve"]

# The rules engine acts as itself in the audit trail and the evidence log.
RULES = Principal(
    user_id=None, username="rules", org_id=None, party_type=PartyType.OPERATOR, role=Role.PLATFORM_ADMIN
)
# A condition that comes back this soon after clearing reopens its alert instead of raising a new
# one; this many returns and the alert is marked flapping and stops paging people.
FLAP_WINDOW = timedelta(minutes=30)
FLAP_LIMIT = 3


class Transition(Protocol):
    """What the rules engine emits (``coldpledge.rules.conditions.Transition``)."""

    @property
    def rule(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def trigger(self) -> dict[str, Any]: ...
    @property
    def detail(self) -> str: ...
    @property
    def flapping(self) -> bool: ...


def apply_transitions(
    uow: UnitOfWork, transitions: Sequence[Transition], *, scope: AlertScope
) -> list[Alert]:
    """Turn condition transitions into alerts, in the caller's open unit of work (no commit).

    pending: the alert exists as pending (not yet an incident); firing: it is open (a new one, the
    pending one, or a recently cleared one reopened); resolved: the condition cleared and the alert
    is resolved. Major and critical alerts open an alert-response work order; critical ones reach
    at least three people. Returns the alerts touched, in order.
    """
    if not transitions:
        return []
    place = complete(uow.session, scope)
    related = evidence_refs(uow.session, place)
    touched: list[Alert] = []
    for transition in transitions:
        alert = _apply(uow, transition, place, related)
        if alert is not None and alert not in touched:
            touched.append(alert)
    return touched


def _apply(uow: UnitOfWork, t: Transition, place: AlertScope, related: list[str]) -> Alert | None:
    state, severity = ConditionState(t.state), Severity(t.severity)
    session = uow.session
    refs = [*related, t.subject]
    data = {"transition": _as_data(t)}
    alert = _live(session, t.rule, t.subject)
    if state is ConditionState.RESOLVED:
        if alert is None:
            return None
        before = snapshot(alert)
        alert.condition = ConditionState.RESOLVED
        alert.last_transition_at = t.at
        if alert.status is AlertStatus.PENDING:
            # It never fired: nobody was asked to act, so there is nothing to resolve.
            alert.status = AlertStatus.CLOSED
            alert.closed_at = t.at
            alert.resolution = t.detail
            uow.record(RULES, "alert.withdrawn", alert, before=before, related=refs, data=data)
        else:
            alert.status = AlertStatus.RESOLVED
            alert.resolved_at = t.at
            alert.resolution = t.detail
            uow.record(RULES, "alert.resolved", alert, before=before, related=refs, data=data)
        return alert

    if alert is None and state is ConditionState.FIRING:
        alert = _reopen_if_flapping(uow, t, severity, refs, data)
        if alert is not None:
            return alert
    if alert is None:
        status = AlertStatus.OPEN if state is ConditionState.FIRING else AlertStatus.PENDING
        alert, created = _insert_or_get(session, t, severity, state, status, place)
        if created:
            action = "alert.opened" if status is AlertStatus.OPEN else "alert.pending"
            uow.record(RULES, action, alert, before=None, related=refs, data=data)
            if status is AlertStatus.OPEN:
                _on_fire(uow, alert, place)
            return alert
    if state is ConditionState.PENDING:
        return alert
    before = snapshot(alert)
    if alert.status is AlertStatus.PENDING:
        alert.status = AlertStatus.OPEN
        alert.condition = ConditionState.FIRING
        alert.severity = severity
        alert.triggered_at, alert.trigger, alert.detail = t.at, dict(t.trigger), t.detail
        alert.last_transition_at = t.at
        uow.record(RULES, "alert.opened", alert, before=before, related=refs, data=data)
        _on_fire(uow, alert, place)
    elif RANK[severity] > RANK[alert.severity]:
        alert.severity = severity
        alert.triggered_at, alert.trigger, alert.detail = t.at, dict(t.trigger), t.detail
        alert.last_transition_at = t.at
        uow.record(RULES, "alert.severity_raised", alert, before=before, related=refs, data=data)
        _on_fire(uow, alert, place)
    elif t.flapping and not alert.flapping:
        # The engine holds a flapping condition firing instead of flipping it: say so on the alert.
        alert.flapping = True
        alert.last_transition_at = t.at
        uow.record(RULES, "alert.flapping", alert, before=before, related=refs, data=data)
    return alert


def _live(session: Session, rule: str, subject: str) -> Alert | None:
    return session.scalars(
        select(Alert)
        .where(Alert.rule == rule, Alert.subject == subject, Alert.status.in_(LIVE_ALERT))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def _insert_or_get(
    session: Session,
    t: Transition,
    severity: Severity,
    state: ConditionState,
    status: AlertStatus,
    place: AlertScope,
) -> tuple[Alert, bool]:
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(Alert)
        .values(
            rule=t.rule,
            subject=t.subject,
            severity=severity,
            condition=state,
            status=status,
            triggered_at=t.at,
            trigger=dict(t.trigger),
            detail=t.detail,
            room_id=place.room_id,
            warehouse_id=place.warehouse_id,
            virtual_warehouse_id=place.virtual_warehouse_id,
            first_transition_at=t.at,
            last_transition_at=t.at,
        )
        .on_conflict_do_nothing(index_elements=["rule", "subject"], index_where=text(LIVE_ALERT_SQL))
        .returning(Alert.id)
    )
    created_id = session.execute(statement).scalar()
    if created_id is not None:
        return session.get_one(Alert, created_id), True
    # Another writer raised it first (on PostgreSQL, after waiting for its commit): use that one.
    found = _live(session, t.rule, t.subject)
    assert found is not None, "the conflicting live alert vanished"
    return found, False


def _reopen_if_flapping(
    uow: UnitOfWork, t: Transition, severity: Severity, refs: list[str], data: dict[str, Any]
) -> Alert | None:
    """A condition back within ``FLAP_WINDOW`` of clearing reopens the alert it cleared."""
    recent = uow.session.scalars(
        select(Alert)
        .where(
            Alert.rule == t.rule,
            Alert.subject == t.subject,
            Alert.status == AlertStatus.RESOLVED,
            Alert.resolved_by_user_id.is_(None),
            Alert.resolved_at >= t.at - FLAP_WINDOW,
        )
        .order_by(Alert.id.desc())
        .limit(1)
        .with_for_update()
    ).first()
    if recent is None:
        return None
    before = snapshot(recent)
    recent.status = AlertStatus.ACKNOWLEDGED if recent.acknowledged_at is not None else AlertStatus.OPEN
    recent.condition = ConditionState.FIRING
    recent.severity = max(severity, recent.severity, key=RANK.__getitem__)
    recent.resolved_at = None
    recent.resolution = None
    recent.flips += 1
    recent.flapping = recent.flips >= FLAP_LIMIT
    recent.last_transition_at = t.at
    uow.record(RULES, "alert.reopened", recent, before=before, related=refs, data=data)
    if not recent.flapping:
        place = AlertScope(recent.room_id, recent.warehouse_id, recent.virtual_warehouse_id)
        _on_fire(uow, recent, place)
    return recent


def _on_fire(uow: UnitOfWork, alert: Alert, place: AlertScope) -> None:
    """A major or critical alert gets its response work order; a critical one pages people."""
    if alert.severity is Severity.MINOR:
        return
    order = workorders.live_response(uow.session, alert.id)
    if order is None:
        order = workorders.open_work_order(
            uow,
            RULES,
            kind=WorkOrderType.ALERT_RESPONSE,
            severity=alert.severity,
            title=_title(alert),
            description=alert.detail,
            place=place,
            subject=alert.subject,
            alert=alert,
        )
    elif RANK[alert.severity] > RANK[order.severity]:
        workorders.raise_severity(uow, RULES, order, alert.severity)
    if alert.severity is Severity.CRITICAL:
        notify(
            uow,
            user_ids=critical_recipients(
                uow.session, place, order.assignee_user_id, _recipients_min(uow.session, place)
            ),
            kind="alert.critical",
            subject_ref=alert.subject_ref,
            title=_title(alert),
            body=alert.detail,
            severity=alert.severity.value,
            at=uow.now(),
        )


def _recipients_min(session: Session, place: AlertScope) -> int:
    """How many people a critical alert must reach: the room's policy says
    (``alert_recipients_min``, never fewer than GSP's three); elsewhere GSP's three."""
    if place.room_id is None:
        return CRITICAL_RECIPIENTS_MIN
    found = parameters_for_rooms(session, [place.room_id]).get(place.room_id)
    wanted = CRITICAL_RECIPIENTS_MIN if found is None else found[0].alert_recipients_min
    return max(wanted, CRITICAL_RECIPIENTS_MIN)


def _title(alert: Alert) -> str:
    return f"{alert.severity.value.upper()} {alert.rule} on {alert.subject}"[:200]


def _as_data(t: Transition) -> dict[str, Any]:
    return {
        "rule": t.rule,
        "subject": t.subject,
        "state": t.state,
        "severity": t.severity,
        "at": t.at,
        "trigger": dict(t.trigger),
        "detail": t.detail,
        "flapping": t.flapping,
    }


# --- what people do to an alert ------------------------------------------------------------------


def _step(
    uow: UnitOfWork, principal: Principal, alert_id: int, action: AlertAction
) -> tuple[Alert, dict[str, Any]]:
    alert = obtain(uow.session, principal, Alert, alert_id, action.value, for_update=True)
    if action not in _allowed(alert.status):
        raise illegal_for_alert(alert.status, action)
    return alert, snapshot(alert)


def _allowed(status: AlertStatus) -> Iterable[AlertAction]:
    return ALERT_TRANSITIONS[status]


def _refs(session: Session, alert: Alert) -> list[str]:
    place = AlertScope(alert.room_id, alert.warehouse_id, alert.virtual_warehouse_id)
    return [*evidence_refs(session, place), alert.subject]


def acknowledge(uow: UnitOfWork, principal: Principal, alert_id: int, note: str | None) -> Alert:
    """Someone has seen the alert and takes it in hand."""
    with uow:
        alert, before = _step(uow, principal, alert_id, AlertAction.ACKNOWLEDGE)
        alert.status = next_alert_status(alert.status, AlertAction.ACKNOWLEDGE)
        alert.acknowledged_at = uow.now()
        alert.acknowledged_by_user_id = principal.user_id
        uow.record(
            principal,
            "alert.acknowledged",
            alert,
            before=before,
            reason=note,
            related=_refs(uow.session, alert),
        )
        uow.commit()
        return alert


def resolve(uow: UnitOfWork, principal: Principal, alert_id: int, resolution: str) -> Alert:
    """A person declares the incident handled, whatever the condition says."""
    with uow:
        alert, before = _step(uow, principal, alert_id, AlertAction.RESOLVE)
        if not resolution.strip():
            raise InvalidInput(N_("Say how the alert was resolved."), field="resolution")
        alert.status = next_alert_status(alert.status, AlertAction.RESOLVE)
        alert.resolved_at = uow.now()
        alert.resolved_by_user_id = principal.user_id
        alert.resolution = resolution
        uow.record(
            principal,
            "alert.resolved",
            alert,
            before=before,
            reason=resolution,
            related=_refs(uow.session, alert),
        )
        uow.commit()
        return alert


def close(uow: UnitOfWork, principal: Principal, alert_id: int, note: str | None) -> Alert:
    with uow:
        alert, before = _step(uow, principal, alert_id, AlertAction.CLOSE)
        close_resolved(uow, principal, alert, before, note)
        uow.commit()
        return alert


def close_resolved(
    uow: UnitOfWork, principal: Principal, alert: Alert, before: dict[str, Any], note: str | None
) -> None:
    alert.status = next_alert_status(alert.status, AlertAction.CLOSE)
    alert.closed_at = uow.now()
    alert.closed_by_user_id = principal.user_id
    uow.record(
        principal, "alert.closed", alert, before=before, reason=note, related=_refs(uow.session, alert)
    )
