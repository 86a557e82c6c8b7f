"""The rule catalogue of DESIGN §5: each rule's parameters, default severity and where it runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from coldpledge.choices import Choice, present
from coldpledge.errors import N_

Severity = Literal["minor", "major", "critical"]
Path = Literal["readings", "periodic"]


@present(
    {
        "temperature_band": N_("Temperature out of band"),
        "cumulative_excursion": N_("Cumulative temperature excursion"),
        "rate_of_rise": N_("Temperature rising fast"),
        "mkt_window": N_("Mean kinetic temperature too high"),
        "door_open_too_long": N_("Door open too long"),
        "sealed_room_activity": N_("Activity in a sealed room outside a release window"),
        "device_offline": N_("Device offline"),
        "sensor_fault": N_("Sensor fault"),
        "sensor_stuck": N_("Sensor stuck"),
        "sensor_disagreement": N_("Sensor disagrees with its room"),
        "weight_without_release": N_("Weight drop without an approved release"),
        "stock_below_floor": N_("Stock below the policy floor"),
        "stocktake_variance": N_("Stocktake variance"),
        "expiry": N_("Expiry approaching"),
        "ltv_warning": N_("Loan-to-value above the warning line"),
        "ltv_liquidation": N_("Loan-to-value above the liquidation line"),
        "price_stale": N_("Price stale"),
    }
)
class RuleCode(Choice):
    TEMPERATURE_BAND = "temperature_band"
    CUMULATIVE_EXCURSION = "cumulative_excursion"
    RATE_OF_RISE = "rate_of_rise"
    MKT_WINDOW = "mkt_window"
    DOOR_OPEN_TOO_LONG = "door_open_too_long"
    SEALED_ROOM_ACTIVITY = "sealed_room_activity"
    DEVICE_OFFLINE = "device_offline"
    SENSOR_FAULT = "sensor_fault"
    SENSOR_STUCK = "sensor_stuck"
    SENSOR_DISAGREEMENT = "sensor_disagreement"
    WEIGHT_WITHOUT_RELEASE = "weight_without_release"
    STOCK_BELOW_FLOOR = "stock_below_floor"
    STOCKTAKE_VARIANCE = "stocktake_variance"
    EXPIRY = "expiry"
    LTV_WARNING = "ltv_warning"
    LTV_LIQUIDATION = "ltv_liquidation"
    PRICE_STALE = "price_stale"


@dataclass(frozen=True)
class RuleSpec:
    code: RuleCode
    # Names in PolicyParameters ("temperature." for the nested temperature rule).
    parameters: tuple[str, ...]
    severity: Severity
    path: Path
    subject: str  # the kind of subject ref its transitions name


_HYGIENE = ("clear_minutes", "flap_window_minutes", "flap_max_flips")

CATALOGUE: dict[RuleCode, RuleSpec] = {
    spec.code: spec
    for spec in (
        RuleSpec(
            RuleCode.TEMPERATURE_BAND,
            (
                "temperature.warning_above_mc",
                "temperature.warning_below_mc",
                "temperature.warning_minutes",
                "temperature.critical_above_mc",
                "temperature.critical_below_mc",
                "temperature.critical_minutes",
                "temperature.hysteresis_mc",
                *_HYGIENE,
            ),
            "major",  # critical once the critical line has held its duration
            "readings",
            "device",
        ),
        RuleSpec(
            RuleCode.CUMULATIVE_EXCURSION,
            ("temperature.cumulative_excursion_minutes_per_24h", "temperature.warning_above_mc", *_HYGIENE),
            "major",
            "periodic",
            "device",
        ),
        RuleSpec(
            RuleCode.RATE_OF_RISE,
            ("temperature.rate_of_rise_mc_per_10min", *_HYGIENE),
            "major",
            "readings",
            "device",
        ),
        RuleSpec(
            RuleCode.MKT_WINDOW,
            (
                "temperature.mkt_window_hours",
                "temperature.mkt_limit_mc",
                "temperature.warning_above_mc",
                *_HYGIENE,
            ),
            "major",
            "periodic",
            "device",
        ),
        RuleSpec(
            RuleCode.DOOR_OPEN_TOO_LONG, ("door_open_max_minutes", *_HYGIENE), "major", "readings", "device"
        ),
        RuleSpec(
            RuleCode.SEALED_ROOM_ACTIVITY,
            ("weight_drop_tolerance_bp", *_HYGIENE),
            "critical",
            "readings",
            "room",
        ),
        RuleSpec(
            RuleCode.DEVICE_OFFLINE,
            ("device_offline_intervals", "device_offline_min_minutes", *_HYGIENE),
            "major",
            "periodic",
            "device",
        ),
        RuleSpec(RuleCode.SENSOR_FAULT, _HYGIENE, "major", "readings", "device"),
        RuleSpec(
            RuleCode.SENSOR_STUCK,
            ("stuck_sensor_minutes", "stuck_sensor_tolerance_mc", *_HYGIENE),
            "major",
            "periodic",
            "device",
        ),
        RuleSpec(
            RuleCode.SENSOR_DISAGREEMENT,
            (
                "sensor_disagreement_mc",
                "sensor_disagreement_minutes",
                "sensor_disagreement_min_peers",
                "temperature.hysteresis_mc",
                *_HYGIENE,
            ),
            "critical",  # the tamper case: a probe hidden in a cold box
            "readings",
            "device",
        ),
        RuleSpec(
            RuleCode.WEIGHT_WITHOUT_RELEASE,
            ("weight_drop_tolerance_bp", *_HYGIENE),
            "critical",
            "periodic",
            "room",
        ),
        RuleSpec(
            RuleCode.STOCK_BELOW_FLOOR,
            ("min_control_value_fen", "min_control_quantity_g", *_HYGIENE),
            "critical",
            "periodic",
            "receipt",
        ),
        RuleSpec(
            RuleCode.STOCKTAKE_VARIANCE,
            ("stocktake_variance_tolerance_bp", *_HYGIENE),
            "major",
            "periodic",
            "lot",
        ),
        RuleSpec(RuleCode.EXPIRY, ("expiry_warning_days", *_HYGIENE), "minor", "periodic", "any"),
        RuleSpec(RuleCode.LTV_WARNING, ("ltv_warning_bp", *_HYGIENE), "major", "periodic", "facility"),
        RuleSpec(
            RuleCode.LTV_LIQUIDATION, ("ltv_liquidation_bp", *_HYGIENE), "critical", "periodic", "facility"
        ),
        RuleSpec(
            RuleCode.PRICE_STALE, ("price_stale_business_days", *_HYGIENE), "major", "periodic", "commodity"
        ),
    )
}

READING_RULES = tuple(code for code, spec in CATALOGUE.items() if spec.path == "readings")
PERIODIC_RULES = tuple(code for code, spec in CATALOGUE.items() if spec.path == "periodic")
