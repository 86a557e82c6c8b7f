"""Errors particular to alerts and work orders."""

from __future__ import annotations

from coldpledge.alerts.lifecycle import (
    AlertAction,
    AlertStatus,
    WorkOrderAction,
    WorkOrderStatus,
    alert_actions,
    work_order_actions,
)
from coldpledge.errors import N_, IllegalTransition
from coldpledge.uow import CONSTRAINT_MESSAGES

CONSTRAINT_MESSAGES.update(
    {
        "uq_alerts_one_live_per_rule_subject": N_("This condition already has an open alert."),
        "uq_work_orders_one_live_per_alert": N_("This alert already has an open work order."),
    }
)
# SQLite reports a failed partial unique index by its columns, not its name.
CONSTRAINT_MESSAGES["alerts.rule, alerts.subject"] = CONSTRAINT_MESSAGES[
    "uq_alerts_one_live_per_rule_subject"
]
CONSTRAINT_MESSAGES["work_orders.alert_id"] = CONSTRAINT_MESSAGES["uq_work_orders_one_live_per_alert"]


def illegal_for_alert(status: AlertStatus, action: AlertAction) -> IllegalTransition:
    return IllegalTransition(
        N_("The alert is {state_label}: “{action}” is not possible in that state."),
        state=status.value,
        state_label=status.label,
        action=action.label,
        allowed_actions=alert_actions(status),
    )


def illegal_for_work_order(
    status: WorkOrderStatus, action: WorkOrderAction, *, acknowledged: bool
) -> IllegalTransition:
    return IllegalTransition(
        N_("The work order is {state_label}: “{action}” is not possible in that state."),
        state=status.value,
        state_label=status.label,
        action=action.label,
        allowed_actions=work_order_actions(status, acknowledged=acknowledged),
    )
