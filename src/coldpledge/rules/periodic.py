"""Rules the scheduler runs on plain values it reads from the database.

Each function takes the stored ``Condition`` of its (rule, subject), or None, and returns the
condition to store and the transitions to apply. Times are aware datetimes; temperatures
milli-degrees Celsius; quantities grams; money fen; ratios basis points.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from coldpledge.calendar import business_date
from coldpledge.iot.coldchain import (
    DELTA_H_J_PER_MOL,
    GAS_CONSTANT,
    ZERO_CELSIUS_K,
    mean_kinetic_temperature,
    summarise,
)
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import CLEAR, Condition, Hygiene, Level, Transition, judge_once, to_ms
from coldpledge.warehouses.policy import PolicyParameters

Outcome = tuple[Condition, list[Transition]]
Series = Sequence[tuple[datetime, int]]  # (time, milli-degrees Celsius)


def _once(
    condition: Condition | None,
    rule: RuleCode,
    subject: str,
    at: datetime,
    met: int,
    levels: Sequence[Level],
    parameters: PolicyParameters,
    trigger: Mapping[str, object],
    detail: str,
) -> Outcome:
    return judge_once(
        condition, rule.value, subject, at, met, levels, Hygiene.of(parameters), dict(trigger), detail
    )


def evaluate_device_offline(
    device_ref: str,
    last_seen: datetime | None,
    sampling_interval: timedelta,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """Offline when nothing came for max(intervals × sampling interval, the minimum)."""
    limit = max(
        parameters.device_offline_intervals * sampling_interval,
        timedelta(minutes=parameters.device_offline_min_minutes),
    )
    silent = last_seen is None or at - last_seen > limit
    seen = last_seen.isoformat() if last_seen is not None else None
    return _once(
        condition,
        RuleCode.DEVICE_OFFLINE,
        device_ref,
        at,
        1 if silent else CLEAR,
        (Level("major", 0),),
        parameters,
        {"last_seen": seen},
        f"no data since {seen}",
    )


def evaluate_cumulative_excursion(
    device_ref: str,
    series: Series,
    interval: timedelta,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """More than the allowed minutes outside the warning band over the 24 hours before ``at``."""
    rule = parameters.temperature
    low = rule.warning_below_mc if rule.warning_below_mc is not None else -273_000
    high = rule.warning_above_mc if rule.warning_above_mc is not None else 1_000_000
    summary = summarise(
        [(moment, mc / 1000) for moment, mc in series],
        start=at - timedelta(hours=24),
        end=at,
        interval=interval,
        low_c=low / 1000,
        high_c=high / 1000,
    )
    return evaluate_excursion_minutes(
        device_ref, (summary.out_of_band_seconds or 0.0) / 60, parameters, at, condition
    )


def evaluate_excursion_minutes(
    device_ref: str,
    minutes: float,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """The cumulative-excursion rule on minutes out of band already counted (the scheduler counts
    them from the minute rollups)."""
    over = minutes > parameters.temperature.cumulative_excursion_minutes_per_24h
    return _once(
        condition,
        RuleCode.CUMULATIVE_EXCURSION,
        device_ref,
        at,
        1 if over else CLEAR,
        (Level("major", 0),),
        parameters,
        {"out_of_band_minutes": round(minutes, 1)},
        f"{minutes:.0f} min out of band in 24 h",
    )


def evaluate_mkt(
    device_ref: str,
    series: Series,
    interval: timedelta,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """The mean kinetic temperature over the policy's window above its limit (the warning line)."""
    start = at - timedelta(hours=parameters.temperature.mkt_window_hours)
    window = [(moment, mc / 1000) for moment, mc in series if start <= moment <= at]
    mkt = mean_kinetic_temperature(window, max_gap=3 * interval)
    return evaluate_mkt_value(
        device_ref, None if mkt is None else round(mkt * 1000), parameters, at, condition
    )


def evaluate_mkt_value(
    device_ref: str,
    mkt_mc: int | None,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """The MKT rule on a mean kinetic temperature already computed; None (no data in the window)
    holds the condition as it is."""
    rule = parameters.temperature
    limit = rule.mkt_limit_mc if rule.mkt_limit_mc is not None else rule.warning_above_mc
    met = 0 if mkt_mc is None or limit is None else (1 if mkt_mc > limit else CLEAR)
    return _once(
        condition,
        RuleCode.MKT_WINDOW,
        device_ref,
        at,
        met,
        (Level("major", 0),),
        parameters,
        {"mkt_mc": mkt_mc, "window_hours": rule.mkt_window_hours},
        f"MKT {mkt_mc} m°C over {rule.mkt_window_hours} h",
    )


def mkt_from_arrhenius_mean(mean_factor: float) -> float:
    """The MKT in °C whose Arrhenius factor exp(-ΔH/RT) is ``mean_factor`` (USP <1079>)."""
    return DELTA_H_J_PER_MOL / GAS_CONSTANT / -math.log(mean_factor) - ZERO_CELSIUS_K


def evaluate_stuck(
    device_ref: str,
    range_mc: int | None,
    peer_ranges_mc: Sequence[int],
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """Stuck: over the last ``stuck_sensor_minutes`` the probe's max − min stayed within the
    tolerance while a neighbour's moved beyond it (ranges from the rollups). A probe whose data
    does not cover the window (``range_mc`` None) holds its condition as it is: too little to tell."""
    tolerance = parameters.stuck_sensor_tolerance_mc
    if range_mc is None:
        met = 0
    else:
        stuck = range_mc <= tolerance and any(peer > tolerance for peer in peer_ranges_mc)
        met = 1 if stuck else CLEAR
    return _once(
        condition,
        RuleCode.SENSOR_STUCK,
        device_ref,
        at,
        met,
        (Level("major", 0),),
        parameters,
        {"range_mc": range_mc, "peer_ranges_mc": list(peer_ranges_mc)},
        f"moved {range_mc} m°C in {parameters.stuck_sensor_minutes} min",
    )


def evaluate_weight_without_release(
    room_ref: str,
    weight_before_g: int,
    weight_after_g: int,
    released_g: int,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
    context: Mapping[str, object] | None = None,
) -> Outcome:
    """A drop beyond the tolerance that approved releases over the same span do not explain.
    ``context`` is added to the trigger (the span, the scales)."""
    unexplained = weight_before_g - weight_after_g - released_g
    over = unexplained * 10_000 > weight_before_g * parameters.weight_drop_tolerance_bp
    return _once(
        condition,
        RuleCode.WEIGHT_WITHOUT_RELEASE,
        room_ref,
        at,
        1 if over else CLEAR,
        (Level("critical", 0),),
        parameters,
        {
            "before_g": weight_before_g,
            "after_g": weight_after_g,
            "released_g": released_g,
            **(context or {}),
        },
        f"{unexplained} g gone without a release",
    )


def evaluate_stock_below_floor(
    subject: str,
    quantity_g: int,
    value_fen: int | None,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """The pledged quantity or value below the policy's minimum. A value not known (None: no
    prices yet) is not judged against the value floor."""
    below = (
        parameters.min_control_quantity_g is not None and quantity_g < parameters.min_control_quantity_g
    ) or (
        value_fen is not None
        and parameters.min_control_value_fen is not None
        and value_fen < parameters.min_control_value_fen
    )
    return _once(
        condition,
        RuleCode.STOCK_BELOW_FLOOR,
        subject,
        at,
        1 if below else CLEAR,
        (Level("critical", 0),),
        parameters,
        {"quantity_g": quantity_g, "value_fen": value_fen},
        "stock below the policy floor",
    )


def evaluate_stocktake_variance(
    subject: str,
    counted_g: int,
    book_g: int,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
    context: Mapping[str, object] | None = None,
) -> Outcome:
    """Counted against book beyond the tolerance; ``context`` (the stocktake) joins the trigger."""
    variance = abs(counted_g - book_g)
    over = variance * 10_000 > book_g * parameters.stocktake_variance_tolerance_bp
    return _once(
        condition,
        RuleCode.STOCKTAKE_VARIANCE,
        subject,
        at,
        1 if over else CLEAR,
        (Level("major", 0),),
        parameters,
        {"counted_g": counted_g, "book_g": book_g, **(context or {})},
        f"counted {counted_g} g against {book_g} g on the book",
    )


def evaluate_expiry(
    subject: str,
    what: str,
    expires_on: date,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """Within ``expiry_warning_days`` (business calendar) is minor; expired is major. ``what``
    names the thing: calibration, insurance, certificate, storage_period, shelf_life."""
    days = (expires_on - business_date(at)).days
    met = 2 if days < 0 else (1 if days <= parameters.expiry_warning_days else CLEAR)
    return _once(
        condition,
        RuleCode.EXPIRY,
        subject,
        at,
        met,
        (Level("minor", 0), Level("major", 0)),
        parameters,
        {"what": what, "expires_on": expires_on.isoformat(), "days_left": days},
        f"{what} expires on {expires_on.isoformat()}",
    )


def evaluate_ltv(
    facility_ref: str,
    ltv_bp: int,
    parameters: PolicyParameters,
    at: datetime,
    warning: Condition | None = None,
    liquidation: Condition | None = None,
) -> tuple[Condition, Condition, list[Transition]]:
    """LTV at or above the warning line (major) and the liquidation line (critical): two rules,
    two conditions."""
    trigger = {"ltv_bp": ltv_bp}
    warned, first = _once(
        warning,
        RuleCode.LTV_WARNING,
        facility_ref,
        at,
        1 if ltv_bp >= parameters.ltv_warning_bp else CLEAR,
        (Level("major", 0),),
        parameters,
        trigger,
        f"LTV {ltv_bp / 100:.2f} %",
    )
    liquidating, second = _once(
        liquidation,
        RuleCode.LTV_LIQUIDATION,
        facility_ref,
        at,
        1 if ltv_bp >= parameters.ltv_liquidation_bp else CLEAR,
        (Level("critical", 0),),
        parameters,
        trigger,
        f"LTV {ltv_bp / 100:.2f} %",
    )
    return warned, liquidating, first + second


def business_days_between(start: date, end: date) -> int:
    """Weekdays after ``start`` up to and including ``end``. Public holidays are not known yet."""
    days, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if day.isoweekday() <= 5:
            days += 1
    return days


def evaluate_price_stale(
    subject: str,
    priced_at: datetime | None,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    age = None if priced_at is None else business_days_between(business_date(priced_at), business_date(at))
    stale = age is None or age > parameters.price_stale_business_days
    return _once(
        condition,
        RuleCode.PRICE_STALE,
        subject,
        at,
        1 if stale else CLEAR,
        (Level("major", 0),),
        parameters,
        {"priced_at": priced_at.isoformat() if priced_at else None, "business_days": age},
        f"price {age} business days old",
    )


def evaluate_door_left_open(
    device_ref: str,
    opened_at: datetime | None,
    changed_at: datetime,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
    spell: datetime | None = None,
) -> tuple[Condition, list[Transition], datetime | None]:
    """A door open longer than ``door_open_max_minutes`` though no reading says so again: a contact
    reports when it changes, so the ingest path, which judges readings, never sees the time pass.

    ``opened_at`` starts the current open spell (None when the door is closed, ``changed_at`` then
    being the closing reading's time); ``spell`` is the spell judged before. A spell that ended
    resolves at once, at its closing (a contact's closing is definite: no clear delay); a new one
    fires at the moment it became too long, which is event time. Returns the condition, the
    transitions and the spell to remember.
    """
    limit = timedelta(minutes=parameters.door_open_max_minutes)
    hygiene = Hygiene(0, parameters.flap_window_minutes * 60_000, parameters.flap_max_flips)
    levels = (Level("major", 0),)
    rule = RuleCode.DOOR_OPEN_TOO_LONG.value
    state = condition.copy() if condition is not None else Condition()
    out: list[Transition] = []
    device = int(device_ref.partition(":")[2]) if device_ref.startswith("device:") else device_ref

    def describe(since: datetime, until: datetime) -> tuple[dict[str, Any], str]:
        minutes = (until - since) // timedelta(minutes=1)
        trigger = {
            "device": device,
            "metric": "door",
            "opened_at": since.isoformat(),
            "open_minutes": minutes,
        }
        return trigger, f"door open since {since.isoformat()} ({minutes} min)"

    if spell is not None and opened_at != spell:
        end = changed_at if opened_at is None else opened_at
        state.step(rule, device_ref, to_ms(end), CLEAR, levels, hygiene, lambda: describe(spell, end), out)
    if opened_at is None:
        return state, out, None
    overdue = at - opened_at >= limit
    moment = opened_at + limit if overdue else at
    state.step(
        rule,
        device_ref,
        to_ms(moment),
        1 if overdue else CLEAR,
        levels,
        hygiene,
        lambda: describe(opened_at, moment),
        out,
    )
    return state, out, opened_at
