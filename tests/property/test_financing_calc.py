"""The financing arithmetic keeps its promises for any amounts: posting never drifts, money is
conserved by every allocation, what a borrower may draw or take out never breaks the pledge rate
(and one fen or gram more would), a cure always cures, and the risk step is a fixpoint."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from hypothesis import assume, given
from hypothesis import strategies as st

from coldpledge.financing.businessdays import add_business_days, business_days_between, is_business_day
from coldpledge.financing.collateral import (
    LotValue,
    collateral_value_fen,
    drawdown_headroom_fen,
    ltv_after_price_change_bp,
    ltv_bp,
    ltv_within,
    margin_call_cure,
    max_release_quantity_g,
    max_release_value_fen,
    price_fall_to_reach,
)
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.interest import accrued_ufen, daily_accrual_ufen, post_fen, posted_increment_fen
from coldpledge.financing.risk import RiskLines, RiskState, step_risk
from coldpledge.financing.waterfall import allocate_repayment, disposal_waterfall

fen = st.integers(min_value=0, max_value=10**13)  # up to CNY 100 billion
grams = st.integers(min_value=0, max_value=10**10)  # up to 10,000 tonnes
prices = st.integers(min_value=0, max_value=10**9)  # up to CNY 10,000 a kg
rates = st.integers(min_value=0, max_value=3_000)
pledge_rates = st.integers(min_value=1, max_value=10_000)
haircuts = st.integers(min_value=0, max_value=10_000)
bases = st.sampled_from(DayCount)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
holidays = st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)), max_size=40)
days_2026 = st.dates(min_value=date(2025, 12, 1), max_value=date(2026, 12, 31))


@st.composite
def lots(draw: st.DrawFn) -> LotValue:
    return LotValue(draw(grams), draw(prices), draw(haircuts), draw(st.booleans()))


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_posting_rounds_like_decimal_round_half_up(ufen: int) -> None:
    expected = (Decimal(ufen) / 1_000_000).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert post_fen(ufen) == int(expected)


@given(fen, rates, bases, st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=30))
def test_daily_postings_add_up_to_the_posting_of_the_total(
    principal: int, rate: int, basis: DayCount, lengths: list[int]
) -> None:
    """However the days are cut into posting runs, the fen posted add up to the rounded total and
    no run posts a negative amount."""
    daily = daily_accrual_ufen(principal, rate, basis)
    cumulative = 0
    posted = 0
    for length in lengths:
        after = cumulative + daily * length
        increment = posted_increment_fen(cumulative, after)
        assert increment >= 0
        posted += increment
        cumulative = after
    assert posted == post_fen(cumulative)


@given(
    fen,
    rates,
    bases,
    days,
    st.integers(min_value=0, max_value=3_000),
    st.integers(min_value=0, max_value=3_000),
)
def test_accrual_over_adjacent_periods_adds_up(
    principal: int, rate: int, basis: DayCount, start: date, first: int, second: int
) -> None:
    middle, end = start + timedelta(days=first), start + timedelta(days=first + second)
    assert accrued_ufen(principal, rate, start, end, basis) == accrued_ufen(
        principal, rate, start, middle, basis
    ) + accrued_ufen(principal, rate, middle, end, basis)


@given(fen, rates, bases, st.integers(min_value=1, max_value=3_650))
def test_accrual_is_never_more_than_the_exact_interest_nor_a_fen_less(
    principal: int, rate: int, basis: DayCount, length: int
) -> None:
    start = date(2026, 1, 1)
    accrued = accrued_ufen(principal, rate, start, start + timedelta(days=length), basis)
    exact_ufen_times_basis = principal * rate * 100 * length  # exact interest × basis_days
    assert accrued * basis.basis_days <= exact_ufen_times_basis
    assert exact_ufen_times_basis - accrued * basis.basis_days < length * basis.basis_days


@given(fen, fen, fen, fen)
def test_a_repayment_is_conserved_and_paid_in_order(
    amount: int, penalty: int, interest: int, principal: int
) -> None:
    paid = allocate_repayment(amount, penalty, interest, principal)
    assert sum(paid) == amount
    assert paid.penalty_fen <= penalty
    assert paid.interest_fen <= interest
    assert paid.principal_fen <= principal
    assert paid.interest_fen == 0 or paid.penalty_fen == penalty
    assert paid.principal_fen == 0 or paid.interest_fen == interest
    assert paid.excess_fen == 0 or paid.principal_fen == principal


@given(fen, fen, fen, fen, fen, fen)
def test_disposal_proceeds_are_conserved_and_leave_surplus_or_shortfall(
    proceeds: int, fees: int, lien: int, penalty: int, interest: int, principal: int
) -> None:
    result = disposal_waterfall(proceeds, fees, lien, penalty, interest, principal)
    allocated = result.fees_fen + result.storage_lien_fen + result.applied_to_loan_fen
    assert allocated + result.surplus_fen == proceeds
    assert allocated + result.shortfall_fen == fees + lien + penalty + interest + principal
    assert result.surplus_fen == 0 or result.shortfall_fen == 0
    assert result.residual_claim_fen == penalty + interest + principal - result.applied_to_loan_fen
    assert 0 <= result.residual_claim_fen <= result.shortfall_fen


@given(st.lists(lots(), max_size=8))
def test_the_facility_value_never_exceeds_the_market_value(lot_list: list[LotValue]) -> None:
    assert 0 <= collateral_value_fen(lot_list) <= sum(lot.market_value_fen for lot in lot_list)


@given(fen, fen, st.integers(min_value=1, max_value=20_000))
def test_rounded_ltv_agrees_with_the_exact_test_on_every_line(exposure: int, value: int, line: int) -> None:
    rounded = ltv_bp(exposure, value)
    within = ltv_within(exposure, value, line)
    assert within == (rounded is not None and rounded <= line)


@st.composite
def value_and_exposure(draw: st.DrawFn) -> tuple[int, int]:
    """A collateral value and an exposure of the same order, so LTVs land near the lines."""
    value = draw(fen)
    return value, draw(st.integers(min_value=0, max_value=2 * value + 10))


@given(fen, value_and_exposure(), pledge_rates)
def test_drawing_the_headroom_keeps_within_limit_and_pledge_rate_and_a_fen_more_does_not(
    limit: int, value_exposure: tuple[int, int], pledge_rate: int
) -> None:
    value, exposure = value_exposure
    headroom = drawdown_headroom_fen(limit, exposure, value, pledge_rate)
    after = exposure + headroom
    if headroom > 0:
        assert after <= limit
        assert ltv_within(after, value, pledge_rate)
    assert after + 1 > limit or not ltv_within(after + 1, value, pledge_rate)


@given(value_and_exposure(), pledge_rates)
def test_releasing_the_most_allowed_keeps_the_pledge_rate_and_a_fen_more_does_not(
    value_exposure: tuple[int, int], pledge_rate: int
) -> None:
    value, exposure_after = value_exposure
    release = max_release_value_fen(value, exposure_after, pledge_rate)
    assert 0 <= release <= value
    if release > 0:
        assert ltv_within(exposure_after, value - release, pledge_rate)
    if release < value:
        assert not ltv_within(exposure_after, value - release - 1, pledge_rate)


@given(lots(), fen, st.integers(min_value=0, max_value=20_000), pledge_rates)
def test_releasing_the_most_grams_allowed_keeps_the_pledge_rate_and_a_gram_more_does_not(
    lot: LotValue, other_value: int, exposure_share_bp: int, pledge_rate: int
) -> None:
    value = other_value + lot.value_fen
    exposure_after = value * exposure_share_bp // 10_000
    released = max_release_quantity_g(lot, value, exposure_after, pledge_rate)
    assert 0 <= released <= lot.quantity_g
    remaining = LotValue(lot.quantity_g - released, lot.price_fen_per_t, lot.haircut_bp, lot.eligible)
    if released > 0:
        assert ltv_within(exposure_after, other_value + remaining.value_fen, pledge_rate)
    if released < lot.quantity_g:
        one_more = LotValue(remaining.quantity_g - 1, lot.price_fen_per_t, lot.haircut_bp, lot.eligible)
        assert not ltv_within(exposure_after, other_value + one_more.value_fen, pledge_rate)


@given(
    fen,
    fen,
    pledge_rates,
    st.integers(min_value=0, max_value=9_999),
    st.integers(min_value=1, max_value=10**9),
)
def test_each_margin_call_cure_cures_and_a_fen_or_gram_less_does_not(
    exposure: int, value: int, pledge_rate: int, haircut: int, price: int
) -> None:
    cure = margin_call_cure(exposure, value, pledge_rate, haircut, price)
    assert ltv_within(exposure - cure.cash_fen, value, pledge_rate)
    assert cure.goods_g is not None
    brought = LotValue(cure.goods_g, price, haircut)
    assert ltv_within(exposure, value + brought.value_fen, pledge_rate)
    if cure.needed:
        assert not ltv_within(exposure - cure.cash_fen + 1, value, pledge_rate)
        short = LotValue(cure.goods_g - 1, price, haircut)
        assert not ltv_within(exposure, value + short.value_fen, pledge_rate)
    else:
        assert (cure.cash_fen, cure.goods_g) == (0, 0)


@given(st.integers(min_value=1, max_value=20_000), st.integers(min_value=1, max_value=20_000))
def test_the_price_fall_to_a_line_takes_ltv_to_that_line(ltv0: int, line: int) -> None:
    fall = price_fall_to_reach(ltv0, line)
    assert 0 <= fall < 10_000
    if ltv0 >= line:
        assert fall == 0
        return
    exact_fall = Fraction((line - ltv0) * 10_000, line)
    assert fall == math.floor(exact_fall + Fraction(1, 2))
    # The line is reached within a basis point of price either side of the rounded fall.
    before, after = ltv_after_price_change_bp(ltv0, -(fall - 1)), ltv_after_price_change_bp(ltv0, -(fall + 1))
    assert before is not None
    assert before <= line
    assert after is None or after >= line


@given(days_2026, st.integers(min_value=0, max_value=60), holidays, holidays)
def test_adding_business_days_lands_on_a_business_day_that_many_days_later(
    start: date, n: int, holiday_set: frozenset[date], make_up: frozenset[date]
) -> None:
    workdays = frozenset(day for day in make_up if day.weekday() >= 5)
    end = add_business_days(start, n, holiday_set, workdays)
    assert end >= start
    if n > 0:
        assert is_business_day(end, holiday_set, workdays)
    assert business_days_between(start, end, holiday_set, workdays) == n


@given(days_2026, st.integers(min_value=0, max_value=60), holidays)
def test_going_back_undoes_going_forward_from_a_business_day(
    start: date, n: int, holiday_set: frozenset[date]
) -> None:
    assume(is_business_day(start, holiday_set))
    assert add_business_days(add_business_days(start, n, holiday_set), -n, holiday_set) == start


risk_states = st.sampled_from(RiskState)
ltvs = st.one_of(st.none(), st.integers(min_value=0, max_value=15_000))


@st.composite
def risk_lines(draw: st.DrawFn) -> RiskLines:
    pledge = draw(st.integers(min_value=1, max_value=9_000))
    warning = draw(st.integers(min_value=pledge + 1, max_value=9_500))
    call = draw(st.one_of(st.none(), st.integers(min_value=warning, max_value=9_700)))
    liquidation = draw(st.integers(min_value=(call or warning) + 1, max_value=10_000))
    return RiskLines(pledge, warning, liquidation, call, draw(st.integers(min_value=0, max_value=500)))


@given(risk_states, ltvs, risk_lines(), days, st.integers(min_value=0, max_value=10), holidays)
def test_the_risk_step_is_a_fixpoint_for_one_business_date(
    current: RiskState,
    ltv: int | None,
    lines: RiskLines,
    on: date,
    cure_days: int,
    holiday_set: frozenset[date],
) -> None:
    deadline = on + timedelta(days=cure_days - 5) if current is RiskState.MARGIN_CALL else None
    first = step_risk(current, ltv, lines, deadline, on, cure_days, holiday_set)
    again = step_risk(first.state, ltv, lines, first.margin_call_deadline, on, cure_days, holiday_set)
    assert again.state is first.state
    assert again.margin_call_deadline == first.margin_call_deadline
    assert not again.changed
    assert (first.margin_call_deadline is not None) == (first.state is RiskState.MARGIN_CALL)


LEGAL_MOVES = {
    RiskState.NORMAL: {RiskState.NORMAL, RiskState.WARNING, RiskState.MARGIN_CALL, RiskState.LIQUIDATION},
    RiskState.WARNING: {RiskState.WARNING, RiskState.NORMAL, RiskState.MARGIN_CALL, RiskState.LIQUIDATION},
    RiskState.MARGIN_CALL: {RiskState.MARGIN_CALL, RiskState.NORMAL, RiskState.LIQUIDATION},
    RiskState.LIQUIDATION: {RiskState.LIQUIDATION},
    RiskState.DISPOSED: {RiskState.DISPOSED},
}


@given(risk_states, ltvs, risk_lines(), days, st.integers(min_value=-10, max_value=10))
def test_the_risk_step_moves_only_along_the_state_machine_and_honours_the_lines(
    current: RiskState, ltv: int | None, lines: RiskLines, on: date, deadline_offset: int
) -> None:
    deadline = on + timedelta(days=deadline_offset) if current is RiskState.MARGIN_CALL else None
    decision = step_risk(current, ltv, lines, deadline, on)
    assert decision.state in LEGAL_MOVES[current]
    live = current not in (RiskState.LIQUIDATION, RiskState.DISPOSED)
    if live and (ltv is None or ltv >= lines.liquidation_line_bp):
        assert decision.state is RiskState.LIQUIDATION
    if decision.state is RiskState.NORMAL and current is not RiskState.NORMAL:
        assert ltv is not None
        assert ltv <= lines.pledge_rate_bp or ltv < lines.warning_line_bp - lines.hysteresis_bp
    if current is RiskState.MARGIN_CALL and decision.state is RiskState.LIQUIDATION and ltv is not None:
        assert ltv >= lines.liquidation_line_bp or on > (deadline or on)
