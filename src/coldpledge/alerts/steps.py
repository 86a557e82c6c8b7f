"""What a person is offered on a work order, and how its history reads: one rule for the phone
app and the desktop page, so neither offers a step the other would not (the service decides in
the end; an offered step it refuses would only waste a tap)."""

from __future__ import annotations

from coldpledge.alerts.lifecycle import WorkOrderAction, work_order_actions
from coldpledge.alerts.models import WorkOrder
from coldpledge.errors import N_
from coldpledge.parties.policy import Principal

# History events that are not steps a person takes.
EVENT_LABELS = {
    "work_order.opened": N_("Opened"),
    "work_order.severity_raised": N_("Severity raised"),
    "work_order.escalated": N_("Escalated"),
    "work_order.reminded": N_("Reminder sent"),
}


def offered_steps(order: WorkOrder, principal: Principal) -> list[str]:
    """The steps the order's state allows that this viewer may take: the assignee starts and
    resolves the order, a reviewer who did not handle it closes it."""
    offered = []
    for step in work_order_actions(order.status, acknowledged=order.acknowledged_at is not None):
        if not principal.can(f"work_order:{step}"):
            continue
        if step in ("start", "resolve") and order.assignee_user_id != principal.user_id:
            continue
        if step == "close" and principal.user_id in (order.assignee_user_id, order.resolved_by_user_id):
            continue
        offered.append(step)
    return offered


def history_label(action: str) -> str:
    """An event of the order's history as a person reads it (an English msgid)."""
    step = action.removeprefix("work_order.")
    if step in WorkOrderAction.values():
        return WorkOrderAction(step).label
    return EVENT_LABELS.get(action, action)
