"""What the two risk screens show, as JSON-ready snapshots scoped to the viewer.

Each builder calls the contexts' own read functions with the viewer's principal (so a bank sees
its portfolio, a keeper its buildings, the operator everything), then shapes the rows in plain
functions. A snapshot holds codes and numbers, never translated text: the same snapshot serves
the page, its JSON and its event stream, and the page translates with the labels it was
rendered with (``labels``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from coldpledge.alerts import queries as alert_queries
from coldpledge.alerts.lifecycle import AlertStatus, Severity, SlaState
from coldpledge.calendar import BUSINESS_TZ, business_date
from coldpledge.evidence import log as evidence_log
from coldpledge.financing import margincalls, mtm_queries
from coldpledge.financing.mtm_models import MarginCallStatus
from coldpledge.financing.prices import service as prices
from coldpledge.financing.prices.models import ObservationStatus
from coldpledge.financing.risk import RiskState
from coldpledge.financing.risk_effects import MARGIN_CALL_RULE
from coldpledge.i18n import gettext
from coldpledge.inventory import queries as inventory_queries
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import OperationKind
from coldpledge.iot.room_views import RoomNow, rooms_and_health
from coldpledge.parties import service as parties
from coldpledge.parties.policy import Principal
from coldpledge.receipts import queries as receipt_queries
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.policies import EffectivePolicy, effective_policies
from coldpledge.warehouses import queries as warehouse_queries
from coldpledge.warehouses.models import Room

ROOM_STATES = ("normal", "warning", "critical", "offline")
LOW_BATTERY_PCT = 20.0
RECENT_ALERTS = 8
# The value chart's window, and the price chart's.
HISTORY_DAYS = 60
# LTV buckets' upper edges, in basis points (the last bucket is open above).
LTV_EDGES = (5000, 6000, 6500, 7000, 7500, 8000, 8500)
AT_RISK = (RiskState.WARNING, RiskState.MARGIN_CALL, RiskState.LIQUIDATION)
PRICE_SERIES_SHOWN = 6


# --- 存货作业风控大屏: inventory operations risk ------------------------------------------------


def inventory_snapshot(
    session: Session, principal: Principal, *, now: datetime, offline_intervals: int
) -> dict[str, Any]:
    rooms = warehouse_queries.rooms_in_view(session, principal)
    readings, health = rooms_and_health(session, principal, now=now, offline_intervals=offline_intervals)
    policies = effective_policies(session, [room.id for room in rooms])
    alerts_by_room = alert_queries.live_alerts_by_room(session, principal)
    recent = alert_queries.list_alerts(
        session, principal, alert_queries.AlertFilter(status=AlertStatus.OPEN, limit=RECENT_ALERTS)
    )
    day_start, day_end = local_day(now)
    room_codes = {room.id: room.code for room in rooms}
    return {
        "kind": "inventory",
        "generated_at": now.isoformat(),
        "warehouses": floor_plan(rooms, readings, policies, alerts_by_room),
        "alerts": alert_queries.alert_counts(session, principal),
        "recent_alerts": [
            {
                "id": alert.id,
                "severity": alert.severity.value,
                "rule": alert.rule,
                "room": room_codes.get(alert.room_id) if alert.room_id else None,
                "detail": alert.detail,
                "triggered_at": alert.triggered_at.isoformat(),
            }
            for alert in recent
        ],
        "operations": inventory_queries.operation_counts(session, principal, day_start, day_end),
        "work_orders": alert_queries.work_order_counts(session, principal, now),
        "devices": device_summary(
            (item.online, item.battery_pct, item.calibration_overdue) for item in health
        ),
    }


def local_day(now: datetime) -> tuple[datetime, datetime]:
    """Today on the warehouses' clock (China Standard Time), as a UTC-comparable interval."""
    start = datetime.combine(business_date(now), time(), tzinfo=BUSINESS_TZ)
    return start, start + timedelta(days=1)


def floor_plan(
    rooms: list[Room],
    readings: dict[int, RoomNow],
    policies: dict[int, EffectivePolicy],
    alerts_by_room: dict[int, dict[str, int]],
) -> list[dict[str, Any]]:
    """Warehouses in code order, each with its rooms as tiles."""
    warehouses: dict[int, dict[str, Any]] = {}
    for room in rooms:
        building = warehouses.setdefault(
            room.warehouse_id,
            {
                "id": room.warehouse_id,
                "code": room.warehouse.code,
                "name": room.warehouse.name,
                "city": room.warehouse.city,
                "rooms": [],
            },
        )
        building["rooms"].append(
            room_tile(room, readings.get(room.id), policies.get(room.id), alerts_by_room.get(room.id, {}))
        )
    for building in warehouses.values():
        building["states"] = dict(Counter(tile["state"] for tile in building["rooms"]))
    return list(warehouses.values())


def room_tile(
    room: Room, now: RoomNow | None, policy: EffectivePolicy | None, alerts: dict[str, int]
) -> dict[str, Any]:
    line = policy.parameters.temperature if policy is not None else None
    warn_high = _c(line.warning_above_mc) if line else _c(room.band_high_mc)
    warn_low = _c(line.warning_below_mc) if line else _c(room.band_low_mc)
    high_c = now.high_c if now else None
    low_c = now.low_c if now else None
    outside = (high_c is not None and warn_high is not None and high_c > warn_high) or (
        low_c is not None and warn_low is not None and low_c < warn_low
    )
    return {
        "id": room.id,
        "code": room.code,
        "name": room.name,
        "kind": room.kind.value,
        "temperature_class": room.temperature_class.value,
        "state": room_state(alerts, online=now.online if now else 0, outside=outside),
        "temperature_c": high_c,
        "low_c": low_c,
        "set_point_c": room.set_point_mc / 1000,
        "warning_above_c": warn_high,
        "warning_below_c": warn_low,
        "critical_above_c": _c(line.critical_above_mc) if line else None,
        "critical_below_c": _c(line.critical_below_mc) if line else None,
        "band_low_c": room.band_low_mc / 1000,
        "band_high_c": room.band_high_mc / 1000,
        "read_at": now.newest_at.isoformat() if now and now.newest_at else None,
        "doors": now.doors if now else 0,
        "doors_open": now.doors_open if now else 0,
        "devices": now.devices if now else 0,
        "online": now.online if now else 0,
        "alerts": {severity.value: alerts.get(severity.value, 0) for severity in Severity},
    }


def room_state(alerts: dict[str, int], *, online: int, outside: bool) -> str:
    """critical: a critical alert is live; offline: nothing in the room reports (a room with no
    device is not watched either); warning: a lesser alert is live, or a probe reads beyond the
    policy's warning line before any alert has fired; else normal."""
    if alerts.get(Severity.CRITICAL.value, 0):
        return "critical"
    if online == 0:
        return "offline"
    if alerts.get(Severity.MAJOR.value, 0) or alerts.get(Severity.MINOR.value, 0) or outside:
        return "warning"
    return "normal"


def device_summary(devices: Iterable[tuple[bool, float | None, bool]]) -> dict[str, int]:
    """(online, battery %, calibration overdue) per device -> the screen's device health."""
    total = online = low_battery = calibration_overdue = 0
    for is_online, battery, overdue in devices:
        total += 1
        online += int(is_online)
        low_battery += int(battery is not None and battery < LOW_BATTERY_PCT)
        calibration_overdue += int(overdue)
    return {
        "total": total,
        "online": online,
        "offline": total - online,
        "low_battery": low_battery,
        "calibration_overdue": calibration_overdue,
    }


def _c(milli: int | None) -> float | None:
    return None if milli is None else milli / 1000


# --- 数字仓单风控大屏: digital receipt risk -------------------------------------------------------


def receipts_snapshot(session: Session, principal: Principal, *, now: datetime) -> dict[str, Any]:
    today = business_date(now)
    since = today - timedelta(days=HISTORY_DAYS)
    marks = mtm_queries.facility_marks(session, principal)
    valuation_ids = [mark.valuation.id for mark in marks if mark.valuation is not None]
    calls = margincalls.list_calls(
        session, principal, margincalls.CallFilter(status=MarginCallStatus.OPEN, limit=500)
    )
    names = {org.id: org.name for org in parties.list_organisations(session, principal)}
    checkpoint = evidence_log.latest_checkpoint(session)
    return {
        "kind": "receipts",
        "generated_at": now.isoformat(),
        "business_date": today.isoformat(),
        "portfolio": portfolio_totals(marks),
        "value_history": [
            {
                "date": total.business_date.isoformat(),
                "exposure_fen": total.exposure_fen,
                "collateral_value_fen": total.collateral_value_fen,
            }
            for total in mtm_queries.daily_totals(session, principal, since)
        ],
        "ltv_buckets": ltv_buckets(mark.valuation.ltv_bp for mark in marks if mark.valuation is not None),
        "at_risk": at_risk(marks, {call.facility_id: call.deadline for call in calls}, names),
        "prices": price_trends(
            session,
            principal,
            mtm_queries.valued_commodities(session, principal, valuation_ids),
            since,
        ),
        "receipts": receipt_queries.receipt_counts(session, principal),
        "evidence": {
            "tree_size": evidence_log.tree_size(session),
            "checkpoint_size": checkpoint.tree_size if checkpoint else None,
            "checkpoint_at": checkpoint.signed_at.isoformat() if checkpoint else None,
        },
    }


def portfolio_totals(marks: list[mtm_queries.FacilityMark]) -> dict[str, Any]:
    exposure = sum(mark.valuation.exposure_fen for mark in marks if mark.valuation)
    value = sum(mark.valuation.collateral_value_fen for mark in marks if mark.valuation)
    states = Counter(mark.facility.risk_state.value for mark in marks)
    return {
        "facilities": len(marks),
        "exposure_fen": exposure,
        "collateral_value_fen": value,
        "ltv_bp": exposure * 10_000 // value if value else None,
        "risk_states": {state.value: states.get(state.value, 0) for state in RiskState},
    }


def ltv_buckets(ltvs: Iterable[int | None]) -> list[dict[str, Any]]:
    """Facilities per LTV bucket: [0, 50 %), [50 %, 60 %) … [85 %, ∞), and "no value" (an
    exposure with nothing behind it)."""
    edges = (0, *LTV_EDGES)
    buckets: list[dict[str, Any]] = [
        {"from_bp": low, "to_bp": high, "count": 0}
        for low, high in zip(edges, (*LTV_EDGES, None), strict=True)
    ]
    unvalued = 0
    for ltv in ltvs:
        if ltv is None:
            unvalued += 1
            continue
        index = sum(1 for edge in LTV_EDGES if ltv >= edge)
        buckets[index]["count"] += 1
    return [*buckets, {"from_bp": None, "to_bp": None, "count": unvalued}]


def at_risk(
    marks: list[mtm_queries.FacilityMark], deadlines: dict[int, date], names: dict[int, str]
) -> list[dict[str, Any]]:
    """Facilities in warning, margin call or liquidation: the worst state first, then the
    highest LTV."""
    rank = {state: index for index, state in enumerate(reversed(AT_RISK))}
    found = [mark for mark in marks if mark.facility.risk_state in AT_RISK]
    found.sort(
        key=lambda mark: (
            rank[mark.facility.risk_state],
            -(mark.valuation.ltv_bp or 0) if mark.valuation else 0,
            mark.facility.code,
        )
    )
    return [
        {
            "facility_id": mark.facility.id,
            "code": mark.facility.code,
            "bank": names.get(mark.facility.bank_org_id, ""),
            "borrower": names.get(mark.facility.borrower_org_id, ""),
            "risk_state": mark.facility.risk_state.value,
            "ltv_bp": mark.valuation.ltv_bp if mark.valuation else None,
            "exposure_fen": mark.valuation.exposure_fen if mark.valuation else None,
            "collateral_value_fen": mark.valuation.collateral_value_fen if mark.valuation else None,
            "warning_line_bp": mark.facility.warning_line_bp,
            "liquidation_line_bp": mark.facility.liquidation_line_bp,
            "deadline": deadlines[mark.facility.id].isoformat() if mark.facility.id in deadlines else None,
        }
        for mark in found
    ]


def price_trends(
    session: Session, principal: Principal, commodity_ids: set[int], since: date
) -> list[dict[str, Any]]:
    """The approved daily mids of each pledged commodity's primary series since ``since``: one
    query for the series, one for the commodities' names, one per series shown (a handful)."""
    if not commodity_ids:
        return []
    series = [
        found
        for found in prices.list_series(session, principal, active=True)
        if found.is_primary and found.commodity_id in commodity_ids
    ][:PRICE_SERIES_SHOWN]
    commodities = {found.id: found for found in inventory.list_commodities(session, principal)}
    trends = []
    for found in series:
        observations = prices.list_observations(
            session,
            principal,
            prices.ObservationFilter(
                series_id=found.id, status=ObservationStatus.APPROVED, date_from=since, limit=HISTORY_DAYS + 1
            ),
        )
        commodity = commodities.get(found.commodity_id)
        trends.append(
            {
                "series_code": found.code,
                "commodity_code": commodity.code if commodity else "",
                "commodity_name": commodity.name if commodity else "",
                "commodity_name_en": commodity.name_en if commodity else "",
                "points": [
                    [observation.price_date.isoformat(), observation.price_mid_fen_per_t]
                    for observation in reversed(observations)
                ],
            }
        )
    return trends


# --- labels -------------------------------------------------------------------------------------


def labels() -> dict[str, dict[str, str]]:
    """The words the screens' script shows, in the request's language."""
    return {
        "room_state": {
            "normal": gettext("Normal"),
            "warning": gettext("Warning"),
            "critical": gettext("Critical alert open"),
            "offline": gettext("Offline"),
        },
        "severity": {severity.value: gettext(severity.label) for severity in Severity},
        "sla": {state.value: gettext(state.label) for state in SlaState},
        "rule": {
            **{rule.value: gettext(rule.label) for rule in RuleCode},
            MARGIN_CALL_RULE: gettext(RiskState.MARGIN_CALL.label),
        },
        "operation": {kind.value: gettext(kind.label) for kind in OperationKind},
        "risk_state": {state.value: gettext(state.label) for state in RiskState},
        "receipt_status": {status.value: gettext(status.label) for status in ReceiptStatus},
        "chart": {
            "exposure": gettext("Exposure"),
            "collateral_value": gettext("Collateral value"),
            "no_value": gettext("No value"),
            "yuan_per_kg": gettext("CNY/kg"),
            "ten_thousand_yuan": gettext("CNY 10,000"),
            "online": gettext("Online"),
            "offline": gettext("Offline"),
            "low_battery": gettext("Low battery"),
            "none": gettext("None"),
            "doors_open": gettext("Doors open"),
        },
    }
