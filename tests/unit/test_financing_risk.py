"""The facility's risk state, one evaluation per business date (DESIGN §7, domain §6.2)."""

from __future__ import annotations

from datetime import date

import pytest

from coldpledge.financing.risk import RiskDecision, RiskLines, RiskReason, RiskState, step_risk

LINES = RiskLines(pledge_rate_bp=6_500, warning_line_bp=7_500, liquidation_line_bp=8_500)
WITH_CALL_LINE = RiskLines(6_500, 7_500, 8_500, margin_call_line_bp=8_000)
# 2026-12-07 is a Monday.
MONDAY = date(2026, 12, 7)
THURSDAY = date(2026, 12, 10)
FRIDAY = date(2026, 12, 11)

NORMAL, WARNING, MARGIN_CALL = RiskState.NORMAL, RiskState.WARNING, RiskState.MARGIN_CALL
LIQUIDATION, DISPOSED = RiskState.LIQUIDATION, RiskState.DISPOSED


def step(
    current: RiskState,
    ltv: int | None,
    on: date = MONDAY,
    deadline: date | None = None,
    lines: RiskLines = LINES,
) -> RiskDecision:
    return step_risk(current, ltv, lines, deadline, on)


def test_a_facility_within_the_pledge_rate_stays_normal() -> None:
    decision = step(NORMAL, 6_500)
    assert (decision.state, decision.reason, decision.changed) == (NORMAL, RiskReason.UNCHANGED, False)


def test_reaching_the_warning_line_issues_a_margin_call_due_in_three_business_days() -> None:
    decision = step(NORMAL, 7_500)
    assert decision.state is MARGIN_CALL
    assert decision.reason is RiskReason.MARGIN_CALL_LINE_REACHED
    assert decision.margin_call_deadline == THURSDAY
    assert decision.opens_margin_call


def test_the_deadline_skips_the_weekend_and_holidays() -> None:
    decision = step_risk(NORMAL, 7_600, LINES, None, FRIDAY, holidays=frozenset({date(2026, 12, 14)}))
    assert decision.margin_call_deadline == date(2026, 12, 17)


def test_the_cure_period_is_configurable() -> None:
    decision = step_risk(NORMAL, 7_600, LINES, None, MONDAY, cure_business_days=1)
    assert decision.margin_call_deadline == date(2026, 12, 8)


def test_with_a_higher_call_line_the_warning_line_only_warns() -> None:
    decision = step(NORMAL, 7_600, lines=WITH_CALL_LINE)
    assert (decision.state, decision.reason) == (WARNING, RiskReason.WARNING_LINE_REACHED)
    assert decision.margin_call_deadline is None


def test_a_warning_becomes_a_margin_call_at_the_call_line() -> None:
    decision = step(WARNING, 8_000, lines=WITH_CALL_LINE)
    assert (decision.state, decision.margin_call_deadline) == (MARGIN_CALL, THURSDAY)


def test_a_warning_holds_until_ltv_falls_a_hysteresis_band_below_the_warning_line() -> None:
    assert step(WARNING, 7_499, lines=WITH_CALL_LINE).state is WARNING
    assert step(WARNING, 7_400, lines=WITH_CALL_LINE).state is WARNING
    cleared = step(WARNING, 7_399, lines=WITH_CALL_LINE)
    assert (cleared.state, cleared.reason) == (NORMAL, RiskReason.WARNING_CLEARED)


def test_the_hysteresis_band_is_configurable() -> None:
    narrow = RiskLines(6_500, 7_500, 8_500, margin_call_line_bp=8_000, hysteresis_bp=0)
    assert step(WARNING, 7_499, lines=narrow).state is NORMAL


def test_a_margin_call_waits_until_its_deadline() -> None:
    decision = step(MARGIN_CALL, 7_000, on=THURSDAY, deadline=THURSDAY)
    assert (decision.state, decision.margin_call_deadline, decision.changed) == (MARGIN_CALL, THURSDAY, False)


def test_a_margin_call_is_not_cured_above_the_pledge_rate() -> None:
    assert step(MARGIN_CALL, 6_501, deadline=THURSDAY).state is MARGIN_CALL


def test_a_margin_call_is_cured_back_within_the_pledge_rate() -> None:
    decision = step(MARGIN_CALL, 6_500, deadline=THURSDAY)
    assert (decision.state, decision.reason, decision.margin_call_deadline) == (
        NORMAL,
        RiskReason.CURED,
        None,
    )


def test_a_cure_seen_after_the_deadline_still_cures() -> None:
    assert step(MARGIN_CALL, 6_000, on=FRIDAY, deadline=THURSDAY).state is NORMAL


def test_a_margin_call_not_cured_by_its_deadline_goes_to_liquidation() -> None:
    decision = step(MARGIN_CALL, 7_000, on=FRIDAY, deadline=THURSDAY)
    assert (decision.state, decision.reason) == (LIQUIDATION, RiskReason.DEADLINE_MISSED)


@pytest.mark.parametrize("current", [NORMAL, WARNING, MARGIN_CALL])
def test_the_liquidation_line_liquidates_at_any_time(current: RiskState) -> None:
    deadline = THURSDAY if current is MARGIN_CALL else None
    decision = step(current, 8_500, deadline=deadline)
    assert (decision.state, decision.reason) == (LIQUIDATION, RiskReason.LIQUIDATION_LINE_REACHED)
    assert decision.margin_call_deadline is None


def test_exposure_without_any_collateral_value_liquidates() -> None:
    decision = step(NORMAL, None)
    assert (decision.state, decision.reason) == (LIQUIDATION, RiskReason.NO_COLLATERAL_VALUE)


def test_liquidation_does_not_undo_itself_when_prices_recover() -> None:
    assert step(LIQUIDATION, 5_000).state is LIQUIDATION


def test_disposed_is_final() -> None:
    assert step(DISPOSED, 9_900).state is DISPOSED


def test_evaluating_the_same_date_twice_changes_nothing() -> None:
    for current, ltv in [(NORMAL, 7_600), (NORMAL, 9_000), (MARGIN_CALL, 6_000), (WARNING, 7_000)]:
        first = step(
            current, ltv, deadline=THURSDAY if current is MARGIN_CALL else None, lines=WITH_CALL_LINE
        )
        again = step(first.state, ltv, deadline=first.margin_call_deadline, lines=WITH_CALL_LINE)
        assert (again.state, again.margin_call_deadline, again.changed) == (
            first.state,
            first.margin_call_deadline,
            False,
        )


def test_a_margin_call_without_a_deadline_is_refused() -> None:
    with pytest.raises(ValueError, match="deadline"):
        step(MARGIN_CALL, 7_000)


def test_lines_that_do_not_rise_are_refused() -> None:
    with pytest.raises(ValueError, match="lines must rise"):
        RiskLines(pledge_rate_bp=7_500, warning_line_bp=7_500, liquidation_line_bp=8_500)
    with pytest.raises(ValueError, match="lines must rise"):
        RiskLines(6_500, 7_500, 8_500, margin_call_line_bp=9_000)


def test_states_have_labels_for_screens() -> None:
    assert RiskState.MARGIN_CALL.label == "Margin call"
    assert RiskState.MARGIN_CALL.colour == "red"
