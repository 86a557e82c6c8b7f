"""Collateral arithmetic: value, exposure, LTV, drawdown headroom, releases and margin-call cures."""

from __future__ import annotations

import pytest

from coldpledge.financing.collateral import (
    LotValue,
    collateral_value_fen,
    drawdown_headroom_fen,
    exposure_fen,
    goods_value_fen,
    ltv_after_price_change_bp,
    ltv_bp,
    ltv_within,
    margin_call_cure,
    max_release_quantity_g,
    max_release_value_fen,
    price_change_bp,
    price_fall_to_reach,
)

# Frozen pork at CNY 24.63/kg = CNY 24,630/t = 2,463,000 fen per tonne.
PORK = 2_463_000
TONNE = 1_000_000


def test_a_tonne_of_pork_at_24_63_yuan_a_kg_is_worth_24_630_yuan() -> None:
    assert goods_value_fen(TONNE, PORK) == 2_463_000


def test_goods_value_rounds_down_to_the_fen() -> None:
    # 1 g at 24.63 CNY/kg is 2.463 fen.
    assert goods_value_fen(1, PORK) == 2


def test_a_haircut_takes_its_share_off_the_value() -> None:
    assert LotValue(10 * TONNE, PORK, haircut_bp=1_000).value_fen == 22_167_000
    assert LotValue(10 * TONNE, PORK, haircut_bp=1_000).market_value_fen == 24_630_000


def test_a_lot_on_quality_hold_counts_nothing() -> None:
    assert LotValue(10 * TONNE, PORK, eligible=False).value_fen == 0


def test_the_facility_value_is_the_sum_of_its_lots() -> None:
    lots = [
        LotValue(10 * TONNE, PORK),
        LotValue(5 * TONNE, 6_103_000, haircut_bp=500),
        LotValue(TONNE, PORK, 0, False),
    ]
    assert collateral_value_fen(lots) == 24_630_000 + 28_989_250


def test_a_haircut_above_100_percent_is_refused() -> None:
    with pytest.raises(ValueError, match="haircut"):
        LotValue(TONNE, PORK, haircut_bp=10_001)


def test_exposure_is_principal_plus_interest_less_margin() -> None:
    assert exposure_fen(1_000_000, 5_000, 100_000) == 905_000


def test_surplus_margin_does_not_make_exposure_negative() -> None:
    assert exposure_fen(1_000_000, 0, 2_000_000) == 0


def test_ltv_is_exposure_over_value_in_basis_points() -> None:
    assert ltv_bp(650_000, 1_000_000) == 6_500


def test_ltv_rounds_up() -> None:
    assert ltv_bp(650_001, 1_000_000) == 6_501
    assert ltv_bp(2, 3) == 6_667


def test_no_exposure_is_zero_ltv_even_without_value() -> None:
    assert ltv_bp(0, 0) == 0


def test_exposure_without_value_is_infinite_ltv() -> None:
    assert ltv_bp(1, 0) is None


def test_ltv_within_compares_exactly() -> None:
    assert ltv_within(650_000, 1_000_000, 6_500)
    assert not ltv_within(650_001, 1_000_000, 6_500)
    assert ltv_within(0, 0, 6_500)
    assert not ltv_within(1, 0, 6_500)


def test_drawdown_headroom_is_bound_by_the_pledge_rate() -> None:
    # CNY 1,000,000 of goods at 65 % covers CNY 650,000; CNY 400,000 is drawn.
    assert drawdown_headroom_fen(500_000_000, 40_000_000, 100_000_000, 6_500) == 25_000_000


def test_drawdown_headroom_is_bound_by_the_limit() -> None:
    assert drawdown_headroom_fen(50_000_000, 40_000_000, 100_000_000, 6_500) == 10_000_000


def test_no_headroom_when_already_above_the_pledge_rate() -> None:
    assert drawdown_headroom_fen(500_000_000, 70_000_000, 100_000_000, 6_500) == 0


def test_repaying_600_000_yuan_at_60_percent_releases_1_000_000_yuan_of_goods() -> None:
    # Domain §2.6: goods worth repayment / L0 may go per unit of money repaid.
    value, exposure, repaid = 500_000_000, 300_000_000, 60_000_000
    assert max_release_value_fen(value, exposure, 6_000) == 0
    assert max_release_value_fen(value, exposure - repaid, 6_000) == 100_000_000


def test_everything_may_be_released_when_nothing_is_owed() -> None:
    assert max_release_value_fen(123_456, 0, 6_500) == 123_456


def test_release_quantity_keeps_the_facility_within_the_pledge_rate() -> None:
    lot = LotValue(20 * TONNE, PORK)  # CNY 492,600
    exposure = 26_000_000  # CNY 260,000; at 65 % it needs CNY 400,000 of goods
    grams = max_release_quantity_g(lot, lot.value_fen, exposure, 6_500)
    remaining = LotValue(lot.quantity_g - grams, PORK)
    assert ltv_within(exposure, remaining.value_fen, 6_500)
    assert not ltv_within(exposure, LotValue(lot.quantity_g - grams - 1, PORK).value_fen, 6_500)
    assert grams == 3_759_642


def test_other_lots_covering_the_exposure_free_the_whole_lot() -> None:
    lot = LotValue(TONNE, PORK)
    assert max_release_quantity_g(lot, lot.value_fen + 100_000_000, 10_000_000, 6_500) == TONNE


def test_goods_on_quality_hold_may_go_only_if_the_rest_covers_the_exposure() -> None:
    held = LotValue(TONNE, PORK, eligible=False)
    assert max_release_quantity_g(held, 10_000_000, 6_500_000, 6_500) == TONNE
    assert max_release_quantity_g(held, 10_000_000, 6_500_001, 6_500) == 0


def test_margin_call_cure_in_cash_brings_ltv_back_to_the_pledge_rate() -> None:
    # CNY 800,000 owed against CNY 1,000,000 of goods at 65 %: pay CNY 150,000.
    cure = margin_call_cure(80_000_000, 100_000_000, 6_500, 0, PORK)
    assert cure.cash_fen == 15_000_000
    assert ltv_within(80_000_000 - cure.cash_fen, 100_000_000, 6_500)


def test_margin_call_cure_in_goods_at_todays_price_rounds_up() -> None:
    cure = margin_call_cure(80_000_000, 100_000_000, 6_500, 1_000, PORK)
    # 800,000 / 0.65 − 1,000,000 = 230,769.23… yuan of value after haircut, so 23,076,924 fen;
    # at a 10 % haircut that is 25,641,027 fen of goods; 10,410.485… kg rounded up to the gram.
    assert cure.collateral_value_fen == 23_076_924
    assert cure.goods_value_fen == 25_641_027
    assert cure.goods_g == 10_410_486
    brought = LotValue(cure.goods_g, PORK, haircut_bp=1_000)
    assert ltv_within(80_000_000, 100_000_000 + brought.value_fen, 6_500)
    one_gram_short = LotValue(cure.goods_g - 1, PORK, haircut_bp=1_000)
    assert not ltv_within(80_000_000, 100_000_000 + one_gram_short.value_fen, 6_500)


def test_no_cure_is_needed_within_the_pledge_rate() -> None:
    cure = margin_call_cure(65_000_000, 100_000_000, 6_500, 0, PORK)
    assert (cure.cash_fen, cure.collateral_value_fen, cure.goods_g, cure.needed) == (0, 0, 0, False)


def test_goods_cannot_cure_without_a_price() -> None:
    cure = margin_call_cure(80_000_000, 0, 6_500, 0, 0)
    assert cure.cash_fen == 80_000_000
    assert cure.goods_g is None
    assert cure.goods_value_fen is None


def test_an_ltv_of_65_percent_reaches_a_78_percent_warning_line_at_a_16_67_percent_fall() -> None:
    assert price_fall_to_reach(6_500, 7_800) == 1_667


def test_an_ltv_of_65_percent_reaches_an_88_percent_line_at_a_26_percent_fall() -> None:
    assert price_fall_to_reach(6_500, 8_800) == 2_614


def test_an_ltv_already_at_the_line_needs_no_fall() -> None:
    assert price_fall_to_reach(8_000, 7_800) == 0


def test_a_16_67_percent_fall_takes_65_percent_to_78_percent() -> None:
    assert ltv_after_price_change_bp(6_500, -1_667) == 7_801
    assert ltv_after_price_change_bp(6_500, -1_666) == 7_800
    assert ltv_after_price_change_bp(6_500, -10_000) is None


def test_price_change_is_measured_against_the_reference_price() -> None:
    assert price_change_bp(2_463_000, 2_339_850) == -500
    assert price_change_bp(2_463_000, 2_339_851) == -500
    assert price_change_bp(2_463_000, 2_463_000) == 0
