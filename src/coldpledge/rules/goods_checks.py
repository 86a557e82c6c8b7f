"""The scheduler's checks on goods: expiry of lots and receipts, a dynamic pledge's stock floor,
stocktake variance, weight drops without a release."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from coldpledge.alerts.people import AlertScope
from coldpledge.calendar import business_date
from coldpledge.financing.collateral import LotValue
from coldpledge.financing.prices.service import prices_for
from coldpledge.inventory.models import Commodity, Lot, Operation, OperationKind
from coldpledge.iot.models import Device, DeviceKind, DeviceStatus, LatestReading, RollupMinute
from coldpledge.receipts.models import Pledge, PledgeStatus, Receipt, Release, ReleaseStatus
from coldpledge.rules.catalogue import RuleCode
from coldpledge.rules.judging import (
    ACTIVE_RECEIPTS,
    LIVE_LOTS,
    WEIGHT,
    WEIGHT_WINDOW,
    Judged,
)
from coldpledge.rules.periodic import (
    evaluate_expiry,
    evaluate_stock_below_floor,
    evaluate_stocktake_variance,
    evaluate_weight_without_release,
)
from coldpledge.rules.service import lock_rooms, room_settings
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room, SupervisionMode, VirtualWarehouse, VirtualWarehouseStatus
from coldpledge.warehouses.policy import PolicyParameters


def judge_goods_expiry(uow: UnitOfWork) -> dict[str, int]:
    """Expiry of the goods and their papers: a lot's shelf life (its expiry date, else its
    production date plus the commodity's shelf life) and the validity of its latest inspection
    report or disinfection certificate that has one, whichever ends first; a live receipt's
    storage period and insurance, whichever ends first. (A device's calibration is judged with
    the devices.)"""
    with uow:
        session = uow.session
        now = uow.now()
        lots = list(
            session.execute(
                select(Lot.code, Lot.room_id, Lot.expiry_date, Lot.production_date, Commodity.shelf_life_days)
                .join(Commodity, Commodity.id == Lot.commodity_id)
                .where(
                    Lot.status.in_(LIVE_LOTS),
                    or_(
                        Lot.expiry_date.is_not(None),
                        and_(Lot.production_date.is_not(None), Commodity.shelf_life_days.is_not(None)),
                    ),
                )
                .order_by(Lot.id)
            )
        )
        certificates = _certificates_of_live_lots(session)
        receipts = list(
            session.execute(
                select(Receipt.code, Lot.room_id, Receipt.storage_period_end, Receipt.insurance_until)
                .join(Lot, Lot.id == Receipt.lot_id)
                .where(Receipt.status.in_(ACTIVE_RECEIPTS))
                .order_by(Receipt.id)
            )
        )
        rooms = sorted(
            {row[1] for row in lots} | {row[1] for row in receipts} | {row[1] for row in certificates}
        )
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        ending: dict[str, tuple[int, list[tuple[str, date]]]] = {}
        for code, room, expiry, produced, shelf_days in lots:
            if expiry is not None:
                ends = expiry
            elif produced is not None and shelf_days is not None:
                ends = produced + timedelta(days=shelf_days)
            else:
                continue
            ending.setdefault(code, (room, []))[1].append(("shelf_life", ends))
        for code, room, valid_until in certificates:
            ending.setdefault(code, (room, []))[1].append(("certificate", valid_until))
        items: list[tuple[str, int, str, date]] = []
        for code, (room, dates) in ending.items():
            what, ends = min(dates, key=lambda item: item[1])
            items.append((f"lot:{code}", room, what, ends))
        for code, room, storage_end, insured_until in receipts:
            dates = [("storage_period", storage_end)]
            if insured_until is not None:
                dates.append(("insurance", insured_until))
            what, ends = min(dates, key=lambda item: item[1])
            items.append((f"receipt:{code}", room, what, ends))
        judged = Judged(uow, [(RuleCode.EXPIRY.value, subject) for subject, *_ in items])
        for subject, room, what, ends in items:
            judged.put(
                RuleCode.EXPIRY,
                subject,
                AlertScope(room_id=room),
                evaluate_expiry(
                    subject, what, ends, settings[room].parameters, now, judged.get(RuleCode.EXPIRY, subject)
                ),
            )
        names = {subject for subject, *_ in items}
        judged.retire(RuleCode.EXPIRY, "lot:", names)
        judged.retire(RuleCode.EXPIRY, "receipt:", names)
        report = judged.finish()
        uow.commit()
    return {"lots": len(lots), "receipts": len(receipts), **report}


def _certificates_of_live_lots(session: Session) -> list[tuple[str, int, date]]:
    """Per live lot, its latest inspection or disinfection that recorded a validity (a newer
    report or certificate stands in for an older one): the lot's code, room and that date."""
    ranked = (
        select(
            Operation.lot_id,
            Operation.certificate_valid_until,
            func.row_number()
            .over(
                partition_by=Operation.lot_id, order_by=(Operation.performed_at.desc(), Operation.id.desc())
            )
            .label("rank"),
        )
        .where(
            Operation.kind.in_((OperationKind.INSPECT, OperationKind.DISINFECT)),
            Operation.certificate_valid_until.is_not(None),
        )
        .subquery()
    )
    return [
        (code, room, valid_until)
        for code, room, valid_until in session.execute(
            select(Lot.code, Lot.room_id, ranked.c.certificate_valid_until)
            .join(ranked, ranked.c.lot_id == Lot.id)
            .where(ranked.c.rank == 1, Lot.status.in_(LIVE_LOTS))
            .order_by(Lot.id)
        )
    ]


def judge_stock_floor(uow: UnitOfWork) -> dict[str, int]:
    """A dynamic pledge's floor: the quantity pledged in a virtual warehouse (live receipts under
    an active pledge on lots in its rooms) below its policy's ``min_control_quantity_g``, or its
    value at the day's approved prices below ``min_control_value_fen`` (not judged while a
    commodity there has no price). The pledge terms are the same in every room of a virtual
    warehouse; they are read, and the rooms locked, as for any room."""
    with uow:
        session = uow.session
        now = uow.now()
        placed = list(
            session.execute(
                select(Room.virtual_warehouse_id, Room.id, VirtualWarehouse.code)
                .join(VirtualWarehouse, VirtualWarehouse.id == Room.virtual_warehouse_id)
                .where(VirtualWarehouse.status == VirtualWarehouseStatus.ACTIVE)
                .order_by(Room.virtual_warehouse_id, Room.id)
            )
        )
        rooms = sorted({room for _, room, _ in placed})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        floors: dict[int, tuple[str, PolicyParameters]] = {}
        for vw, room, code in placed:
            parameters = settings[room].parameters
            if (
                vw is not None
                and vw not in floors
                and parameters.mode is SupervisionMode.DYNAMIC
                and (
                    parameters.min_control_quantity_g is not None
                    or parameters.min_control_value_fen is not None
                )
            ):
                floors[vw] = (f"virtual_warehouse:{code}", parameters)
        pledged = (
            select(Pledge.id)
            .where(Pledge.receipt_id == Receipt.id, Pledge.status == PledgeStatus.ACTIVE)
            .exists()
        )
        quantities: dict[int, int] = {}
        by_commodity: dict[int, dict[int, int]] = {}
        if floors:
            for vw, commodity, total in session.execute(
                select(Room.virtual_warehouse_id, Lot.commodity_id, func.sum(Receipt.quantity_g))
                .join(Lot, Lot.id == Receipt.lot_id)
                .join(Room, Room.id == Lot.room_id)
                .where(
                    Room.virtual_warehouse_id.in_(sorted(floors)),
                    Receipt.status.in_(ACTIVE_RECEIPTS),
                    pledged,
                )
                .group_by(Room.virtual_warehouse_id, Lot.commodity_id)
            ):
                if vw is not None:
                    quantities[vw] = quantities.get(vw, 0) + int(total or 0)
                    by_commodity.setdefault(vw, {})[commodity] = int(total or 0)
        values = _values_at_today_s_prices(session, by_commodity, business_date(now))
        judged = Judged(uow, [(RuleCode.STOCK_BELOW_FLOOR.value, s) for s, _ in floors.values()])
        for vw, (subject, parameters) in sorted(floors.items()):
            judged.put(
                RuleCode.STOCK_BELOW_FLOOR,
                subject,
                AlertScope(virtual_warehouse_id=vw),
                evaluate_stock_below_floor(
                    subject,
                    quantities.get(vw, 0),
                    values.get(vw),
                    parameters,
                    now,
                    judged.get(RuleCode.STOCK_BELOW_FLOOR, subject),
                ),
            )
        judged.retire(RuleCode.STOCK_BELOW_FLOOR, "virtual_warehouse:", {s for s, _ in floors.values()})
        report = judged.finish()
        uow.commit()
    return {"dynamic_pledges": len(floors), **report}


def _values_at_today_s_prices(
    session: Session, grams: dict[int, dict[int, int]], on: date
) -> dict[int, int | None]:
    """Each virtual warehouse's pledged goods at the approved prices of ``on`` (the same prices a
    valuation uses), rounded down; None where a commodity has no price: a floor in money is not
    judged on a value that is not known."""
    prices = prices_for(session, {c for found in grams.values() for c in found}, on)
    values: dict[int, int | None] = {}
    for vw, found in grams.items():
        if any(commodity not in prices for commodity in found):
            values[vw] = None
            continue
        values[vw] = sum(
            LotValue(quantity_g=g, price_fen_per_t=prices[commodity].price_fen_per_t).value_fen
            for commodity, g in found.items()
        )
    return values


def judge_stocktakes(uow: UnitOfWork) -> dict[str, int]:
    """The latest stocktake of each live lot, counted against the book it was counted against
    (``expected_g``, the lot's verified weight then), beyond the policy's tolerance."""
    with uow:
        session = uow.session
        now = uow.now()
        later = aliased(Operation)
        newest = (
            select(later.id)
            .where(
                later.lot_id == Operation.lot_id,
                later.kind == OperationKind.STOCKTAKE,
                or_(
                    later.performed_at > Operation.performed_at,
                    and_(later.performed_at == Operation.performed_at, later.id > Operation.id),
                ),
            )
            .exists()
        )
        rows = list(
            session.execute(
                select(
                    Lot.code,
                    Lot.room_id,
                    Lot.verified_net_weight_g,
                    Operation.id,
                    Operation.performed_at,
                    Operation.counted_g,
                    Operation.expected_g,
                )
                .join(Lot, Lot.id == Operation.lot_id)
                .where(
                    Operation.kind == OperationKind.STOCKTAKE,
                    Operation.counted_g.is_not(None),
                    Lot.status.in_(LIVE_LOTS),
                    ~newest,
                )
                .order_by(Lot.id)
            )
        )
        rooms = sorted({row[1] for row in rows})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        judged = Judged(uow, [(RuleCode.STOCKTAKE_VARIANCE.value, f"lot:{row[0]}") for row in rows])
        for code, room, verified_g, operation_id, performed_at, counted_g, expected_g in rows:
            subject = f"lot:{code}"
            book = expected_g if expected_g is not None else verified_g
            assert counted_g is not None  # selected so
            context = {"operation": operation_id, "counted_at": performed_at.isoformat()}
            judged.put(
                RuleCode.STOCKTAKE_VARIANCE,
                subject,
                AlertScope(room_id=room),
                evaluate_stocktake_variance(
                    subject,
                    counted_g,
                    book,
                    settings[room].parameters,
                    now,
                    judged.get(RuleCode.STOCKTAKE_VARIANCE, subject),
                    context,
                ),
            )
        judged.retire(RuleCode.STOCKTAKE_VARIANCE, "lot:", {f"lot:{row[0]}" for row in rows})
        report = judged.finish()
        uow.commit()
    return {"lots": len(rows), **report}


def judge_weight(uow: UnitOfWork) -> dict[str, int]:
    """A room's floor scales dropping beyond the tolerance in the last 24 hours without approved
    releases to explain it: from each scale's peak in the window (minute rollups) to its latest
    reading, against the releases of the room's goods executed since the peak, or approved and
    still valid then (the goods may be on their way out before the release is marked executed)."""
    with uow:
        session = uow.session
        now = uow.now()
        start = now - WEIGHT_WINDOW
        r = RollupMinute
        peak = (
            select(r.device_id.label("device_id"), func.max(r.max_u).label("peak_u"))
            .join(Device, Device.id == r.device_id)
            .where(
                Device.kind == DeviceKind.SCALE,
                Device.status == DeviceStatus.ACTIVE,
                r.metric == WEIGHT,
                r.bucket >= start,
                r.bucket < now,
            )
            .group_by(r.device_id)
            .subquery()
        )
        scales = list(
            session.execute(
                select(
                    Device.id,
                    Device.room_id,
                    peak.c.peak_u,
                    func.max(r.bucket),
                    LatestReading.value_u,
                    LatestReading.ts,
                )
                .join(peak, peak.c.device_id == Device.id)
                .join(
                    r,
                    and_(
                        r.device_id == Device.id,
                        r.metric == WEIGHT,
                        r.bucket >= start,
                        r.max_u == peak.c.peak_u,
                    ),
                )
                .join(
                    LatestReading, and_(LatestReading.device_id == Device.id, LatestReading.metric == WEIGHT)
                )
                .where(LatestReading.fault == 0)
                .group_by(Device.id, Device.room_id, peak.c.peak_u, LatestReading.value_u, LatestReading.ts)
                .order_by(Device.id)
            )
        )
        rooms = sorted({row[1] for row in scales})
        lock_rooms(session, rooms)
        settings = room_settings(session, rooms)
        by_room: dict[int, list[tuple[int, int, datetime, int]]] = defaultdict(list)
        for device, room, peak_u, peak_at, last_u, _ in scales:
            by_room[room].append((device, peak_u // 1000, peak_at, last_u // 1000))
        released: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
        if rooms:
            for room, status, executed_at, valid_until, executed_g, quantity_g in session.execute(
                select(
                    Lot.room_id,
                    Release.status,
                    Release.executed_at,
                    Release.valid_until,
                    Release.executed_net_g,
                    Release.quantity_g,
                )
                .join(Receipt, Receipt.id == Release.receipt_id)
                .join(Lot, Lot.id == Receipt.lot_id)
                .where(
                    Lot.room_id.in_(rooms),
                    or_(
                        and_(Release.status == ReleaseStatus.EXECUTED, Release.executed_at >= start),
                        and_(Release.status == ReleaseStatus.APPROVED, Release.valid_until >= start),
                    ),
                )
            ):
                if status == ReleaseStatus.EXECUTED and executed_at is not None:
                    released[room].append((executed_at, executed_g if executed_g is not None else quantity_g))
                else:
                    released[room].append((valid_until, quantity_g))
        subjects = {room: f"room:{room}" for room in rooms}
        judged = Judged(uow, [(RuleCode.WEIGHT_WITHOUT_RELEASE.value, s) for s in subjects.values()])
        for room in rooms:
            members = by_room[room]
            since = min(peak_at for _, _, peak_at, _ in members)
            before = sum(peak_g for _, peak_g, _, _ in members)
            after = sum(last_g for *_, last_g in members)
            out = sum(grams for moment, grams in released[room] if moment >= since)
            subject = subjects[room]
            judged.put(
                RuleCode.WEIGHT_WITHOUT_RELEASE,
                subject,
                AlertScope(room_id=room),
                evaluate_weight_without_release(
                    subject,
                    before,
                    after,
                    out,
                    settings[room].parameters,
                    now,
                    judged.get(RuleCode.WEIGHT_WITHOUT_RELEASE, subject),
                    {"since": since.isoformat(), "scales": [device for device, *_ in members]},
                ),
            )
        report = judged.finish()
        uow.commit()
    return {"rooms": len(rooms), "scales": len(scales), **report}
