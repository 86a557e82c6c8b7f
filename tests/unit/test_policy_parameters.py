"""Supervision policy parameters: the DESIGN §5 defaults, and refusals that keep a typo from
silently switching a control off."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from coldpledge.warehouses.models import SupervisionMode, TemperatureClass
from coldpledge.warehouses.policy import PolicyParameters, default_parameters, templates


def frozen_body(**changes: Any) -> dict[str, Any]:
    body = default_parameters(TemperatureClass.FROZEN).model_dump(mode="json")
    body.update(changes)
    return body


def test_frozen_goods_warn_above_minus_18_for_30_minutes_and_alarm_above_minus_15_for_10() -> None:
    rule = default_parameters(TemperatureClass.FROZEN).temperature
    assert (rule.warning_above_mc, rule.warning_minutes) == (-18_000, 30)
    assert (rule.critical_above_mc, rule.critical_minutes) == (-15_000, 10)
    assert rule.warning_below_mc is None


def test_deep_frozen_goods_warn_above_minus_25() -> None:
    rule = default_parameters(TemperatureClass.DEEP_FROZEN).temperature
    assert (rule.warning_above_mc, rule.warning_minutes) == (-25_000, 30)
    assert (rule.critical_above_mc, rule.critical_minutes) == (-15_000, 10)


def test_chilled_goods_warn_outside_0_to_4_degrees_for_15_minutes() -> None:
    rule = default_parameters(TemperatureClass.CHILLED).temperature
    assert (rule.warning_below_mc, rule.warning_above_mc, rule.warning_minutes) == (0, 4_000, 15)
    assert rule.critical_minutes == 15


@pytest.mark.parametrize("temperature_class", list(TemperatureClass))
def test_the_common_defaults_follow_the_design(temperature_class: TemperatureClass) -> None:
    parameters = default_parameters(temperature_class)
    assert parameters.mode is SupervisionMode.STATIC
    assert parameters.door_open_max_minutes == 10
    assert parameters.temperature.cumulative_excursion_minutes_per_24h == 60
    assert parameters.temperature.rate_of_rise_mc_per_10min == 3_000
    assert parameters.sensor_disagreement_mc == 3_000
    assert parameters.weight_drop_tolerance_bp == 50
    assert parameters.stocktake_variance_tolerance_bp == 50


def test_defaults_survive_a_round_trip_through_json() -> None:
    parameters = default_parameters(TemperatureClass.CHILLED)
    assert PolicyParameters.model_validate(parameters.model_dump(mode="json")) == parameters


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        PolicyParameters.model_validate(frozen_body(door_open_max_minuts=20))
    assert refused.value.errors()[0]["loc"] == ("door_open_max_minuts",)


def test_an_unknown_key_inside_the_temperature_rule_is_refused() -> None:
    body = frozen_body()
    body["temperature"]["warning_abvoe_mc"] = -17_000
    with pytest.raises(ValidationError) as refused:
        PolicyParameters.model_validate(body)
    assert refused.value.errors()[0]["loc"] == ("temperature", "warning_abvoe_mc")


def test_a_policy_without_a_temperature_rule_is_refused() -> None:
    body = frozen_body()
    del body["temperature"]
    with pytest.raises(ValidationError, match="temperature"):
        PolicyParameters.model_validate(body)


def test_a_dynamic_pledge_without_a_floor_is_refused() -> None:
    with pytest.raises(ValidationError, match="minimum control value or quantity"):
        PolicyParameters.model_validate(frozen_body(mode="dynamic"))


@pytest.mark.parametrize(
    "floor", [{"min_control_value_fen": 1_000_000_00}, {"min_control_quantity_g": 20_000_000}]
)
def test_a_dynamic_pledge_with_a_value_or_quantity_floor_is_accepted(floor: dict[str, int]) -> None:
    parameters = PolicyParameters.model_validate(frozen_body(mode="dynamic", **floor))
    assert parameters.mode is SupervisionMode.DYNAMIC


@pytest.mark.parametrize(
    "change",
    [
        {"door_open_max_minutes": 0},
        {"weight_drop_tolerance_bp": -1},
        {"weight_drop_tolerance_bp": 10_001},
        {"stocktake_interval_days": 367},
        {"min_control_value_fen": -1},
        {"sensor_disagreement_mc": 99},
    ],
)
def test_out_of_range_numbers_are_refused(change: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match=next(iter(change))):
        PolicyParameters.model_validate(frozen_body(**change))


def test_a_policy_stored_before_the_rule_parameters_existed_is_still_valid() -> None:
    body = frozen_body()
    for key in (
        "sensor_disagreement_min_peers",
        "stuck_sensor_tolerance_mc",
        "ltv_warning_bp",
        "ltv_liquidation_bp",
        "price_stale_business_days",
        "clear_minutes",
        "flap_window_minutes",
        "flap_max_flips",
    ):
        del body[key]
    for key in ("hysteresis_mc", "mkt_window_hours", "mkt_limit_mc"):
        del body["temperature"][key]
    assert PolicyParameters.model_validate(body) == default_parameters(TemperatureClass.FROZEN)


def test_the_rule_defaults_follow_the_design() -> None:
    parameters = default_parameters(TemperatureClass.FROZEN)
    assert parameters.sensor_disagreement_min_peers == 2
    assert parameters.price_stale_business_days == 3
    assert parameters.temperature.mkt_window_hours == 24
    assert (parameters.ltv_warning_bp, parameters.ltv_liquidation_bp) == (8_000, 9_000)


def test_a_liquidation_line_below_the_warning_line_is_refused() -> None:
    with pytest.raises(ValidationError, match="liquidation line"):
        PolicyParameters.model_validate(frozen_body(ltv_warning_bp=9_000, ltv_liquidation_bp=8_000))


def test_there_is_a_template_for_every_temperature_class() -> None:
    assert templates() == {
        temperature_class: default_parameters(temperature_class) for temperature_class in TemperatureClass
    }
