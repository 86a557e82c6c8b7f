"""Use cases of the receipt lifecycle (DESIGN §6).

Every transition: load the receipt (locked), check the state machine, check that the caller is the
party the step belongs to, change it, write the notation and the audit event, commit. Releases
and outbound execution are in ``releases``; reads are in ``queries``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.calendar import business_date
from coldpledge.codes import receipt_code
from coldpledge.errors import N_, Conflict, InvalidInput, PermissionDenied
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot, LotStatus, OperationKind, QualityStatus
from coldpledge.parties.access import obtain, require
from coldpledge.parties.models import Organisation
from coldpledge.parties.policy import PartyType, Principal
from coldpledge.parties.service import active_organisation
from coldpledge.receipts.errors import IncompleteCheck, illegal
from coldpledge.receipts.lifecycle import ReceiptAction, ReceiptStatus, is_allowed, next_status
from coldpledge.receipts.models import (
    LIVE_PLEDGE,
    OPEN_RELEASE,
    NotationKind,
    Pledge,
    PledgeStatus,
    Receipt,
    ReceiptNotation,
    Release,
    ReleaseStatus,
)
from coldpledge.receipts.schemas import (
    NoteIn,
    PledgeAcceptIn,
    PledgeRequestIn,
    ReasonIn,
    ReceiptCreateIn,
    SplitIn,
    TransferIn,
)
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import Room, VirtualWarehouse, VirtualWarehouseStatus, Warehouse

A = ReceiptAction
S = ReceiptStatus


@dataclass
class Step:
    """A receipt loaded for one transition, with its state before the change."""

    receipt: Receipt
    before: dict[str, object]
    action: ReceiptAction


def begin(uow: UnitOfWork, principal: Principal, receipt_id: int, action: ReceiptAction) -> Step:
    """Load and lock a receipt for ``action``, after its lot: every use case locks lot, then
    release, then receipt (the stock trigger reads the lot too), so no two of them deadlock."""
    peek = obtain(uow.session, principal, Receipt, receipt_id, action.value)
    inventory.lock_lot(uow.session, peek.lot_id)
    receipt = obtain(uow.session, principal, Receipt, receipt_id, action.value, for_update=True)
    if not is_allowed(receipt.status, action):
        raise illegal(receipt.status, action)
    return Step(receipt, snapshot(receipt), action)


def finish(
    uow: UnitOfWork,
    principal: Principal,
    step: Step,
    *,
    to: ReceiptStatus | None = None,
    reason: str | None = None,
    related: list[str] | None = None,
    notation: tuple[NotationKind, str, int | None] | None = None,
    data: dict[str, object] | None = None,
) -> Receipt:
    receipt = step.receipt
    if to is not None and to is not receipt.status:
        receipt.status = to
        receipt.status_changed_at = uow.now()
    if notation is not None:
        kind, text, quantity = notation
        uow.session.add(
            ReceiptNotation(
                receipt_id=receipt.id,
                kind=kind,
                text=text,
                quantity_g=quantity,
                at=uow.now(),
                by_user_id=principal.user_id,
            )
        )
    uow.session.flush()
    pledge = uow.session.scalars(
        select(Pledge).where(Pledge.receipt_id == receipt.id).order_by(Pledge.id.desc()).limit(1)
    ).first()
    # The pledge (its status, 中登网 registration and time) travels with every receipt event:
    # priority between lenders follows registration, so it must be in the evidence.
    evidence = {**({"pledge": snapshot(pledge)} if pledge else {}), **(data or {})}
    uow.record(
        principal,
        f"receipt.{step.action.value}",
        receipt,
        before=step.before,
        reason=reason,
        related=[f"lot:{receipt.lot.code}", *(related or [])],
        data=evidence or None,
    )
    return receipt


# --- who may take which step ------------------------------------------------------------------


def _must_be(principal: Principal, org_id: int | None, message: str) -> None:
    if org_id is None or principal.org_id != org_id:
        raise PermissionDenied(message)


def _issuer(principal: Principal, receipt: Receipt) -> None:
    _must_be(principal, receipt.issuer_org_id, N_("Only the warehouse that issues this receipt may do this."))


def _holder(principal: Principal, receipt: Receipt) -> None:
    _must_be(principal, receipt.holder_org_id, N_("Only the holder of this receipt may do this."))


def live_pledge(session: Session, receipt_id: int) -> Pledge | None:
    return session.scalars(
        select(Pledge).where(Pledge.receipt_id == receipt_id, Pledge.status.in_(LIVE_PLEDGE))
    ).first()


def _pledgee(
    uow: UnitOfWork, principal: Principal, receipt: Receipt, status: PledgeStatus = PledgeStatus.ACTIVE
) -> Pledge:
    """The pledge the caller's bank holds (by default an accepted one: a bank merely offered the
    receipt has no rights over it yet); 403 for anyone else."""
    pledge = live_pledge(uow.session, receipt.id)
    if pledge is not None and pledge.status is not status:
        pledge = None
    _must_be(
        principal,
        pledge.pledgee_org_id if pledge else None,
        N_("Only the pledgee of this receipt may do this."),
    )
    assert pledge is not None
    return pledge


def _no_open_release(uow: UnitOfWork, receipt: Receipt) -> None:
    open_release = uow.session.scalars(
        select(Release.id).where(Release.receipt_id == receipt.id, Release.status.in_(OPEN_RELEASE))
    ).first()
    if open_release is not None:
        raise Conflict(
            N_("Release instruction {ident} is still open; cancel or execute it first."), ident=open_release
        )


# --- creating and issuing ---------------------------------------------------------------------


def create_draft(uow: UnitOfWork, principal: Principal, data: ReceiptCreateIn) -> Receipt:
    """The keeper drafts a receipt for a lot on the depositor's request."""
    with uow:
        require(principal, "receipt:create")
        lot = obtain(uow.session, principal, Lot, data.lot_id, for_update=True, field="lot_id")
        warehouse = uow.session.get_one(Warehouse, lot.warehouse_id)
        _must_be(
            principal, warehouse.keeper_org_id, N_("Only the warehouse that holds the lot may issue for it.")
        )
        if lot.status is not LotStatus.IN_STOCK:
            raise Conflict(
                N_("Lot {lot} is {status_label}; receipts are issued only for goods in stock."),
                lot=lot.code,
                status_label=lot.status.label,
            )
        if lot.weighed_at is not None and data.quantity_g > lot.verified_net_weight_g:
            raise InvalidInput(
                N_("The quantity exceeds the lot's verified stock of {stock} g."),
                field="quantity_g",
                stock=lot.verified_net_weight_g,
            )
        if data.cartons > lot.cartons:
            raise InvalidInput(
                N_("The lot holds only {cartons} cartons."), field="cartons", cartons=lot.cartons
            )
        today = business_date(uow.now())
        if data.storage_period_end <= today:
            raise InvalidInput(N_("The storage period must end in the future."), field="storage_period_end")
        if lot.expiry_date is not None and data.storage_period_end > lot.expiry_date:
            raise InvalidInput(
                N_("The storage period may not run past the goods' expiry date ({expiry})."),
                field="storage_period_end",
                expiry=lot.expiry_date.isoformat(),
            )
        if data.insurer_org_id is not None:
            active_organisation(uow.session, data.insurer_org_id, PartyType.INSURER, "insurer_org_id")
        receipt = Receipt(
            code=receipt_code(warehouse.code),
            lot_id=lot.id,
            warehouse_id=warehouse.id,
            issuer_org_id=warehouse.keeper_org_id,
            depositor_org_id=lot.owner_org_id,
            holder_org_id=lot.owner_org_id,
            status=S.DRAFT,
            quantity_g=data.quantity_g,
            cartons=data.cartons,
            negotiable=data.negotiable,
            storage_period_end=data.storage_period_end,
            storage_fee_note=data.storage_fee_note,
            loss_standard=data.loss_standard,
            insurer_org_id=data.insurer_org_id,
            insured_amount_fen=data.insured_amount_fen,
            insurance_until=data.insurance_until,
            registry_code=data.registry_code,
            status_changed_at=uow.now(),
            created_at=uow.now(),
        )
        uow.session.add(receipt)
        uow.session.flush()
        uow.record(
            principal,
            "receipt.create",
            receipt,
            before=None,
            related=[lot.subject_ref, f"org:{lot.owner_org_id}"],
        )
        uow.commit()
        return receipt


def submit(uow: UnitOfWork, principal: Principal, receipt_id: int, data: NoteIn) -> Receipt:
    with uow:
        step = begin(uow, principal, receipt_id, A.SUBMIT)
        _issuer(principal, step.receipt)
        receipt = finish(uow, principal, step, to=S.PENDING_CHECK, reason=data.note)
        uow.commit()
        return receipt


def inbound_check_gaps(uow: UnitOfWork, receipt: Receipt, lot: Lot) -> list[str]:
    """What is still missing before the keeper may sign: weighed, inspected, sealed, photographed,
    import documents for imported goods, and a quantity the verified stock covers."""
    missing = []
    if lot.status is not LotStatus.IN_STOCK:
        missing.append("lot_not_in_stock")
    if lot.weighed_at is None:
        missing.append("not_weighed")
    elif receipt.quantity_g > lot.verified_net_weight_g:
        missing.append("exceeds_verified_stock")
    if receipt.cartons > lot.cartons:
        missing.append("exceeds_cartons")
    if lot.quality_status is not QualityStatus.PASSED:
        missing.append("quality_not_passed")
    if not inventory.is_sealed(uow.session, lot):
        missing.append("not_sealed")
    if not inventory.has_photo(uow.session, lot.id):
        missing.append("no_photo")
    if lot.origin_country != "CN":
        if not lot.customs_declaration_no:
            missing.append("no_customs_declaration")
        if not lot.quarantine_cert_no:
            missing.append("no_quarantine_certificate")
    return missing


def issue(uow: UnitOfWork, principal: Principal, receipt_id: int, data: NoteIn) -> Receipt:
    """The keeper signs the receipt once the inbound check is complete."""
    with uow:
        step = begin(uow, principal, receipt_id, A.ISSUE)
        receipt = step.receipt
        _issuer(principal, receipt)
        lot = receipt.lot
        missing = inbound_check_gaps(uow, receipt, lot)
        if missing:
            raise IncompleteCheck(missing)
        receipt.issued_at = uow.now()
        receipt.issued_by_user_id = principal.user_id
        receipt.issued_quantity_g = receipt.quantity_g
        finish(uow, principal, step, to=S.ISSUED, reason=data.note)
        uow.commit()
        return receipt


# --- transfer and pledge ----------------------------------------------------------------------


def transfer(uow: UnitOfWork, principal: Principal, receipt_id: int, data: TransferIn) -> Receipt:
    """Endorse the receipt to another trader. The goods change owner with it."""
    with uow:
        step = begin(uow, principal, receipt_id, A.TRANSFER)
        receipt = step.receipt
        _holder(principal, receipt)
        if not receipt.negotiable:
            raise Conflict(N_("This receipt is not negotiable and cannot be transferred."))
        new_holder = active_organisation(uow.session, data.to_org_id, PartyType.BORROWER, "to_org_id")
        if new_holder.id == receipt.holder_org_id:
            raise InvalidInput(N_("The receipt already belongs to that organisation."), field="to_org_id")
        old_holder = uow.session.get_one(Organisation, receipt.holder_org_id)
        lot = receipt.lot
        lot_before = snapshot(lot)
        spare = _carve_out_spare(uow, principal, lot, receipt)
        receipt.holder_org_id = new_holder.id
        lot.owner_org_id = new_holder.id
        parties = [f"org:{old_holder.id}", f"org:{new_holder.id}"]
        finish(
            uow,
            principal,
            step,
            reason=data.note,
            related=parties,
            notation=(NotationKind.ENDORSEMENT, f"{old_holder.name} → {new_holder.name}", None),
        )
        uow.record(
            principal,
            "lot.transfer",
            lot,
            before=lot_before,
            reason=data.note,
            related=[receipt.subject_ref, *parties, *([spare.subject_ref] if spare else [])],
        )
        uow.commit()
        return receipt


def _carve_out_spare(uow: UnitOfWork, principal: Principal, lot: Lot, receipt: Receipt) -> Lot | None:
    """Stock of ``lot`` that the receipt does not cover moves to a lot of its own, which stays with
    its owner: endorsing a receipt passes on the goods it stands for and nothing else."""
    spare_g = lot.verified_net_weight_g - receipt.quantity_g
    spare_cartons = lot.cartons - receipt.cartons
    if spare_g <= 0 and spare_cartons <= 0:
        return None
    if spare_g <= 0:
        raise Conflict(N_("The lot has cartons beyond the receipt but no weight for them; weigh it first."))
    spare = _child_lot(uow, principal, lot, spare_g, max(spare_cartons, 0))
    lot.verified_net_weight_g -= spare_g
    lot.cartons -= max(spare_cartons, 0)
    inventory.record_operation(
        uow,
        principal,
        lot,
        OperationKind.SPLIT,
        details={
            "lots": [{"lot": spare.code, "net_g": spare_g, "cartons": max(spare_cartons, 0)}],
            "reason": "stock not covered by the transferred receipt",
        },
    )
    uow.session.flush()
    return spare


def request_pledge(uow: UnitOfWork, principal: Principal, receipt_id: int, data: PledgeRequestIn) -> Receipt:
    """The holder offers the receipt in pledge to a bank. The goods must be under supervision."""
    with uow:
        step = begin(uow, principal, receipt_id, A.REQUEST_PLEDGE)
        receipt = step.receipt
        _holder(principal, receipt)
        bank = active_organisation(uow.session, data.pledgee_org_id, PartyType.BANK, "pledgee_org_id")
        room = uow.session.get_one(Room, receipt.lot.room_id)
        vw = (
            uow.session.get(VirtualWarehouse, room.virtual_warehouse_id)
            if room.virtual_warehouse_id
            else None
        )
        if vw is None or vw.status is not VirtualWarehouseStatus.ACTIVE:
            raise Conflict(
                N_("The goods are not in a supervised room; a receipt is pledged only under supervision.")
            )
        if receipt.storage_period_end < business_date(uow.now()):
            raise Conflict(N_("The storage period of this receipt has ended."))
        uow.session.add(
            Pledge(
                receipt_id=receipt.id,
                pledgee_org_id=bank.id,
                pledgor_org_id=receipt.holder_org_id,
                status=PledgeStatus.REQUESTED,
                requested_at=uow.now(),
                requested_by_user_id=principal.user_id,
                note=data.note,
            )
        )
        finish(uow, principal, step, to=S.PLEDGE_PENDING, reason=data.note, related=[f"org:{bank.id}"])
        uow.commit()
        return receipt


def accept_pledge(uow: UnitOfWork, principal: Principal, receipt_id: int, data: PledgeAcceptIn) -> Receipt:
    """The bank accepts the pledge, citing its 中登网 registration."""
    with uow:
        step = begin(uow, principal, receipt_id, A.ACCEPT_PLEDGE)
        pledge = _pledgee(uow, principal, step.receipt, PledgeStatus.REQUESTED)
        pledge.status = PledgeStatus.ACTIVE
        pledge.registration_no = data.registration_no
        pledge.registered_at = data.registered_at or uow.now()
        pledge.decided_at = uow.now()
        pledge.decided_by_user_id = principal.user_id
        bank = uow.session.get_one(Organisation, pledge.pledgee_org_id)
        receipt = finish(
            uow,
            principal,
            step,
            to=S.PLEDGED,
            reason=data.note,
            related=[f"org:{bank.id}"],
            notation=(NotationKind.PLEDGE, f"质押予 {bank.name} · 登记 {data.registration_no}", None),
        )
        uow.commit()
        return receipt


def reject_pledge(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    with uow:
        step = begin(uow, principal, receipt_id, A.REJECT_PLEDGE)
        pledge = _pledgee(uow, principal, step.receipt, PledgeStatus.REQUESTED)
        pledge.status = PledgeStatus.REJECTED
        pledge.decided_at = pledge.ended_at = uow.now()
        pledge.decided_by_user_id = principal.user_id
        receipt = finish(
            uow, principal, step, to=S.ISSUED, reason=data.reason, related=[f"org:{pledge.pledgee_org_id}"]
        )
        uow.commit()
        return receipt


def withdraw_pledge(uow: UnitOfWork, principal: Principal, receipt_id: int, data: NoteIn) -> Receipt:
    with uow:
        step = begin(uow, principal, receipt_id, A.WITHDRAW_PLEDGE)
        _holder(principal, step.receipt)
        pledge = live_pledge(uow.session, step.receipt.id)
        assert pledge is not None
        pledge.status = PledgeStatus.WITHDRAWN
        pledge.ended_at = uow.now()
        receipt = finish(
            uow, principal, step, to=S.ISSUED, reason=data.note, related=[f"org:{pledge.pledgee_org_id}"]
        )
        uow.commit()
        return receipt


def discharge(uow: UnitOfWork, principal: Principal, receipt_id: int, data: NoteIn) -> Receipt:
    """The bank releases its pledge (after repayment): the receipt is unencumbered again."""
    with uow:
        step = begin(uow, principal, receipt_id, A.DISCHARGE)
        pledge = _pledgee(uow, principal, step.receipt)
        _no_open_release(uow, step.receipt)
        _not_securing_a_facility(uow, step.receipt)
        pledge.status = PledgeStatus.DISCHARGED
        pledge.ended_at = uow.now()
        receipt = finish(
            uow,
            principal,
            step,
            to=S.ISSUED,
            reason=data.note,
            related=[f"org:{pledge.pledgee_org_id}"],
            notation=(NotationKind.DISCHARGE, f"解除质押 · 登记 {pledge.registration_no}", None),
        )
        uow.commit()
        return receipt


def _not_securing_a_facility(uow: UnitOfWork, receipt: Receipt) -> None:
    """A pledge still attached to a credit facility is its collateral: the bank detaches it first,
    where the detachment is checked against the loan (``financing.collateral_links.detach``)."""
    from coldpledge.financing.releasing import facility_id_of  # financing imports this module

    if facility_id_of(uow.session, receipt.id) is not None:
        raise Conflict(
            N_(
                "Receipt {code} secures a credit facility; detach it from the facility before "
                "discharging the pledge."
            ),
            code=receipt.code,
        )


def start_disposal(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    """On liquidation the pledgee takes the goods to sale (处置)."""
    with uow:
        step = begin(uow, principal, receipt_id, A.START_DISPOSAL)
        pledge = _pledgee(uow, principal, step.receipt)
        _no_open_release(uow, step.receipt)
        receipt = finish(
            uow,
            principal,
            step,
            to=S.IN_DISPOSAL,
            reason=data.reason,
            related=[f"org:{pledge.pledgee_org_id}"],
            notation=(NotationKind.DISPOSAL, data.reason, None),
        )
        uow.commit()
        return receipt


# --- freezing, loss and replacement -----------------------------------------------------------


def freeze(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    """Freeze on a court order or dispute (the operator), or by the pledgee to protect its claim."""
    with uow:
        step = begin(uow, principal, receipt_id, A.FREEZE)
        receipt = step.receipt
        if not principal.is_operator:
            _pledgee(uow, principal, receipt)
        receipt.previous_status = receipt.status
        receipt.frozen_by_org_id = principal.org_id
        finish(
            uow,
            principal,
            step,
            to=S.FROZEN,
            reason=data.reason,
            notation=(NotationKind.FREEZE, data.reason, None),
        )
        uow.commit()
        return receipt


def unfreeze(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    with uow:
        step = begin(uow, principal, receipt_id, A.UNFREEZE)
        receipt = step.receipt
        if not principal.is_operator:
            _must_be(
                principal, receipt.frozen_by_org_id, N_("Only whoever froze this receipt may unfreeze it.")
            )
        return_to = _restore(receipt, A.UNFREEZE)
        receipt.frozen_by_org_id = None
        finish(uow, principal, step, to=return_to, reason=data.reason)
        uow.commit()
        return receipt


def report_loss(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    """The holder (or the issuing keeper) declares the receipt lost or its control compromised."""
    with uow:
        step = begin(uow, principal, receipt_id, A.REPORT_LOSS)
        receipt = step.receipt
        if principal.org_id not in (receipt.holder_org_id, receipt.issuer_org_id):
            raise PermissionDenied(N_("Only the holder or the issuing warehouse may report a loss."))
        receipt.previous_status = receipt.status
        finish(
            uow,
            principal,
            step,
            to=S.LOSS_REPORTED,
            reason=data.reason,
            notation=(NotationKind.LOSS, data.reason, None),
        )
        uow.commit()
        return receipt


def cancel_loss_report(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    with uow:
        step = begin(uow, principal, receipt_id, A.CANCEL_LOSS_REPORT)
        receipt = step.receipt
        if principal.org_id not in (receipt.holder_org_id, receipt.issuer_org_id):
            raise PermissionDenied(N_("Only the holder or the issuing warehouse may withdraw a loss report."))
        finish(uow, principal, step, to=_restore(receipt, A.CANCEL_LOSS_REPORT), reason=data.reason)
        uow.commit()
        return receipt


def replace(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    """Issue a replacement for a lost receipt. The original becomes inoperative; a live pledge moves
    to the replacement with its registration, so the bank's priority is unchanged."""
    with uow:
        step = begin(uow, principal, receipt_id, A.REPLACE)
        original = step.receipt
        _issuer(principal, original)
        restored = original.previous_status or S.ISSUED
        original.previous_status = None
        # An instruction issued against the lost receipt would otherwise stay approved forever.
        _close_open_releases(uow, principal, original, N_("The receipt was replaced."))
        finish(uow, principal, step, to=S.REPLACED, reason=data.reason)
        uow.session.flush()  # the original must leave the live set before its successor enters it
        successor = _successor(
            uow,
            original,
            lot_id=original.lot_id,
            quantity_g=original.quantity_g,
            cartons=original.cartons,
            status=restored,
        )
        successor.replaces_receipt_id = original.id
        uow.session.flush()
        _move_pledge(uow, original, [successor])
        uow.session.add(
            ReceiptNotation(
                receipt_id=successor.id,
                kind=NotationKind.REPLACEMENT,
                text=f"补发, 原仓单 {original.code} 作废",
                quantity_g=None,
                at=uow.now(),
                by_user_id=principal.user_id,
            )
        )
        uow.session.flush()
        moved = live_pledge(uow.session, successor.id)
        uow.record(
            principal,
            "receipt.issue_replacement",
            successor,
            before=None,
            reason=data.reason,
            related=[original.subject_ref, f"lot:{original.lot.code}"],
            data={"pledge": snapshot(moved)} if moved else None,
        )
        uow.commit()
        return successor


def _close_open_releases(uow: UnitOfWork, principal: Principal, receipt: Receipt, note: str) -> None:
    for release in uow.session.scalars(
        select(Release).where(Release.receipt_id == receipt.id, Release.status.in_(OPEN_RELEASE))
    ):
        before = snapshot(release)
        release.status = ReleaseStatus.CANCELLED
        release.decision_note = note
        uow.record(
            principal, "release.cancel", release, before=before, reason=note, related=[receipt.subject_ref]
        )


def cancel(uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReasonIn) -> Receipt:
    """Void a draft (the keeper) or surrender an unencumbered receipt (the holder)."""
    with uow:
        step = begin(uow, principal, receipt_id, A.CANCEL)
        receipt = step.receipt
        if receipt.status is S.ISSUED:
            _holder(principal, receipt)
        else:
            _issuer(principal, receipt)
        finish(uow, principal, step, to=S.CANCELLED, reason=data.reason)
        uow.commit()
        return receipt


# --- split ------------------------------------------------------------------------------------


def split(uow: UnitOfWork, principal: Principal, receipt_id: int, data: SplitIn) -> list[Receipt]:
    """Split a receipt into several for the same total (MLWR Art. 28). The lot is divided with it,
    so each new receipt stands for goods of its own; stock beyond the receipt stays as a lot without
    a receipt. A pledged receipt is split by its pledgee, and each part stays pledged."""
    with uow:
        step = begin(uow, principal, receipt_id, A.SPLIT)
        receipt = step.receipt
        lot = receipt.lot
        if receipt.status is S.PLEDGED:
            _pledgee(uow, principal, receipt)
        else:
            _holder(principal, receipt)
        _no_open_release(uow, receipt)
        total_g = sum(part.quantity_g for part in data.parts)
        total_cartons = sum(part.cartons for part in data.parts)
        if total_g != receipt.quantity_g or total_cartons != receipt.cartons:
            raise InvalidInput(
                N_("The parts must add up to the receipt: {quantity} g and {cartons} cartons."),
                field="parts",
                quantity=receipt.quantity_g,
                cartons=receipt.cartons,
            )
        if any(seal.lot_id == lot.id for seal in inventory.active_seals(uow.session, lot)):
            raise Conflict(N_("Unseal the lot before splitting it, and seal the new lots afterwards."))
        spare_g = lot.verified_net_weight_g - total_g
        spare_cartons = lot.cartons - total_cartons
        if spare_cartons > 0 and spare_g <= 0:
            raise Conflict(
                N_("The lot has cartons beyond the receipt but no weight for them; weigh it first.")
            )
        finish(uow, principal, step, to=S.SPLIT, reason=data.note)
        uow.session.flush()
        lot_before = snapshot(lot)
        lot.status = LotStatus.SPLIT
        children: list[Receipt] = []
        for part in data.parts:
            child_lot = _child_lot(uow, principal, lot, part.quantity_g, part.cartons)
            children.append(
                _successor(
                    uow,
                    receipt,
                    lot_id=child_lot.id,
                    quantity_g=part.quantity_g,
                    cartons=part.cartons,
                    status=step_status(step),
                )
            )
        spare_lot = _child_lot(uow, principal, lot, spare_g, max(spare_cartons, 0)) if spare_g > 0 else None
        uow.session.flush()
        for child in children:
            child.parent_receipt_id = receipt.id
        _move_pledge(uow, receipt, children)
        uow.session.add(
            ReceiptNotation(
                receipt_id=receipt.id,
                kind=NotationKind.SPLIT,
                at=uow.now(),
                by_user_id=principal.user_id,
                text="拆分为 " + ", ".join(child.code for child in children),
                quantity_g=None,
            )
        )
        parts = [child.lot for child in children] + ([spare_lot] if spare_lot else [])
        operation = inventory.record_operation(
            uow,
            principal,
            lot,
            OperationKind.SPLIT,
            note=data.note,
            details={
                "lots": [
                    {"lot": part.code, "net_g": part.verified_net_weight_g, "cartons": part.cartons}
                    for part in parts
                ]
            },
        )
        uow.record(
            principal,
            "lot.split",
            lot,
            before=lot_before,
            related=[receipt.subject_ref, f"operation:{operation.id}", *(part.subject_ref for part in parts)],
            data={"operation": snapshot(operation)},
        )
        uow.session.flush()
        for child in children:
            pledge = live_pledge(uow.session, child.id)
            uow.record(
                principal,
                "receipt.issue_split_part",
                child,
                before=None,
                related=[receipt.subject_ref, f"lot:{child.lot.code}"],
                data={"pledge": snapshot(pledge)} if pledge else None,
            )
        uow.commit()
        return children


def step_status(step: Step) -> ReceiptStatus:
    """The state the split parts take: that of the receipt before it was split."""
    return ReceiptStatus(str(step.before["status"]))


def _child_lot(uow: UnitOfWork, principal: Principal, parent: Lot, weight_g: int, cartons: int) -> Lot:
    """A new lot carved out of ``parent``: its share of the verified stock, under its own code."""
    child = Lot(
        **{column: getattr(parent, column) for column in _LOT_INHERITED},
        code=f"{parent.code}-{_next_suffix(uow, parent)}",
        declared_cartons=cartons,
        declared_net_weight_g=weight_g,
        cartons=cartons,
        verified_net_weight_g=weight_g,
        weighed_at=parent.weighed_at,
        status=LotStatus.IN_STOCK,
        parent_lot_id=parent.id,
        created_at=uow.now(),
    )
    uow.session.add(child)
    uow.session.flush()
    uow.record(principal, "lot.carve_out", child, before=None, related=[parent.subject_ref])
    return child


_LOT_INHERITED = (
    "owner_org_id",
    "warehouse_id",
    "room_id",
    "location",
    "commodity_id",
    "spec",
    "brand",
    "origin_country",
    "plant_number",
    "batch_number",
    "production_date",
    "expiry_date",
    "customs_declaration_no",
    "quarantine_cert_no",
    "disinfection_cert_no",
    "container_no",
    "lead_seal_no",
    "quality_status",
    "received_at",
)


def _next_suffix(uow: UnitOfWork, parent: Lot) -> int:
    siblings = uow.session.scalars(select(Lot.id).where(Lot.parent_lot_id == parent.id)).all()
    return len(siblings) + 1


def _successor(
    uow: UnitOfWork, source: Receipt, *, lot_id: int, quantity_g: int, cartons: int, status: ReceiptStatus
) -> Receipt:
    warehouse = uow.session.get_one(Warehouse, source.warehouse_id)
    receipt = Receipt(
        code=receipt_code(warehouse.code),
        lot_id=lot_id,
        warehouse_id=source.warehouse_id,
        issuer_org_id=source.issuer_org_id,
        depositor_org_id=source.depositor_org_id,
        holder_org_id=source.holder_org_id,
        status=status,
        quantity_g=quantity_g,
        cartons=cartons,
        issued_quantity_g=quantity_g,
        negotiable=source.negotiable,
        storage_period_end=source.storage_period_end,
        storage_fee_note=source.storage_fee_note,
        loss_standard=source.loss_standard,
        insurer_org_id=source.insurer_org_id,
        insured_amount_fen=source.insured_amount_fen,
        insurance_until=source.insurance_until,
        issued_at=uow.now(),
        issued_by_user_id=source.issued_by_user_id,
        status_changed_at=uow.now(),
        created_at=uow.now(),
    )
    uow.session.add(receipt)
    uow.session.flush()
    return receipt


def _move_pledge(uow: UnitOfWork, source: Receipt, successors: list[Receipt]) -> None:
    pledge = uow.session.scalars(
        select(Pledge).where(Pledge.receipt_id == source.id, Pledge.status == PledgeStatus.ACTIVE)
    ).first()
    if pledge is None:
        return
    pledge.status = PledgeStatus.SUPERSEDED
    pledge.ended_at = uow.now()
    for successor in successors:
        uow.session.add(
            Pledge(
                receipt_id=successor.id,
                pledgee_org_id=pledge.pledgee_org_id,
                pledgor_org_id=pledge.pledgor_org_id,
                status=PledgeStatus.ACTIVE,
                registration_no=pledge.registration_no,
                registered_at=pledge.registered_at,
                requested_at=pledge.requested_at,
                requested_by_user_id=pledge.requested_by_user_id,
                decided_at=pledge.decided_at,
                decided_by_user_id=pledge.decided_by_user_id,
                predecessor_pledge_id=pledge.id,
            )
        )


def _restore(receipt: Receipt, action: ReceiptAction) -> ReceiptStatus:
    previous = receipt.previous_status
    receipt.previous_status = None
    return next_status(receipt.status, action, previous=previous)
