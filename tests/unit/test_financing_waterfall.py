"""Where money goes: repayments penalty → interest → principal; disposal proceeds down the waterfall."""

from __future__ import annotations

import pytest

from coldpledge.financing.waterfall import allocate_repayment, disposal_waterfall


def test_a_repayment_pays_penalty_then_interest_then_principal() -> None:
    allocation = allocate_repayment(
        10_000, penalty_due_fen=1_000, interest_due_fen=2_000, principal_due_fen=50_000
    )
    assert allocation == (1_000, 2_000, 7_000, 0)
    assert allocation.principal_fen == 7_000


def test_a_small_repayment_goes_to_penalty_first() -> None:
    assert allocate_repayment(600, 1_000, 2_000, 50_000) == (600, 0, 0, 0)


def test_interest_is_paid_in_full_before_principal_gets_a_fen() -> None:
    assert allocate_repayment(2_999, 1_000, 2_000, 50_000) == (1_000, 1_999, 0, 0)


def test_a_repayment_above_everything_due_leaves_an_excess() -> None:
    penalty, interest, principal, excess = allocate_repayment(60_000, 1_000, 2_000, 50_000)
    assert (penalty, interest, principal, excess) == (1_000, 2_000, 50_000, 7_000)


def test_a_negative_repayment_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        allocate_repayment(-1, 0, 0, 100)


def test_disposal_proceeds_pay_costs_and_the_storage_lien_before_the_loan() -> None:
    result = disposal_waterfall(
        proceeds_fen=1_000_000,
        fees_fen=30_000,
        storage_lien_fen=20_000,
        penalty_fen=5_000,
        interest_fen=45_000,
        principal_fen=800_000,
    )
    assert (result.fees_fen, result.storage_lien_fen) == (30_000, 20_000)
    assert (result.penalty_fen, result.interest_fen, result.principal_fen) == (5_000, 45_000, 800_000)
    assert result.surplus_fen == 100_000  # to the pledgor
    assert result.shortfall_fen == 0
    assert result.residual_claim_fen == 0
    assert result.applied_to_loan_fen == 850_000


def test_short_proceeds_leave_a_residual_claim_on_the_principal() -> None:
    result = disposal_waterfall(700_000, 30_000, 20_000, 5_000, 45_000, 800_000)
    assert result.principal_fen == 600_000
    assert result.surplus_fen == 0
    assert result.shortfall_fen == 200_000
    assert result.residual_claim_fen == 200_000


def test_proceeds_below_the_costs_leave_the_whole_loan_as_a_claim() -> None:
    result = disposal_waterfall(40_000, 30_000, 20_000, 5_000, 45_000, 800_000)
    assert (result.fees_fen, result.storage_lien_fen, result.applied_to_loan_fen) == (30_000, 10_000, 0)
    assert result.shortfall_fen == 860_000
    assert result.residual_claim_fen == 850_000
