"""What a valuation decides about a facility's risk state, on top of ``step_risk``: a missing price
holds it, a waiver holds off new calls, and an intraday re-evaluation only ever improves it."""

from __future__ import annotations

from datetime import date

from coldpledge.financing.risk import RiskReason, RiskState
from coldpledge.financing.valuation import Decision, decide, risk_lines

LINES = risk_lines(6500, 7500, 8000, 8500)
MONDAY = date(2026, 3, 2)
THURSDAY = date(2026, 3, 5)


def decided(current: RiskState, ltv_bp: int | None, **options: object) -> Decision:
    settings: dict[str, object] = {
        "exposure_fen": 39_000_000,
        "complete": True,
        "lines": LINES,
        "deadline": THURSDAY if current is RiskState.MARGIN_CALL else None,
        "business_date": MONDAY,
        "cure_business_days": 3,
        **options,
    }
    return decide(current, ltv_bp, **settings)  # type: ignore[arg-type]


def test_a_call_line_crossed_opens_a_margin_call_due_three_business_days_later() -> None:
    decision = decided(RiskState.WARNING, 8125)

    assert (decision.after, decision.reason, decision.deadline) == (
        RiskState.MARGIN_CALL,
        RiskReason.MARGIN_CALL_LINE_REACHED,
        THURSDAY,
    )
    assert decision.opens_margin_call


def test_an_incomplete_value_holds_the_state_instead_of_liquidating() -> None:
    decision = decided(RiskState.MARGIN_CALL, None, complete=False)

    assert (decision.after, decision.reason, decision.held) == (RiskState.MARGIN_CALL, None, True)


def test_an_incomplete_value_that_already_proves_a_cure_cures() -> None:
    decision = decided(RiskState.MARGIN_CALL, 6400, complete=False)

    assert (decision.after, decision.reason) == (RiskState.NORMAL, RiskReason.CURED)


def test_nothing_owed_is_never_held() -> None:
    decision = decided(RiskState.NORMAL, 0, complete=False, exposure_fen=0)

    assert (decision.after, decision.held) == (RiskState.NORMAL, False)


def test_an_intraday_re_evaluation_never_makes_things_worse() -> None:
    assert decided(RiskState.WARNING, 9000, intraday=True).after is RiskState.WARNING
    assert decided(RiskState.MARGIN_CALL, 6500, intraday=True).after is RiskState.NORMAL


def test_a_waiver_holds_off_a_new_call_but_not_liquidation() -> None:
    until = THURSDAY

    assert decided(RiskState.WARNING, 8125, waived_until=until).after is RiskState.WARNING
    from_normal = decided(RiskState.NORMAL, 8125, waived_until=until)
    assert (from_normal.after, from_normal.reason) == (RiskState.WARNING, RiskReason.WARNING_LINE_REACHED)
    assert decided(RiskState.WARNING, 8600, waived_until=until).after is RiskState.LIQUIDATION
    assert decided(RiskState.WARNING, 8125, waived_until=date(2026, 3, 1)).after is RiskState.MARGIN_CALL


def test_degenerate_lines_are_nudged_apart_and_the_call_line_kept_between_warning_and_liquidation() -> None:
    lines = risk_lines(6500, 6500, 9000, 6500)

    assert (lines.pledge_rate_bp, lines.warning_line_bp, lines.call_line_bp, lines.liquidation_line_bp) == (
        6500,
        6501,
        6501,
        6502,
    )
    assert risk_lines(6500, 7800, 8000, 8800).call_line_bp == 8000
    assert risk_lines(6500, 8200, 8000, 8800).call_line_bp == 8200
