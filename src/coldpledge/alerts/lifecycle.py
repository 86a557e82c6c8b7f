"""The alert and work-order state machines of DESIGN §5, and the SLA clock, as data. Pure: no I/O.

Alert (incident): pending → open → acknowledged → resolved → closed. The rule's condition
(pending, firing, resolved) is kept apart from the incident: a condition that clears resolves the
alert, but only a person closes it.

Work order: open → assigned → in_progress → pending_review → closed, or cancelled before closing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from coldpledge.choices import Choice, present
from coldpledge.errors import N_


@present(
    {"minor": N_("Minor"), "major": N_("Major"), "critical": N_("Critical")},
    {"minor": "yellow", "major": "orange", "critical": "red"},
)
class Severity(Choice):
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


RANK = {Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


@present(
    {"pending": N_("Pending"), "firing": N_("Firing"), "resolved": N_("Cleared")},
    {"pending": "yellow", "firing": "red", "resolved": "green"},
)
class ConditionState(Choice):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@present(
    {
        "pending": N_("Pending"),
        "open": N_("Open"),
        "acknowledged": N_("Acknowledged"),
        "resolved": N_("Resolved"),
        "closed": N_("Closed"),
    },
    {"pending": "yellow", "open": "red", "acknowledged": "orange", "resolved": "green", "closed": "grey"},
)
class AlertStatus(Choice):
    PENDING = "pending"
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


# An alert in one of these states is the one alert of its (rule, subject).
LIVE_ALERT: frozenset[AlertStatus] = frozenset(
    {AlertStatus.PENDING, AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}
)


@present({"acknowledge": N_("Acknowledge"), "resolve": N_("Resolve"), "close": N_("Close")})
class AlertAction(Choice):
    ACKNOWLEDGE = "acknowledge"
    RESOLVE = "resolve"
    CLOSE = "close"


ALERT_TRANSITIONS: dict[AlertStatus, dict[AlertAction, AlertStatus]] = {
    AlertStatus.PENDING: {},
    AlertStatus.OPEN: {
        AlertAction.ACKNOWLEDGE: AlertStatus.ACKNOWLEDGED,
        AlertAction.RESOLVE: AlertStatus.RESOLVED,
    },
    AlertStatus.ACKNOWLEDGED: {AlertAction.RESOLVE: AlertStatus.RESOLVED},
    AlertStatus.RESOLVED: {AlertAction.CLOSE: AlertStatus.CLOSED},
    AlertStatus.CLOSED: {},
}


def alert_actions(status: AlertStatus) -> list[str]:
    return [action.value for action in ALERT_TRANSITIONS[status]]


def next_alert_status(status: AlertStatus, action: AlertAction) -> AlertStatus:
    """The state after ``action``. Raises ``KeyError`` when the action is not allowed here."""
    return ALERT_TRANSITIONS[status][action]


@present(
    {
        "alert_response": N_("Alert response"),
        "stocktake": N_("Stocktake"),
        "patrol": N_("Patrol"),
        "release_execution": N_("Release execution"),
        "margin_call_follow_up": N_("Margin-call follow-up"),
        "disposal": N_("Disposal"),
        "device_maintenance": N_("Device maintenance"),
    }
)
class WorkOrderType(Choice):
    ALERT_RESPONSE = "alert_response"
    STOCKTAKE = "stocktake"
    PATROL = "patrol"
    RELEASE_EXECUTION = "release_execution"
    MARGIN_CALL_FOLLOW_UP = "margin_call_follow_up"
    DISPOSAL = "disposal"
    DEVICE_MAINTENANCE = "device_maintenance"


@present(
    {
        "open": N_("Open"),
        "assigned": N_("Assigned"),
        "in_progress": N_("In progress"),
        "pending_review": N_("Pending review"),
        "closed": N_("Closed"),
        "cancelled": N_("Cancelled"),
    },
    {
        "open": "red",
        "assigned": "orange",
        "in_progress": "blue",
        "pending_review": "purple",
        "closed": "grey",
        "cancelled": "grey",
    },
)
class WorkOrderStatus(Choice):
    OPEN = "open"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    PENDING_REVIEW = "pending_review"
    CLOSED = "closed"
    CANCELLED = "cancelled"


FINISHED: frozenset[WorkOrderStatus] = frozenset({WorkOrderStatus.CLOSED, WorkOrderStatus.CANCELLED})


@present(
    {
        "assign": N_("Assign"),
        "acknowledge": N_("Acknowledge"),
        "comment": N_("Comment"),
        "check_in": N_("Check in"),
        "start": N_("Start"),
        "resolve": N_("Resolve"),
        "close": N_("Close"),
        "cancel": N_("Cancel"),
    }
)
class WorkOrderAction(Choice):
    ASSIGN = "assign"
    ACKNOWLEDGE = "acknowledge"
    COMMENT = "comment"
    CHECK_IN = "check_in"
    START = "start"
    RESOLVE = "resolve"
    CLOSE = "close"
    CANCEL = "cancel"


W = WorkOrderStatus
WA = WorkOrderAction
# Comments and check-ins are notes on the order: they leave its state as it is.
_NOTES = {WA.COMMENT: None, WA.CHECK_IN: None}

WORK_ORDER_TRANSITIONS: dict[WorkOrderStatus, dict[WorkOrderAction, WorkOrderStatus | None]] = {
    W.OPEN: {WA.ASSIGN: W.ASSIGNED, WA.COMMENT: None, WA.CANCEL: W.CANCELLED},
    W.ASSIGNED: {
        WA.ASSIGN: W.ASSIGNED,
        WA.ACKNOWLEDGE: W.ASSIGNED,
        WA.START: W.IN_PROGRESS,
        **_NOTES,
        WA.CANCEL: W.CANCELLED,
    },
    W.IN_PROGRESS: {WA.ASSIGN: W.ASSIGNED, WA.RESOLVE: W.PENDING_REVIEW, **_NOTES, WA.CANCEL: W.CANCELLED},
    W.PENDING_REVIEW: {WA.CLOSE: W.CLOSED, WA.COMMENT: None},
    W.CLOSED: {},
    W.CANCELLED: {},
}


def work_order_actions(status: WorkOrderStatus, *, acknowledged: bool = False) -> list[str]:
    """The actions a person can take on a work order in this state, in a stable order."""
    return [
        action.value
        for action in WORK_ORDER_TRANSITIONS[status]
        if not (action is WA.ACKNOWLEDGE and acknowledged)
    ]


def is_allowed(status: WorkOrderStatus, action: WorkOrderAction) -> bool:
    return action in WORK_ORDER_TRANSITIONS[status]


def next_work_order_status(status: WorkOrderStatus, action: WorkOrderAction) -> WorkOrderStatus:
    """The state after ``action`` (the same state for notes). Raises ``KeyError`` when the action
    is not allowed here."""
    target = WORK_ORDER_TRANSITIONS[status][action]
    return status if target is None else target


# --- the SLA clock -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sla:
    acknowledge: timedelta
    resolve: timedelta


SLA: dict[Severity, Sla] = {
    Severity.CRITICAL: Sla(timedelta(minutes=15), timedelta(hours=4)),
    Severity.MAJOR: Sla(timedelta(hours=1), timedelta(hours=24)),
    Severity.MINOR: Sla(timedelta(hours=24), timedelta(hours=72)),
}


@dataclass(frozen=True)
class Deadlines:
    acknowledge_by: datetime
    resolve_by: datetime


def deadlines(severity: Severity, opened_at: datetime) -> Deadlines:
    sla = SLA[severity]
    return Deadlines(opened_at + sla.acknowledge, opened_at + sla.resolve)


# Who is told, step by step, while nobody acknowledges: the assignee first, then the supervision
# manager, then the bank's risk officer; after the last step the whole chain is reminded again.
ESCALATION_CHAIN: tuple[str, ...] = ("assignee", "supervision_manager", "bank_risk_officer")
LAST_LEVEL = len(ESCALATION_CHAIN) - 1


def next_escalation(severity: Severity, level: int, now: datetime) -> tuple[int, datetime]:
    """The level an unacknowledged work order moves to now, and when to look at it again: one
    acknowledgement period later, so reminders repeat until someone acknowledges."""
    return min(level + 1, LAST_LEVEL), now + SLA[severity].acknowledge


@present(
    {"on_time": N_("On time"), "at_risk": N_("At risk"), "overdue": N_("Overdue")},
    {"on_time": "green", "at_risk": "orange", "overdue": "red"},
)
class SlaState(Choice):
    ON_TIME = "on_time"
    AT_RISK = "at_risk"
    OVERDUE = "overdue"


# A work order is at risk in the last quarter of its time to resolve.
AT_RISK_SHARE = 4


def sla_state(
    opened_at: datetime,
    resolve_by: datetime,
    now: datetime,
    *,
    acknowledge_by: datetime | None = None,
    acknowledged: bool = True,
) -> SlaState:
    """On time, at risk or overdue, for screens. Not acknowledged in time counts as overdue."""
    if now >= resolve_by or (not acknowledged and acknowledge_by is not None and now >= acknowledge_by):
        return SlaState.OVERDUE
    if now >= resolve_by - (resolve_by - opened_at) / AT_RISK_SHARE:
        return SlaState.AT_RISK
    return SlaState.ON_TIME
