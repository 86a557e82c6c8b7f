"""Use cases of the inventory context: lots and what is done to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, BinaryIO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.calendar import business_date
from coldpledge.codes import lot_code
from coldpledge.errors import N_, Conflict, InvalidInput, NotFound
from coldpledge.inventory.files import FileStore
from coldpledge.inventory.models import (
    Attachment,
    AttachmentLink,
    AttachmentPurpose,
    Commodity,
    InspectionResult,
    Lot,
    LotStatus,
    Operation,
    OperationKind,
    QualityStatus,
    Seal,
)
from coldpledge.inventory.schemas import (
    CommodityIn,
    DisinfectIn,
    DocumentsIn,
    InboundIn,
    InspectIn,
    SealIn,
    StocktakeIn,
    UnsealIn,
    WeighIn,
)
from coldpledge.parties.access import obtain, require, restrict
from coldpledge.parties.models import Organisation
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.rules.policies import parameters_for_rooms
from coldpledge.units import celsius_to_mc
from coldpledge.uow import CONSTRAINT_MESSAGES, UnitOfWork
from coldpledge.warehouses.models import Room, TemperatureClass, Warehouse
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.service import release_windows_of
from coldpledge.warehouses.windows import within_any

CONSTRAINT_MESSAGES["uq_seals_number"] = N_(
    "A seal with this number was used before; seal numbers are single-use."
)
CONSTRAINT_MESSAGES["seals.number"] = CONSTRAINT_MESSAGES["uq_seals_number"]

# Which rooms may hold which goods: frozen goods never go into a chilled room.
_ROOMS_FOR = {
    TemperatureClass.FROZEN: {TemperatureClass.FROZEN, TemperatureClass.DEEP_FROZEN},
    TemperatureClass.DEEP_FROZEN: {TemperatureClass.DEEP_FROZEN},
    TemperatureClass.CHILLED: {TemperatureClass.CHILLED},
}
STOCK_STATES = (LotStatus.IN_STOCK, LotStatus.ON_HOLD)
# Readings and operations may be a little ahead of the server clock, never more.
CLOCK_SKEW = timedelta(minutes=5)


# --- commodities ------------------------------------------------------------------------------


def list_commodities(session: Session, principal: Principal) -> list[Commodity]:
    return list(session.scalars(restrict(principal, "view", Commodity).order_by(Commodity.code)))


def create_commodity(uow: UnitOfWork, principal: Principal, data: CommodityIn) -> Commodity:
    with uow:
        require(principal, "commodity:create")
        if uow.session.scalar(select(func.count()).where(Commodity.code == data.code)):
            raise Conflict(N_("{value} is already taken."), field="code", value=data.code)
        commodity = Commodity(**data.model_dump(), created_at=uow.now())
        uow.session.add(commodity)
        uow.record(principal, "commodity.create", commodity, before=None)
        uow.commit()
        return commodity


# --- reading lots -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LotFilter:
    warehouse_id: int | None = None
    room_id: int | None = None
    owner_org_id: int | None = None
    commodity_id: int | None = None
    status: LotStatus | None = None
    limit: int = 100
    offset: int = 0


def list_lots(session: Session, principal: Principal, where: LotFilter) -> list[Lot]:
    query = restrict(principal, "view", Lot)
    for column, value in (
        (Lot.warehouse_id, where.warehouse_id),
        (Lot.room_id, where.room_id),
        (Lot.owner_org_id, where.owner_org_id),
        (Lot.commodity_id, where.commodity_id),
        (Lot.status, where.status),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query.order_by(Lot.id).limit(where.limit).offset(where.offset)))


def get_lot(session: Session, principal: Principal, lot_id: int) -> Lot:
    return obtain(session, principal, Lot, lot_id)


def lot_by_code(session: Session, principal: Principal, code: str) -> Lot:
    return obtain(session, principal, Lot, code, key=Lot.code)


def lot_operations(session: Session, principal: Principal, lot_id: int) -> list[Operation]:
    lot = obtain(session, principal, Lot, lot_id)
    query = (
        restrict(principal, "view", Operation)
        .where(
            or_(Operation.lot_id == lot.id, (Operation.room_id == lot.room_id) & Operation.lot_id.is_(None))
        )
        .where(Operation.performed_at >= lot.received_at)
        .order_by(Operation.performed_at, Operation.id)
    )
    return list(session.scalars(query))


def active_seals(session: Session, lot: Lot) -> list[Seal]:
    """Seals that keep this lot closed: on the lot itself or on the door of its room."""
    return list(
        session.scalars(
            select(Seal)
            .where(Seal.removed_at.is_(None), or_(Seal.lot_id == lot.id, Seal.room_id == lot.room_id))
            .order_by(Seal.id)
        )
    )


def is_sealed(session: Session, lot: Lot) -> bool:
    return bool(active_seals(session, lot))


def room_is_sealed(session: Session, room_id: int) -> bool:
    return bool(
        session.scalar(select(func.count()).where(Seal.room_id == room_id, Seal.removed_at.is_(None)))
    )


def list_seals(
    session: Session, principal: Principal, *, lot_id: int | None, room_id: int | None, active: bool | None
) -> list[Seal]:
    query = restrict(principal, "view", Seal)
    if lot_id is not None:
        query = query.where(Seal.lot_id == lot_id)
    if room_id is not None:
        query = query.where(Seal.room_id == room_id)
    if active is not None:
        query = query.where(Seal.removed_at.is_(None) if active else Seal.removed_at.is_not(None))
    return list(session.scalars(query.order_by(Seal.id)))


def lot_attachments(
    session: Session, principal: Principal, lot_id: int
) -> list[tuple[AttachmentLink, Attachment]]:
    lot = obtain(session, principal, Lot, lot_id)
    rows = session.execute(
        select(AttachmentLink, Attachment)
        .join(Attachment, Attachment.sha256 == AttachmentLink.sha256)
        .where(AttachmentLink.lot_id == lot.id)
        .order_by(AttachmentLink.id)
    )
    return [(link, attachment) for link, attachment in rows]


def get_attachment(session: Session, principal: Principal, sha256: str) -> Attachment:
    """A stored file, if the caller may see at least one lot it belongs to."""
    linked = session.scalars(
        restrict(principal, "view", AttachmentLink).where(AttachmentLink.sha256 == sha256)
    )
    attachment = session.get(Attachment, sha256) if linked.first() is not None else None
    if attachment is None:
        raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("attachment"), ident=sha256)
    return attachment


# --- changing lots ----------------------------------------------------------------------------


def inbound(uow: UnitOfWork, principal: Principal, data: InboundIn) -> Lot:
    """Receive goods into a room: creates the lot and records the inbound operation."""
    with uow:
        require(principal, "lot:inbound")
        room = obtain(uow.session, principal, Room, data.room_id, field="room_id")
        owner = uow.session.get(Organisation, data.owner_org_id)
        if owner is None or owner.party_type is not PartyType.BORROWER:
            raise InvalidInput(
                N_("Organisation {ident} is not a {party_type}."),
                field="owner_org_id",
                ident=data.owner_org_id,
                party_type=PartyType.BORROWER.label,
            )
        commodity = uow.session.get(Commodity, data.commodity_id)
        if commodity is None:
            raise InvalidInput(
                N_("Commodity {ident} does not exist."), field="commodity_id", ident=data.commodity_id
            )
        if room.temperature_class not in _ROOMS_FOR[commodity.temperature_class]:
            raise Conflict(
                N_("{commodity} must be stored in a {temperature_class} room, not in {room}."),
                field="room_id",
                commodity=commodity.name_en,
                temperature_class=commodity.temperature_class.label,
                room=room.code,
            )
        if room_is_sealed(uow.session, room.id):
            raise Conflict(N_("Room {room} is sealed; unseal it before goods go in or out."), room=room.code)
        now = uow.now()
        received_at = data.received_at or now
        if received_at > now + CLOCK_SKEW:
            raise InvalidInput(N_("received_at is in the future."), field="received_at")
        if data.expiry_date is not None and data.expiry_date <= business_date(received_at):
            raise InvalidInput(N_("These goods are already past their expiry date."), field="expiry_date")
        warehouse = uow.session.get_one(Warehouse, room.warehouse_id)
        lot = Lot(
            code=lot_code(warehouse.code, received_at),
            owner_org_id=owner.id,
            warehouse_id=warehouse.id,
            room_id=room.id,
            location=data.location,
            commodity_id=commodity.id,
            spec=data.spec,
            brand=data.brand,
            origin_country=data.origin_country,
            plant_number=data.plant_number,
            batch_number=data.batch_number,
            production_date=data.production_date,
            expiry_date=data.expiry_date,
            declared_cartons=data.declared_cartons,
            declared_net_weight_g=data.declared_net_weight_g,
            cartons=data.cartons_received if data.cartons_received is not None else data.declared_cartons,
            verified_net_weight_g=0,
            customs_declaration_no=data.customs_declaration_no,
            quarantine_cert_no=data.quarantine_cert_no,
            disinfection_cert_no=data.disinfection_cert_no,
            container_no=data.container_no,
            lead_seal_no=data.lead_seal_no,
            received_at=received_at,
            created_at=now,
        )
        uow.session.add(lot)
        uow.session.flush()
        truck = data.truck_weighing
        operation = _operation(
            uow,
            principal,
            lot,
            OperationKind.INBOUND,
            performed_at=received_at,
            gross_g=truck.gross_g if truck else None,
            tare_g=truck.tare_g if truck else None,
            net_g=truck.net_g if truck else None,
            weigh_ticket_no=truck.weigh_ticket_no if truck else None,
            scale_ref=truck.scale_ref if truck else None,
            cartons=lot.cartons,
            vehicle_plate=data.vehicle_plate,
            note=data.note,
            details={
                "declared_cartons": data.declared_cartons,
                "declared_net_weight_g": data.declared_net_weight_g,
            },
        )
        uow.record(
            principal,
            "lot.inbound",
            lot,
            before=None,
            related=_related(lot, operation, f"org:{owner.id}"),
            data={"operation": snapshot(operation)},
        )
        uow.commit()
        return lot


def weigh(uow: UnitOfWork, principal: Principal, lot_id: int, data: WeighIn) -> Operation:
    """Weigh the lot on a calibrated scale. The net weight becomes its verified stock."""
    with uow:
        lot = _lot_for_change(uow, principal, lot_id, "weigh")
        _refuse_if_sealed(uow.session, lot)
        before = snapshot(lot)
        variance_bp = _variance_bp(data.net_g, lot.declared_net_weight_g)
        lot.verified_net_weight_g = data.net_g
        lot.weighed_at = uow.now()
        if data.cartons is not None:
            lot.cartons = data.cartons
        operation = _operation(
            uow,
            principal,
            lot,
            OperationKind.WEIGH,
            gross_g=data.gross_g,
            tare_g=data.tare_g,
            net_g=data.net_g,
            cartons=data.cartons,
            weigh_ticket_no=data.weigh_ticket_no,
            scale_ref=data.scale_ref,
            variance_bp=variance_bp,
            note=data.note,
            details={"declared_net_weight_g": lot.declared_net_weight_g},
        )
        uow.record(
            principal,
            "lot.weigh",
            lot,
            before=before,
            related=_related(lot, operation),
            data={"operation": snapshot(operation)},
        )
        uow.commit()
        return operation


def inspect(uow: UnitOfWork, principal: Principal, lot_id: int, data: InspectIn) -> Operation:
    with uow:
        lot = _lot_for_change(uow, principal, lot_id, "inspect")
        _check_validity(uow, data.valid_until)
        before = snapshot(lot)
        if data.result is InspectionResult.PASSED:
            lot.quality_status = QualityStatus.PASSED
            lot.status = LotStatus.IN_STOCK
        elif data.result is InspectionResult.FAILED:
            lot.quality_status = QualityStatus.FAILED
            lot.status = LotStatus.ON_HOLD
        else:
            lot.quality_status = QualityStatus.PENDING
            lot.status = LotStatus.ON_HOLD
        operation = _operation(
            uow,
            principal,
            lot,
            OperationKind.INSPECT,
            inspection_result=data.result,
            inspection_agency=data.agency,
            report_no=data.report_no,
            certificate_valid_until=data.valid_until,
            core_temperature_mc=celsius_to_mc(data.core_temperature_c)
            if data.core_temperature_c is not None
            else None,
            note=data.note,
        )
        uow.record(
            principal,
            "lot.inspect",
            lot,
            before=before,
            related=_related(lot, operation),
            data={"operation": snapshot(operation)},
        )
        uow.commit()
        return operation


def _check_validity(uow: UnitOfWork, valid_until: date | None) -> None:
    """A report or certificate recorded today cannot have lapsed before today (Shanghai's day)."""
    if valid_until is not None and valid_until < business_date(uow.now()):
        raise InvalidInput(
            N_("A report or certificate cannot be recorded as valid only until a day already past."),
            field="valid_until",
        )


def disinfect(uow: UnitOfWork, principal: Principal, lot_id: int, data: DisinfectIn) -> Operation:
    with uow:
        lot = _lot_for_change(uow, principal, lot_id, "disinfect")
        _check_validity(uow, data.valid_until)
        before = snapshot(lot)
        lot.disinfection_cert_no = data.certificate_no
        operation = _operation(
            uow,
            principal,
            lot,
            OperationKind.DISINFECT,
            certificate_no=data.certificate_no,
            certificate_valid_until=data.valid_until,
            disinfectant=data.disinfectant,
            note=data.note,
        )
        uow.record(
            principal,
            "lot.disinfect",
            lot,
            before=before,
            related=_related(lot, operation),
            data={"operation": snapshot(operation)},
        )
        uow.commit()
        return operation


DOCUMENT_LABELS = {
    "customs_declaration_no": N_("customs declaration"),
    "quarantine_cert_no": N_("quarantine certificate"),
    "disinfection_cert_no": N_("disinfection certificate"),
    "container_no": N_("container number"),
    "lead_seal_no": N_("lead seal number"),
}


def add_documents(uow: UnitOfWork, principal: Principal, lot_id: int, data: DocumentsIn) -> Lot:
    """Record document numbers that were missing at inbound (a customs declaration, a quarantine
    certificate that came later). A number already on record is never replaced."""
    with uow:
        lot = _lot_for_change(uow, principal, lot_id, "documents", any_state=True)
        given = data.given()
        if not given:
            raise InvalidInput(N_("Give at least one document number."), field="customs_declaration_no")
        for field, value in given.items():
            recorded = getattr(lot, field)
            if recorded is not None and recorded != value:
                raise Conflict(
                    N_("This lot already has {document} {recorded}; recorded numbers are never replaced."),
                    field=field,
                    document=DOCUMENT_LABELS[field],
                    recorded=recorded,
                )
        before = snapshot(lot)
        for field, value in given.items():
            setattr(lot, field, value)
        uow.record(
            principal,
            "lot.documents",
            lot,
            before=before,
            reason=data.note,
            related=[f"room:{lot.room_id}", lot.warehouse.subject_ref],
        )
        uow.commit()
        return lot


def stocktake(uow: UnitOfWork, principal: Principal, lot_id: int, data: StocktakeIn) -> Operation:
    """Count the lot against its book stock. The books are not rewritten: a variance beyond the
    policy's tolerance is for people (and the rules engine) to investigate."""
    with uow:
        lot = _lot_for_change(uow, principal, lot_id, "stocktake")
        if lot.weighed_at is None:
            raise Conflict(N_("Weigh the lot before counting it against its book stock."))
        tolerance = policy_for_room(uow.session, lot.room_id).stocktake_variance_tolerance_bp
        variance_bp = _variance_bp(data.counted_g, lot.verified_net_weight_g)
        within = abs(variance_bp) <= tolerance and data.counted_cartons == lot.cartons
        operation = _operation(
            uow,
            principal,
            lot,
            OperationKind.STOCKTAKE,
            expected_g=lot.verified_net_weight_g,
            counted_g=data.counted_g,
            expected_cartons=lot.cartons,
            counted_cartons=data.counted_cartons,
            variance_bp=variance_bp,
            within_tolerance=within,
            note=data.note,
            details={"tolerance_bp": tolerance},
        )
        # The count changes no book figure of the lot; the evidence is the operation itself.
        uow.record(
            principal,
            "lot.stocktake",
            lot,
            before=snapshot(lot),
            related=_related(lot, operation),
            data={"operation": snapshot(operation)},
        )
        uow.commit()
        return operation


def seal_lot(uow: UnitOfWork, principal: Principal, lot_id: int, data: SealIn) -> list[Seal]:
    with uow:
        require(principal, "seal:seal")
        lot = _lot_for_change(uow, principal, lot_id, "view")
        operation = _operation(
            uow, principal, lot, OperationKind.SEAL, note=data.note, details={"seal_numbers": data.numbers}
        )
        seals = _new_seals(
            uow, principal, data.numbers, operation, lot_id=lot.id, warehouse_id=lot.warehouse_id
        )
        # The lot's columns do not change; the seal numbers are what the entry must commit to.
        uow.record(
            principal,
            "lot.seal",
            lot,
            before=snapshot(lot),
            related=_related(lot, operation),
            data={"seal_numbers": data.numbers},
        )
        uow.commit()
        return seals


def unseal_lot(uow: UnitOfWork, principal: Principal, lot_id: int, data: UnsealIn) -> list[Seal]:
    with uow:
        require(principal, "seal:unseal")
        lot = _lot_for_change(uow, principal, lot_id, "view")
        seals = list(
            uow.session.scalars(select(Seal).where(Seal.lot_id == lot.id, Seal.removed_at.is_(None)))
        )
        if not seals:
            raise Conflict(N_("There is no seal on this lot to remove."))
        details = _unseal_details(uow, lot.room_id, seals)
        operation = _operation(uow, principal, lot, OperationKind.UNSEAL, note=data.reason, details=details)
        _remove_seals(uow, principal, seals, data.reason)
        uow.record(
            principal,
            "lot.unseal",
            lot,
            before=snapshot(lot),
            reason=data.reason,
            related=_related(lot, operation),
            data=details,
        )
        uow.commit()
        return seals


def seal_room(uow: UnitOfWork, principal: Principal, room_id: int, data: SealIn) -> list[Seal]:
    """Seal a room's doors (封仓) and keep a snapshot of the stock inside at that moment."""
    with uow:
        require(principal, "seal:seal")
        room = obtain(uow.session, principal, Room, room_id, for_update=True)
        stock = list(
            uow.session.scalars(select(Lot).where(Lot.room_id == room.id, Lot.status.in_(STOCK_STATES)))
        )
        snapshot_of_stock = [
            {"lot": lot.code, "verified_net_weight_g": lot.verified_net_weight_g, "cartons": lot.cartons}
            for lot in stock
        ]
        operation = _room_operation(
            uow,
            principal,
            room,
            OperationKind.SEAL,
            note=data.note,
            details={"seal_numbers": data.numbers, "stock": snapshot_of_stock},
        )
        seals = _new_seals(
            uow, principal, data.numbers, operation, room_id=room.id, warehouse_id=room.warehouse_id
        )
        uow.record(
            principal,
            "room.seal",
            room,
            before=None,
            related=[f"operation:{operation.id}", *(f"lot:{lot.code}" for lot in stock)],
            data={"seal_numbers": data.numbers, "stock": snapshot_of_stock},
        )
        uow.commit()
        return seals


def unseal_room(uow: UnitOfWork, principal: Principal, room_id: int, data: UnsealIn) -> list[Seal]:
    with uow:
        require(principal, "seal:unseal")
        room = obtain(uow.session, principal, Room, room_id, for_update=True)
        seals = list(
            uow.session.scalars(select(Seal).where(Seal.room_id == room.id, Seal.removed_at.is_(None)))
        )
        if not seals:
            raise Conflict(N_("There is no seal on this room to remove."))
        details = _unseal_details(uow, room.id, seals)
        operation = _room_operation(
            uow, principal, room, OperationKind.UNSEAL, note=data.reason, details=details
        )
        _remove_seals(uow, principal, seals, data.reason)
        uow.record(
            principal,
            "room.unseal",
            room,
            before=None,
            reason=data.reason,
            related=[f"operation:{operation.id}"],
            data=details,
        )
        uow.commit()
        return seals


def attach(
    uow: UnitOfWork,
    principal: Principal,
    store: FileStore,
    lot_id: int,
    stream: BinaryIO,
    *,
    purpose: AttachmentPurpose,
    original_name: str | None,
    operation_id: int | None,
) -> tuple[AttachmentLink, Attachment]:
    """Store a photo or document and link it to a lot (and one of its operations)."""
    with uow:
        lot = _lot_for_change(uow, principal, lot_id, "attach", any_state=True)
        if operation_id is not None:
            operation = uow.session.get(Operation, operation_id)
            if operation is None or operation.lot_id != lot.id:
                raise InvalidInput(N_("That operation is not one of this lot's."), field="operation_id")
        stored = store.put(stream)
        attachment = uow.session.get(Attachment, stored.sha256)
        if attachment is None:
            attachment = Attachment(
                sha256=stored.sha256,
                size_bytes=stored.size_bytes,
                content_type=stored.content_type,
                uploaded_by_user_id=principal.user_id,
                uploaded_at=uow.now(),
            )
            uow.session.add(attachment)
        link = uow.session.scalars(
            select(AttachmentLink).where(
                AttachmentLink.sha256 == stored.sha256,
                AttachmentLink.lot_id == lot.id,
                AttachmentLink.purpose == purpose,
            )
        ).first()
        if link is None:
            link = AttachmentLink(
                sha256=stored.sha256,
                lot_id=lot.id,
                operation_id=operation_id,
                purpose=purpose,
                original_name=(original_name or "")[:200] or None,
                linked_by_user_id=principal.user_id,
                linked_at=uow.now(),
            )
            uow.session.add(link)
            uow.record(
                principal,
                "lot.attach",
                lot,
                before=snapshot(lot),
                related=[f"attachment:{stored.sha256}", lot.subject_ref],
                data={"sha256": stored.sha256, "purpose": purpose.value, "operation_id": operation_id},
            )
        uow.commit()
        return link, attachment


def has_photo(session: Session, lot_id: int) -> bool:
    return bool(
        session.scalar(
            select(func.count()).where(
                AttachmentLink.lot_id == lot_id, AttachmentLink.purpose == AttachmentPurpose.PHOTO
            )
        )
    )


def policy_for_room(session: Session, room_id: int) -> PolicyParameters:
    """The supervision policy in force for a room, as the rules judge it (``rules.policies``)."""
    return parameters_for_rooms(session, [room_id])[room_id][0]


# --- shared with the receipts context ---------------------------------------------------------


def lock_lot(session: Session, lot_id: int) -> Lot:
    lot = session.scalars(select(Lot).where(Lot.id == lot_id).with_for_update(of=Lot)).first()
    if lot is None:
        raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("lot"), ident=lot_id)
    return lot


def record_operation(
    uow: UnitOfWork, principal: Principal, lot: Lot, kind: OperationKind, **fields: Any
) -> Operation:
    return _operation(uow, principal, lot, kind, **fields)


# --- helpers ----------------------------------------------------------------------------------


def _lot_for_change(
    uow: UnitOfWork, principal: Principal, lot_id: int, action: str, *, any_state: bool = False
) -> Lot:
    lot = obtain(uow.session, principal, Lot, lot_id, action, for_update=True)
    if not any_state and lot.status not in STOCK_STATES:
        raise Conflict(
            N_("Lot {lot} is {status_label}; nothing more can be done to it."),
            lot=lot.code,
            status_label=lot.status.label,
        )
    return lot


def _refuse_if_sealed(session: Session, lot: Lot) -> None:
    seals = active_seals(session, lot)
    if seals:
        raise Conflict(
            N_("Lot {lot} is sealed (seal {number}); unseal it first."), lot=lot.code, number=seals[0].number
        )


def _operation(
    uow: UnitOfWork,
    principal: Principal,
    lot: Lot,
    kind: OperationKind,
    *,
    performed_at: Any = None,
    **fields: Any,
) -> Operation:
    operation = Operation(
        kind=kind,
        lot_id=lot.id,
        room_id=lot.room_id,
        warehouse_id=lot.warehouse_id,
        performed_by_user_id=principal.user_id,
        performed_at=performed_at or uow.now(),
        created_at=uow.now(),
        **fields,
    )
    uow.session.add(operation)
    uow.session.flush()
    return operation


def _room_operation(
    uow: UnitOfWork, principal: Principal, room: Room, kind: OperationKind, **fields: Any
) -> Operation:
    operation = Operation(
        kind=kind,
        room_id=room.id,
        warehouse_id=room.warehouse_id,
        performed_by_user_id=principal.user_id,
        performed_at=uow.now(),
        created_at=uow.now(),
        **fields,
    )
    uow.session.add(operation)
    uow.session.flush()
    return operation


def _new_seals(
    uow: UnitOfWork,
    principal: Principal,
    numbers: list[str],
    operation: Operation,
    *,
    warehouse_id: int,
    lot_id: int | None = None,
    room_id: int | None = None,
) -> list[Seal]:
    used = list(uow.session.scalars(select(Seal.number).where(Seal.number.in_(numbers))))
    if used:
        raise Conflict(
            N_("Seal {number} was used before; seal numbers are single-use."), field="numbers", number=used[0]
        )
    seals = [
        Seal(
            number=number,
            lot_id=lot_id,
            room_id=room_id,
            warehouse_id=warehouse_id,
            sealed_at=uow.now(),
            sealed_by_user_id=principal.user_id,
            seal_operation_id=operation.id,
        )
        for number in numbers
    ]
    uow.session.add_all(seals)
    uow.session.flush()
    return seals


def _remove_seals(uow: UnitOfWork, principal: Principal, seals: list[Seal], reason: str) -> None:
    for seal in seals:
        seal.removed_at = uow.now()
        seal.removed_by_user_id = principal.user_id
        seal.removal_reason = reason


def _unseal_details(uow: UnitOfWork, room_id: int, seals: list[Seal]) -> dict[str, Any]:
    room = uow.session.get_one(Room, room_id)
    windows = release_windows_of(uow.session, room.virtual_warehouse_id) if room.virtual_warehouse_id else []
    return {
        "seal_numbers": [seal.number for seal in seals],
        # The rules engine raises a critical alert for seals broken outside a release window.
        "outside_release_window": bool(windows) and not within_any(windows, uow.now()),
    }


def _variance_bp(measured: int, reference: int) -> int:
    """(measured - reference) / reference in basis points, rounded half away from zero."""
    if reference == 0:
        return 0 if measured == 0 else 10_000
    numerator = (measured - reference) * 10_000
    quotient, remainder = divmod(abs(numerator), reference)
    if remainder * 2 >= reference:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def _related(lot: Lot, operation: Operation, *more: str) -> list[str]:
    return [f"operation:{operation.id}", f"room:{lot.room_id}", lot.warehouse.subject_ref, *more]
