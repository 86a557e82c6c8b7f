"""The alert and work-order state machines, the SLA clock and the escalation chain, as data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from coldpledge.alerts.geo import distance_m
from coldpledge.alerts.lifecycle import (
    AlertAction,
    AlertStatus,
    Severity,
    SlaState,
    WorkOrderAction,
    WorkOrderStatus,
    deadlines,
    is_allowed,
    next_alert_status,
    next_escalation,
    next_work_order_status,
    sla_state,
    work_order_actions,
)

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
A, S = WorkOrderAction, WorkOrderStatus


def test_an_alert_goes_open_acknowledged_resolved_closed() -> None:
    status = AlertStatus.OPEN
    for action, expected in (
        (AlertAction.ACKNOWLEDGE, AlertStatus.ACKNOWLEDGED),
        (AlertAction.RESOLVE, AlertStatus.RESOLVED),
        (AlertAction.CLOSE, AlertStatus.CLOSED),
    ):
        status = next_alert_status(status, action)
        assert status is expected


def test_nobody_acts_on_a_pending_or_closed_alert() -> None:
    for status in (AlertStatus.PENDING, AlertStatus.CLOSED):
        for action in AlertAction:
            with pytest.raises(KeyError):
                next_alert_status(status, action)


def test_an_open_alert_cannot_be_closed_before_it_is_resolved() -> None:
    with pytest.raises(KeyError):
        next_alert_status(AlertStatus.OPEN, AlertAction.CLOSE)


def test_a_work_order_goes_from_assignment_to_review_to_closing() -> None:
    status = S.OPEN
    for action, expected in (
        (A.ASSIGN, S.ASSIGNED),
        (A.ACKNOWLEDGE, S.ASSIGNED),
        (A.START, S.IN_PROGRESS),
        (A.COMMENT, S.IN_PROGRESS),
        (A.CHECK_IN, S.IN_PROGRESS),
        (A.RESOLVE, S.PENDING_REVIEW),
        (A.CLOSE, S.CLOSED),
    ):
        status = next_work_order_status(status, action)
        assert status is expected


def test_a_work_order_is_never_closed_without_going_through_review() -> None:
    for status in (S.OPEN, S.ASSIGNED, S.IN_PROGRESS):
        assert not is_allowed(status, A.CLOSE)


def test_finished_work_orders_take_no_action_at_all() -> None:
    for status in (S.CLOSED, S.CANCELLED):
        assert work_order_actions(status) == []


def test_an_acknowledged_order_no_longer_offers_acknowledging() -> None:
    assert "acknowledge" in work_order_actions(S.ASSIGNED)
    assert "acknowledge" not in work_order_actions(S.ASSIGNED, acknowledged=True)


@pytest.mark.parametrize(
    ("severity", "acknowledge", "resolve"),
    [
        (Severity.CRITICAL, timedelta(minutes=15), timedelta(hours=4)),
        (Severity.MAJOR, timedelta(hours=1), timedelta(hours=24)),
        (Severity.MINOR, timedelta(hours=24), timedelta(hours=72)),
    ],
)
def test_the_sla_follows_the_severity(severity: Severity, acknowledge: timedelta, resolve: timedelta) -> None:
    due = deadlines(severity, T0)
    assert due.acknowledge_by == T0 + acknowledge
    assert due.resolve_by == T0 + resolve


def test_escalation_climbs_the_chain_then_keeps_reminding_at_the_top() -> None:
    level, again = next_escalation(Severity.CRITICAL, 0, T0)
    assert (level, again) == (1, T0 + timedelta(minutes=15))
    assert next_escalation(Severity.CRITICAL, 1, again)[0] == 2
    assert next_escalation(Severity.CRITICAL, 2, again) == (2, again + timedelta(minutes=15))


def test_a_work_order_is_at_risk_in_the_last_quarter_and_overdue_after_its_deadline() -> None:
    due = deadlines(Severity.CRITICAL, T0)

    def state(now: datetime) -> SlaState:
        return sla_state(T0, due.resolve_by, now, acknowledge_by=due.acknowledge_by, acknowledged=True)

    assert state(T0 + timedelta(hours=1)) is SlaState.ON_TIME
    assert state(T0 + timedelta(hours=3, minutes=1)) is SlaState.AT_RISK
    assert state(T0 + timedelta(hours=4)) is SlaState.OVERDUE


def test_an_order_not_acknowledged_in_time_is_overdue_at_once() -> None:
    due = deadlines(Severity.CRITICAL, T0)
    now = T0 + timedelta(minutes=16)
    assert (
        sla_state(T0, due.resolve_by, now, acknowledge_by=due.acknowledge_by, acknowledged=False)
        is SlaState.OVERDUE
    )


def test_the_distance_between_two_points_is_in_whole_metres() -> None:
    # Yangshan deep-water port to Lujiazui, Shanghai: about 68 km.
    assert 60_000 < distance_m(30_626_000, 122_066_000, 31_240_000, 121_500_000) < 90_000
    assert distance_m(31_000_000, 121_000_000, 31_000_000, 121_000_000) == 0
    # One thousandth of a degree of latitude is about 111 m.
    assert distance_m(31_000_000, 121_000_000, 31_001_000, 121_000_000) == 111
