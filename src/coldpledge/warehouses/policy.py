"""Supervision policy parameters and their defaults per temperature class (DESIGN §5).

The rules engine reads these; here they are only validated and versioned. Temperatures are
milli-degrees Celsius, durations minutes, ratios basis points (50 bp = 0.5 %).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from coldpledge.errors import N_
from coldpledge.warehouses.models import SupervisionMode, TemperatureClass


class TemperatureRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    warning_above_mc: int | None = None
    warning_below_mc: int | None = None
    warning_minutes: int = Field(ge=1)
    critical_above_mc: int | None = None
    critical_below_mc: int | None = None
    critical_minutes: int = Field(ge=1)
    cumulative_excursion_minutes_per_24h: int = Field(default=60, ge=1)
    rate_of_rise_mc_per_10min: int = Field(default=3000, ge=1)
    # A firing band resolves once the value is back inside the band by this margin for
    # ``PolicyParameters.clear_minutes``: a probe hovering on the line does not flap.
    hysteresis_mc: int = Field(default=500, ge=0)
    # MKT over the window above this line is a warning; None takes the warning line above.
    mkt_window_hours: int = Field(default=24, ge=1, le=24 * 30)
    mkt_limit_mc: int | None = None

    @model_validator(mode="after")
    def _bands_the_right_way_up(self) -> TemperatureRule:
        # An inverted band would hold every reading out of it: every probe alarming at once.
        for low, high, refusal in (
            (
                self.warning_below_mc,
                self.warning_above_mc,
                N_("the lower warning line must be below the upper warning line"),
            ),
            (
                self.critical_below_mc,
                self.critical_above_mc,
                N_("the lower critical line must be below the upper critical line"),
            ),
        ):
            if low is not None and high is not None and low >= high:
                raise ValueError(refusal)
        return self


class WeeklyWindow(BaseModel):
    """A weekly local-time window, e.g. a defrost cycle: ISO weekdays "1234567", minutes of the day."""

    model_config = ConfigDict(extra="forbid")

    weekdays: str = Field(default="1234567", pattern=r"^[1-7]{1,7}$")
    start_minute: int = Field(ge=0, le=24 * 60)
    end_minute: int = Field(ge=0, le=24 * 60)
    timezone: str = "Asia/Shanghai"

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyWindow:
        if self.end_minute <= self.start_minute:
            raise ValueError(N_("a window ends after it starts"))
        return self


class PolicyParameters(BaseModel):
    """The parameters a supervision policy holds. Unknown keys are refused so a typo never
    silently disables a control."""

    model_config = ConfigDict(extra="forbid")

    mode: SupervisionMode = SupervisionMode.STATIC
    temperature: TemperatureRule
    door_open_max_minutes: int = Field(default=10, ge=1)
    device_offline_intervals: int = Field(default=3, ge=1)
    device_offline_min_minutes: int = Field(default=5, ge=1)
    sensor_disagreement_mc: int = Field(default=3000, ge=100)
    sensor_disagreement_minutes: int = Field(default=15, ge=1)
    stuck_sensor_minutes: int = Field(default=120, ge=1)
    weight_drop_tolerance_bp: int = Field(default=50, ge=0, le=10_000)
    stocktake_variance_tolerance_bp: int = Field(default=50, ge=0, le=10_000)
    stocktake_interval_days: int = Field(default=7, ge=1, le=366)
    expiry_warning_days: int = Field(default=30, ge=0, le=3650)
    min_control_value_fen: int | None = Field(default=None, ge=0)
    min_control_quantity_g: int | None = Field(default=None, ge=0)
    alert_recipients_min: int = Field(default=3, ge=1)
    sensor_disagreement_min_peers: int = Field(default=2, ge=1)
    # A probe is stuck when it varies by less than this over ``stuck_sensor_minutes`` while a
    # neighbour moves by more.
    stuck_sensor_tolerance_mc: int = Field(default=100, ge=0)
    ltv_warning_bp: int = Field(default=8000, ge=1, le=100_000)
    ltv_liquidation_bp: int = Field(default=9000, ge=1, le=100_000)
    price_stale_business_days: int = Field(default=3, ge=1, le=60)
    # Condition hygiene shared by every rule: a firing condition resolves only after it has
    # been clear this long, and one that flipped ``flap_max_flips`` times within
    # ``flap_window_minutes`` is held firing (flapping) until it has been clear a whole window.
    clear_minutes: int = Field(default=5, ge=0)
    flap_window_minutes: int = Field(default=60, ge=1)
    flap_max_flips: int = Field(default=4, ge=2)
    # Suppression (issue 5): during a defrost window temperature-band and rate-of-rise readings
    # do not count; a device's temperature readings within ``startup_ignore_minutes`` of its
    # registration or of its return from a silence longer than ``device_offline_min_minutes`` are
    # not judged by them; a door open inside a release window (scheduled loading) does not count
    # when ``door_open_in_release_windows_ok``.
    defrost_windows: list[WeeklyWindow] = Field(default_factory=list)
    startup_ignore_minutes: int = Field(default=0, ge=0, le=24 * 60)
    door_open_in_release_windows_ok: bool = True

    @model_validator(mode="after")
    def _dynamic_needs_a_floor(self) -> PolicyParameters:
        if (
            self.mode is SupervisionMode.DYNAMIC
            and self.min_control_value_fen is None
            and self.min_control_quantity_g is None
        ):
            raise ValueError(N_("a dynamic pledge needs a minimum control value or quantity"))
        if self.ltv_liquidation_bp < self.ltv_warning_bp:
            raise ValueError(N_("the liquidation line cannot be below the warning line"))
        return self


def default_parameters(temperature_class: TemperatureClass) -> PolicyParameters:
    """The DESIGN §5 defaults: frozen above -18 °C for 30 min is a warning, above -15 °C for
    10 min critical; chilled outside 0–4 °C for 15 min."""
    if temperature_class is TemperatureClass.CHILLED:
        rule = TemperatureRule(
            warning_above_mc=4000,
            warning_below_mc=0,
            warning_minutes=15,
            critical_above_mc=8000,
            critical_below_mc=-1000,
            critical_minutes=15,
        )
    else:
        limit = -18000 if temperature_class is TemperatureClass.FROZEN else -25000
        rule = TemperatureRule(
            warning_above_mc=limit,
            warning_minutes=30,
            critical_above_mc=-15000,
            critical_minutes=10,
        )
    return PolicyParameters(temperature=rule)


def templates() -> dict[TemperatureClass, PolicyParameters]:
    """One policy template per temperature class, from which a room's policy is copied."""
    return {
        temperature_class: default_parameters(temperature_class)
        for temperature_class in list(TemperatureClass)
    }
