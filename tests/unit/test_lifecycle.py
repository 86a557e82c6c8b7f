"""The receipt state machine (DESIGN §6) as a table: what each state offers, and where it leads."""

from __future__ import annotations

import pytest

from coldpledge.receipts.lifecycle import (
    ACTIVE,
    INTERNAL,
    TERMINAL,
    TRANSITIONS,
    ReceiptAction,
    ReceiptStatus,
    allowed_actions,
    is_allowed,
    next_status,
)

S = ReceiptStatus
A = ReceiptAction

# What a person may do in each state, written out by hand from DESIGN §6 so that a change to the
# table shows up here as a deliberate edit, not as a silent widening of what a receipt allows.
EXPECTED_ACTIONS: dict[ReceiptStatus, list[str]] = {
    S.DRAFT: ["submit", "cancel"],
    S.PENDING_CHECK: ["issue", "cancel"],
    S.ISSUED: ["transfer", "request_pledge", "request_delivery", "split", "freeze", "report_loss", "cancel"],
    S.PLEDGE_PENDING: ["accept_pledge", "reject_pledge", "withdraw_pledge", "freeze"],
    S.PLEDGED: ["request_release", "discharge", "split", "start_disposal", "freeze", "report_loss"],
    S.DELIVERY_PENDING: ["withdraw_delivery", "freeze"],
    S.IN_DISPOSAL: ["request_release", "freeze"],
    S.FROZEN: ["unfreeze"],
    S.LOSS_REPORTED: ["replace", "cancel_loss_report"],
    S.CANCELLED: [],
    S.REPLACED: [],
    S.SPLIT: [],
}


@pytest.mark.parametrize("status", list(ReceiptStatus))
def test_each_state_offers_exactly_its_actions(status: ReceiptStatus) -> None:
    assert allowed_actions(status) == EXPECTED_ACTIONS[status]


def test_every_state_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(ReceiptStatus)


@pytest.mark.parametrize("status", sorted(TERMINAL))
def test_a_terminal_state_allows_nothing_at_all(status: ReceiptStatus) -> None:
    assert allowed_actions(status) == []
    assert not any(is_allowed(status, action) for action in ReceiptAction)


def test_terminal_states_are_cancelled_replaced_and_split() -> None:
    assert {S.CANCELLED, S.REPLACED, S.SPLIT} == TERMINAL


def test_drafts_are_not_active_because_no_goods_stand_behind_them_yet() -> None:
    assert S.DRAFT not in ACTIVE
    assert S.PENDING_CHECK not in ACTIVE
    assert S.PLEDGED in ACTIVE
    assert S.FROZEN in ACTIVE


@pytest.mark.parametrize("status", list(ReceiptStatus))
def test_internal_actions_are_never_offered_to_a_person(status: ReceiptStatus) -> None:
    offered = set(allowed_actions(status))
    assert not offered & {action.value for action in INTERNAL}


def test_internal_actions_are_still_allowed_for_the_platform() -> None:
    assert is_allowed(S.PLEDGED, A.EXECUTE_RELEASE)
    assert is_allowed(S.DELIVERY_PENDING, A.EXECUTE_DELIVERY)
    assert is_allowed(S.IN_DISPOSAL, A.EXECUTE_DISPOSAL)
    assert next_status(S.PLEDGED, A.EXECUTE_RELEASE) is S.PLEDGED
    assert next_status(S.DELIVERY_PENDING, A.EXECUTE_DELIVERY) is S.CANCELLED


@pytest.mark.parametrize("previous", [S.ISSUED, S.PLEDGED, S.IN_DISPOSAL])
def test_unfreezing_restores_the_state_before_the_freeze(previous: ReceiptStatus) -> None:
    assert next_status(S.FROZEN, A.UNFREEZE, previous=previous) is previous


def test_withdrawing_a_loss_report_restores_the_state_before_it() -> None:
    assert next_status(S.LOSS_REPORTED, A.CANCEL_LOSS_REPORT, previous=S.PLEDGED) is S.PLEDGED


def test_restoring_without_knowing_the_previous_state_is_refused() -> None:
    with pytest.raises(ValueError, match="previous state"):
        next_status(S.FROZEN, A.UNFREEZE)


def test_a_disposal_that_sells_everything_cancels_the_receipt() -> None:
    assert next_status(S.IN_DISPOSAL, A.EXECUTE_DISPOSAL, remaining_g=0) is S.CANCELLED


def test_a_disposal_that_leaves_goods_keeps_the_receipt_in_disposal() -> None:
    assert next_status(S.IN_DISPOSAL, A.EXECUTE_DISPOSAL, remaining_g=1_000) is S.IN_DISPOSAL


def test_a_disposal_without_the_remaining_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="remaining"):
        next_status(S.IN_DISPOSAL, A.EXECUTE_DISPOSAL)


def test_an_action_not_allowed_in_a_state_has_no_next_state() -> None:
    assert not is_allowed(S.DRAFT, A.ACCEPT_PLEDGE)
    with pytest.raises(KeyError):
        next_status(S.DRAFT, A.ACCEPT_PLEDGE)


def test_the_main_road_leads_from_draft_to_pledge_and_back() -> None:
    road = [
        (A.SUBMIT, S.PENDING_CHECK),
        (A.ISSUE, S.ISSUED),
        (A.REQUEST_PLEDGE, S.PLEDGE_PENDING),
        (A.ACCEPT_PLEDGE, S.PLEDGED),
        (A.DISCHARGE, S.ISSUED),
        (A.REQUEST_DELIVERY, S.DELIVERY_PENDING),
        (A.EXECUTE_DELIVERY, S.CANCELLED),
    ]
    status = S.DRAFT
    for action, expected in road:
        status = next_status(status, action)
        assert status is expected


def _reachable_from_draft() -> tuple[set[ReceiptStatus], set[ReceiptAction]]:
    """Walk the table from draft. A restoring action leads back to any state it could have been
    entered from (the state before a freeze or a loss report), and execute_disposal to both of
    its outcomes."""
    entered_from: dict[ReceiptStatus, set[ReceiptStatus]] = {}
    seen_states = {S.DRAFT}
    seen_actions: set[ReceiptAction] = set()
    frontier = [S.DRAFT]
    while frontier:
        status = frontier.pop()
        for action, target in TRANSITIONS[status].items():
            seen_actions.add(action)
            if target is not None:
                targets = {target}
            elif action is A.EXECUTE_DISPOSAL:
                targets = {next_status(status, action, remaining_g=left) for left in (0, 1)}
            else:
                targets = entered_from.get(status, set())
            for nxt in targets:
                entered_from.setdefault(nxt, set()).add(status)
                if nxt not in seen_states:
                    seen_states.add(nxt)
                    frontier.append(nxt)
    return seen_states, seen_actions


def test_every_state_is_reachable_from_draft() -> None:
    states, _ = _reachable_from_draft()
    assert states == set(ReceiptStatus)


def test_every_action_in_the_table_is_reachable_from_draft() -> None:
    _, actions = _reachable_from_draft()
    in_table = {action for row in TRANSITIONS.values() for action in row}
    assert actions == in_table
    assert in_table == set(ReceiptAction)
