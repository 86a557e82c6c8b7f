"""Rules the scheduler runs on plain values it reads from the database.

Each function takes the stored ``Condition`` of its (rule, subject), or None, and returns the
condition to store and the transitions to apply. Times are aware datetimes; temperatures
milli-degrees Celsius; quantities grams; money fen; ratios basis points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

from coldpledge.calendar import business_date
from coldpledge.iot.coldchain import mean_kinetic_temperature, summarise
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.conditions import CLEAR, Condition, Hygiene, Level, Transition, judge_once
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
    minutes = (summary.out_of_band_seconds or 0.0) / 60
    over = minutes > rule.cumulative_excursion_minutes_per_24h
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
    rule = parameters.temperature
    limit = rule.mkt_limit_mc if rule.mkt_limit_mc is not None else rule.warning_above_mc
    start = at - timedelta(hours=rule.mkt_window_hours)
    window = [(moment, mc / 1000) for moment, mc in series if start <= moment <= at]
    mkt = mean_kinetic_temperature(window, max_gap=3 * interval)
    met = 0 if mkt is None or limit is None else (1 if mkt * 1000 > limit else CLEAR)
    mkt_mc = None if mkt is None else round(mkt * 1000)
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


def evaluate_stuck(
    device_ref: str,
    range_mc: int,
    peer_ranges_mc: Sequence[int],
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    """Stuck: over the last ``stuck_sensor_minutes`` the probe's max − min stayed within the
    tolerance while a neighbour's moved beyond it (ranges from the rollups)."""
    tolerance = parameters.stuck_sensor_tolerance_mc
    stuck = range_mc <= tolerance and any(peer > tolerance for peer in peer_ranges_mc)
    return _once(
        condition,
        RuleCode.SENSOR_STUCK,
        device_ref,
        at,
        1 if stuck else CLEAR,
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
) -> Outcome:
    """A drop beyond the tolerance that approved releases over the same span do not explain."""
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
        {"before_g": weight_before_g, "after_g": weight_after_g, "released_g": released_g},
        f"{unexplained} g gone without a release",
    )


def evaluate_stock_below_floor(
    subject: str,
    quantity_g: int,
    value_fen: int,
    parameters: PolicyParameters,
    at: datetime,
    condition: Condition | None = None,
) -> Outcome:
    below = (
        parameters.min_control_quantity_g is not None and quantity_g < parameters.min_control_quantity_g
    ) or (parameters.min_control_value_fen is not None and value_fen < parameters.min_control_value_fen)
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
) -> Outcome:
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
        {"counted_g": counted_g, "book_g": book_g},
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
