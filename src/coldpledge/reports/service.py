"""Gathering a report's data: each context's own read functions, called with the viewer's
principal, so a report holds exactly what its reader may see (out of scope: NotFound, 404)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from coldpledge.alerts import queries as alert_queries
from coldpledge.alerts.lifecycle import FINISHED, AlertStatus, Severity, WorkOrderStatus
from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.calendar import business_date
from coldpledge.errors import N_, InvalidInput, NotFound, PermissionDenied
from coldpledge.evidence import log as evidence_log
from coldpledge.evidence.note import NoteError, parse_note
from coldpledge.evidence.verify import verify_package
from coldpledge.financing import margincalls, mtm_queries
from coldpledge.financing import queries as financing_queries
from coldpledge.financing.models import FacilityStatus
from coldpledge.financing.mtm_models import MarginCallStatus
from coldpledge.financing.risk import RiskState
from coldpledge.financing.risk_effects import MARGIN_CALL_RULE
from coldpledge.i18n import gettext
from coldpledge.inventory import queries as inventory_queries
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import OperationKind, Seal
from coldpledge.iot import queries as iot_queries
from coldpledge.parties import service as parties
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.reports import builders
from coldpledge.reports.model import (
    AlertLine,
    Certificate,
    CheckpointLine,
    DailyReport,
    FacilityLine,
    OperationLine,
    PortfolioReport,
    RoomDay,
    SealLine,
    WorkOrderLine,
)
from coldpledge.rules.catalogue import RuleCode
from coldpledge.warehouses import service as warehouses

MANY = 10_000  # a day's or a portfolio's rows: far more than any has, still bounded


def _no_future(day: date, now: datetime) -> None:
    if day > business_date(now):
        raise InvalidInput(N_("The date {day} has not happened yet."), field="date", day=day.isoformat())


# --- daily supervision report -----------------------------------------------------------------


def daily_report(
    session: Session, principal: Principal, warehouse_id: int, day: date, *, now: datetime
) -> DailyReport:
    warehouse = warehouses.get_warehouse(session, principal, warehouse_id)
    _no_future(day, now)
    start, end = builders.business_day(day)
    # Today's report stops now; a past day's covers the whole day.
    until = min(end, now)
    rooms = warehouses.visible_rooms(session, principal, warehouse.id)
    codes = {room.id: room.code for room in rooms}
    room_days = []
    for room in rooms:
        chain = iot_queries.room_cold_chain(session, principal, room.id, start=start, end=until, now=now)
        room_days.append(
            RoomDay(
                code=room.code,
                name=room.name,
                band_low_c=chain.band_low_c,
                band_high_c=chain.band_high_c,
                min_c=chain.min_c,
                max_c=chain.max_c,
                mean_c=chain.mean_c,
                out_of_band_minutes=chain.out_of_band_minutes,
                mkt_c=chain.mkt_c,
                completeness=chain.completeness,
                devices=len(chain.devices),
            )
        )
    raised = alert_queries.list_alerts(
        session,
        principal,
        alert_queries.AlertFilter(warehouse_id=warehouse.id, since=start, until=end, limit=MANY),
    )
    resolved = alert_queries.alerts_resolved_between(session, principal, warehouse.id, start, end)
    orders = [
        _work_order(order, codes)
        for order in alert_queries.work_orders_during(session, principal, warehouse.id, start, end)
    ]
    opened, finished, overdue = builders.work_order_sections(orders, start, end, until)
    operations = [
        OperationLine(
            id=operation.id,
            kind=operation.kind.value,
            kind_label=gettext(operation.kind.label),
            lot=lot_code or "",
            room=codes.get(operation.room_id, "") if operation.room_id else "",
            performed_at=operation.performed_at,
            net_g=operation.net_g,
            cartons=operation.cartons,
            weigh_ticket_no=operation.weigh_ticket_no or "",
        )
        for operation, lot_code in inventory_queries.operations_between(
            session, principal, warehouse.id, start, end
        )
    ]
    seals = [
        _seal(session, principal, seal, codes)
        for seal in inventory.list_seals(session, principal, lot_id=None, room_id=None, active=None)
        if seal.warehouse_id == warehouse.id
        and seal.sealed_at < end
        and (seal.removed_at is None or seal.removed_at >= start)
    ]
    applied, removed, in_place = builders.seal_sections(seals, start, end)
    return DailyReport(
        warehouse_code=warehouse.code,
        warehouse_name=warehouse.name,
        business_date=day,
        start=start,
        end=end,
        generated_at=now,
        rooms=room_days,
        alerts_raised=[_alert(alert, codes) for alert in reversed(raised)],
        alerts_resolved=[_alert(alert, codes) for alert in resolved],
        work_orders_opened=opened,
        work_orders_closed=finished,
        work_orders_overdue=overdue,
        operations=operations,
        operation_totals=builders.operation_totals(operations, _operation_label),
        seals_applied=applied,
        seals_removed=removed,
        seals_in_place=in_place,
        checkpoint=latest_checkpoint(session),
    )


def _operation_label(kind: str) -> str:
    return gettext(OperationKind(kind).label)


def rule_label(rule: str) -> str:
    if rule == MARGIN_CALL_RULE:
        return gettext(RiskState.MARGIN_CALL.label)
    try:
        return gettext(RuleCode(rule).label)
    except ValueError:
        return rule


def _alert(alert: Alert, rooms: dict[int, str]) -> AlertLine:
    return AlertLine(
        id=alert.id,
        rule=rule_label(alert.rule),
        severity=gettext(Severity(alert.severity).label),
        status=gettext(AlertStatus(alert.status).label),
        room=rooms.get(alert.room_id, "") if alert.room_id else "",
        triggered_at=alert.triggered_at,
        resolved_at=alert.resolved_at,
        detail=alert.detail,
    )


def _work_order(order: WorkOrder, rooms: dict[int, str]) -> WorkOrderLine:
    return WorkOrderLine(
        id=order.id,
        title=order.title,
        severity=gettext(Severity(order.severity).label),
        status=gettext(WorkOrderStatus(order.status).label),
        room=rooms.get(order.room_id, "") if order.room_id else "",
        opened_at=order.opened_at,
        resolve_by=order.resolve_by,
        finished_at=order.closed_at or order.cancelled_at,
        finished=order.status in FINISHED,
    )


def _seal(session: Session, principal: Principal, seal: Seal, rooms: dict[int, str]) -> SealLine:
    if seal.room_id is not None:
        target = rooms.get(seal.room_id, "")
    else:
        assert seal.lot_id is not None  # a seal is on a room or on a lot
        try:
            target = inventory.get_lot(session, principal, seal.lot_id).code
        except NotFound:
            target = ""
    return SealLine(
        number=seal.number,
        target=target,
        sealed_at=seal.sealed_at,
        removed_at=seal.removed_at,
        removal_reason=seal.removal_reason or "",
    )


def latest_checkpoint(session: Session) -> CheckpointLine | None:
    """The log's latest signed checkpoint: it covers every entry sequenced before it, the day's
    included once the log worker has taken them in."""
    checkpoint = evidence_log.latest_checkpoint(session)
    if checkpoint is None:
        return None
    try:
        signatures = len(parse_note(evidence_log.rendered(session, checkpoint)).signatures)
    except NoteError:
        signatures = 1
    return builders.checkpoint_line(
        checkpoint.note,
        tree_size=checkpoint.tree_size,
        root_hash=checkpoint.root_hash,
        signed_at=checkpoint.signed_at,
        cosignatures=max(0, signatures - 1),
    )


# --- portfolio report -------------------------------------------------------------------------


def portfolio_bank(session: Session, principal: Principal, bank_org_id: int | None) -> tuple[int, str]:
    """The bank whose portfolio is asked for: the caller's own; the operator names one."""
    if principal.is_operator:
        if bank_org_id is None:
            raise InvalidInput(N_("Name the bank: bank_org_id."), field="bank_org_id")
        bank = parties.get_organisation(session, principal, bank_org_id)
        if bank.party_type is not PartyType.BANK:
            raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("bank"), ident=bank_org_id)
        return bank.id, bank.name
    if principal.party_type is not PartyType.BANK or principal.org_id is None:
        raise PermissionDenied(N_("Portfolio reports are for banks."))
    if bank_org_id is not None and bank_org_id != principal.org_id:
        raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("bank"), ident=bank_org_id)
    bank = parties.get_organisation(session, principal, principal.org_id)
    return bank.id, bank.name


def portfolio_report(
    session: Session, principal: Principal, day: date, *, bank_org_id: int | None, now: datetime
) -> PortfolioReport:
    bank_id, bank_name = portfolio_bank(session, principal, bank_org_id)
    _no_future(day, now)
    found = financing_queries.list_facilities(
        session, principal, financing_queries.FacilityFilter(bank_org_id=bank_id, limit=MANY)
    )
    shown = [
        facility
        for facility in found
        if facility.start_date <= day
        and facility.status not in (FacilityStatus.REJECTED, FacilityStatus.WITHDRAWN)
    ]
    calls: dict[int, int] = {}
    for call in margincalls.list_calls(
        session, principal, margincalls.CallFilter(status=MarginCallStatus.OPEN, limit=MANY)
    ):
        if call.business_date <= day:
            calls[call.facility_id] = calls.get(call.facility_id, 0) + 1
    names = parties.organisation_names(session, {facility.borrower_org_id for facility in shown})
    lines = []
    for facility in sorted(shown, key=lambda facility: facility.code):
        valued = mtm_queries.valuations(
            session, principal, facility.id, mtm_queries.ValuationFilter(date_to=day, limit=1)
        )
        valuation = valued[0] if valued else None
        risk = valuation.risk_after if valuation is not None else facility.risk_state
        lines.append(
            FacilityLine(
                code=facility.code,
                borrower=names.get(facility.borrower_org_id, ""),
                status=gettext(FacilityStatus(facility.status).label),
                risk_state=gettext(RiskState(risk).label),
                limit_fen=facility.limit_fen,
                exposure_fen=valuation.exposure_fen if valuation else None,
                collateral_value_fen=valuation.collateral_value_fen if valuation else None,
                ltv_bp=valuation.ltv_bp if valuation else None,
                valued_on=valuation.business_date if valuation else None,
                open_margin_calls=calls.get(facility.id, 0),
            )
        )
    return PortfolioReport(
        bank_name=bank_name,
        business_date=day,
        generated_at=now,
        facilities=lines,
        totals=builders.portfolio_totals(lines),
    )


# --- evidence certificate ---------------------------------------------------------------------


def evidence_certificate(data: bytes, name: str, *, now: datetime) -> Certificate:
    """The certificate of a package that verifies offline; one that does not is refused with
    the verifier's first reasons (no certificate for a package nobody can rely on)."""
    result = verify_package(data)
    if not result.ok:
        reasons = "; ".join(finding.text("en") for finding in result.failures[:3]) or "it holds no entry"
        raise InvalidInput(
            N_("The file is not an evidence package that verifies: {reasons}."),
            field="package",
            reasons=reasons,
        )
    return builders.certificate(result, data, name, now)
