"""Release instructions (放货指令) and the outbound operation that executes them.

Goods leave a warehouse only against an approved, unexpired, one-time instruction, to the named
vehicle and collector, in at most the approved quantity, out of an unsealed lot. The code is shown
once, to whoever authorised the release; only its hash is kept. Goods that secure a credit facility
leave only while its loan stays covered, and never while it is in liquidation
(``financing.releasing``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from coldpledge.audit.snapshot import snapshot
from coldpledge.codes import random_part
from coldpledge.errors import N_, Conflict, InvalidInput, PermissionDenied
from coldpledge.financing import releasing
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Lot, LotStatus, Operation, OperationKind
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.receipts import service as lifecycle
from coldpledge.receipts.errors import illegal
from coldpledge.receipts.lifecycle import ReceiptAction, ReceiptStatus, is_allowed
from coldpledge.receipts.models import (
    NotationKind,
    PledgeStatus,
    Receipt,
    Release,
    ReleaseKind,
    ReleaseStatus,
)
from coldpledge.receipts.schemas import (
    CollectionIn,
    DeliveryRequestIn,
    NoteIn,
    OutboundIn,
    ReasonIn,
    ReleaseRequestIn,
)
from coldpledge.uow import UnitOfWork

A = ReceiptAction
S = ReceiptStatus
MAX_VALIDITY = timedelta(days=30)
MAX_CODE_ATTEMPTS = 5

_EXECUTES = {
    ReleaseKind.PARTIAL_RELEASE: A.EXECUTE_RELEASE,
    ReleaseKind.DELIVERY: A.EXECUTE_DELIVERY,
    ReleaseKind.DISPOSAL: A.EXECUTE_DISPOSAL,
}


def request_release(
    uow: UnitOfWork, principal: Principal, receipt_id: int, data: ReleaseRequestIn
) -> tuple[Release, str | None]:
    """Pledged receipt: the holder asks the bank to let part of the goods go (partial release).
    Receipt in disposal: the bank itself instructs the sale out, approved at once."""
    with uow:
        releasing.lock_cover(uow, receipt_id=receipt_id)
        step = lifecycle.begin(uow, principal, receipt_id, A.REQUEST_RELEASE)
        receipt = step.receipt
        if receipt.status is S.PLEDGED:
            lifecycle._holder(principal, receipt)
            if data.quantity_g >= receipt.quantity_g:
                raise InvalidInput(
                    N_("A partial release must leave goods in pledge; to release all, repay and discharge."),
                    field="quantity_g",
                )
            releasing.check_release(uow, principal, receipt, data.quantity_g)
            kind, approved = ReleaseKind.PARTIAL_RELEASE, False
        else:
            lifecycle._pledgee(uow, principal, receipt)
            if data.quantity_g > receipt.quantity_g:
                raise InvalidInput(
                    N_("The receipt covers only {quantity} g."),
                    field="quantity_g",
                    quantity=receipt.quantity_g,
                )
            kind, approved = ReleaseKind.DISPOSAL, True
        if data.cartons is not None and data.cartons > receipt.cartons:
            raise InvalidInput(
                N_("The receipt covers only {cartons} cartons."), field="cartons", cartons=receipt.cartons
            )
        release, code = _new_release(
            uow, principal, receipt, kind, data, data.quantity_g, data.cartons, approved
        )
        lifecycle.finish(uow, principal, step, reason=data.note, related=[release.subject_ref])
        uow.commit()
        return release, code


def request_delivery(
    uow: UnitOfWork, principal: Principal, receipt_id: int, data: DeliveryRequestIn
) -> tuple[Release, str | None]:
    """The holder of an unencumbered receipt takes delivery of all its goods."""
    with uow:
        step = lifecycle.begin(uow, principal, receipt_id, A.REQUEST_DELIVERY)
        receipt = step.receipt
        lifecycle._holder(principal, receipt)
        release, code = _new_release(
            uow, principal, receipt, ReleaseKind.DELIVERY, data, receipt.quantity_g, receipt.cartons, True
        )
        lifecycle.finish(
            uow, principal, step, to=S.DELIVERY_PENDING, reason=data.note, related=[release.subject_ref]
        )
        uow.commit()
        return release, code


def approve(uow: UnitOfWork, principal: Principal, release_id: int, data: NoteIn) -> tuple[Release, str]:
    """The pledgee approves a partial release; the one-time code is returned this once."""
    with uow:
        releasing.lock_cover(uow, release_id=release_id)
        release, receipt = _release_for_change(uow, principal, release_id, "approve")
        if release.kind is not ReleaseKind.PARTIAL_RELEASE or release.status is not ReleaseStatus.REQUESTED:
            raise Conflict(N_("Only a requested partial release awaits approval."))
        if receipt.status is not S.PLEDGED:
            raise illegal(receipt.status, A.EXECUTE_RELEASE)
        lifecycle._pledgee(uow, principal, receipt)
        if release.valid_until <= uow.now():
            raise Conflict(N_("The instruction's validity has already passed; ask for a new one."))
        # The price may have moved since the request: the loan must still be covered without the goods.
        releasing.check_release(uow, principal, receipt, release.quantity_g)
        before = snapshot(release)
        code = _grant(uow, principal, release, data.note)
        uow.record(
            principal,
            "release.approve",
            release,
            before=before,
            reason=data.note,
            related=[receipt.subject_ref],
        )
        uow.commit()
        return release, code


def reject(uow: UnitOfWork, principal: Principal, release_id: int, data: ReasonIn) -> Release:
    with uow:
        release, receipt = _release_for_change(uow, principal, release_id, "reject")
        if release.status is not ReleaseStatus.REQUESTED:
            raise Conflict(N_("Only a requested release can be rejected."))
        lifecycle._pledgee(uow, principal, receipt)
        before = snapshot(release)
        release.status = ReleaseStatus.REJECTED
        release.decided_at = uow.now()
        release.decided_by_user_id = principal.user_id
        release.decision_note = data.reason
        uow.record(
            principal,
            "release.reject",
            release,
            before=before,
            reason=data.reason,
            related=[receipt.subject_ref],
        )
        uow.commit()
        return release


def cancel(uow: UnitOfWork, principal: Principal, release_id: int, data: ReasonIn) -> Release:
    """Whoever asked for the release may cancel it until it is executed; a cancelled delivery
    returns the receipt to issued."""
    with uow:
        release, receipt = _release_for_change(uow, principal, release_id, "cancel")
        if release.status not in (ReleaseStatus.REQUESTED, ReleaseStatus.APPROVED):
            raise Conflict(N_("This release is already closed."))
        if release.kind is ReleaseKind.DISPOSAL:
            lifecycle._pledgee(uow, principal, receipt)
        else:
            lifecycle._holder(principal, receipt)
        before = snapshot(release)
        release.status = ReleaseStatus.CANCELLED
        release.decision_note = data.reason
        if release.kind is ReleaseKind.DELIVERY:
            if not is_allowed(receipt.status, A.WITHDRAW_DELIVERY):
                raise illegal(receipt.status, A.WITHDRAW_DELIVERY)
            step = lifecycle.Step(receipt, snapshot(receipt), A.WITHDRAW_DELIVERY)
            lifecycle.finish(
                uow, principal, step, to=S.ISSUED, reason=data.reason, related=[release.subject_ref]
            )
        uow.record(
            principal,
            "release.cancel",
            release,
            before=before,
            reason=data.reason,
            related=[receipt.subject_ref],
        )
        uow.commit()
        return release


def execute_outbound(uow: UnitOfWork, principal: Principal, lot_id: int, data: OutboundIn) -> Operation:
    """Outbound (出库) at the dock: check the instruction, weigh the goods out, reduce the lot and
    the receipt, and close the instruction."""
    with uow:
        lot = obtain(uow.session, principal, Lot, lot_id, "outbound", for_update=True)
        release = uow.session.get(Release, data.release_id, with_for_update=True)
        receipt = uow.session.get(Receipt, release.receipt_id, with_for_update=True) if release else None
        if release is None or receipt is None or receipt.lot_id != lot.id:
            raise InvalidInput(N_("That release instruction is not for this lot."), field="release_id")
        _check_instruction(uow, principal, release, receipt, data)
        action = _EXECUTES[release.kind]
        if not is_allowed(receipt.status, action):
            raise illegal(receipt.status, action)
        if release.kind is ReleaseKind.PARTIAL_RELEASE:
            releasing.ensure_not_frozen(uow.session, receipt)
        seals = inventory.active_seals(uow.session, lot)
        if seals:
            raise Conflict(
                N_("Lot {lot} is sealed (seal {number}); unseal it first."),
                lot=lot.code,
                number=seals[0].number,
            )
        net_g = data.net_g
        if net_g > release.quantity_g:
            raise Conflict(
                N_("The goods weigh {net} g, more than the {allowed} g released."),
                net=net_g,
                allowed=release.quantity_g,
            )
        if release.cartons is not None and data.cartons > release.cartons:
            raise Conflict(
                N_("{cartons} cartons are going out, more than the {allowed} released."),
                field="cartons",
                cartons=data.cartons,
                allowed=release.cartons,
            )
        if data.cartons > receipt.cartons or data.cartons > lot.cartons:
            raise Conflict(N_("More cartons than the receipt covers are going out."), field="cartons")
        lot_before = snapshot(lot)
        step = lifecycle.Step(receipt, snapshot(receipt), action)
        full = release.kind is ReleaseKind.DELIVERY or release.quantity_g >= receipt.quantity_g
        receipt.quantity_g -= net_g
        receipt.cartons -= data.cartons
        to = S.CANCELLED if full else receipt.status
        if full and release.kind is ReleaseKind.DISPOSAL:
            pledge = lifecycle.live_pledge(uow.session, receipt.id)
            if pledge is not None:
                pledge.status = PledgeStatus.ENFORCED
                pledge.ended_at = uow.now()
        notation = _NOTATIONS[release.kind]
        lifecycle.finish(
            uow,
            principal,
            step,
            to=to,
            related=[release.subject_ref],
            notation=(notation, f"出库 {net_g} g / {data.cartons} 箱, 放货指令 #{release.id}", net_g),
        )
        uow.session.flush()  # the receipt shrinks before the lot, so the stock check holds at every step
        lot.verified_net_weight_g -= net_g
        lot.cartons -= data.cartons
        if lot.verified_net_weight_g == 0:
            lot.status = LotStatus.DEPLETED
        operation = inventory.record_operation(
            uow,
            principal,
            lot,
            OperationKind.OUTBOUND,
            gross_g=data.gross_g,
            tare_g=data.tare_g,
            net_g=net_g,
            cartons=data.cartons,
            weigh_ticket_no=data.weigh_ticket_no,
            scale_ref=data.scale_ref,
            release_id=release.id,
            vehicle_plate=data.vehicle_plate,
            note=data.note,
            details={"release_kind": release.kind.value, "approved_g": release.quantity_g},
        )
        release_before = snapshot(release)
        release.status = ReleaseStatus.EXECUTED
        release.executed_at = uow.now()
        release.executed_net_g = net_g
        uow.record(
            principal,
            "lot.outbound",
            lot,
            before=lot_before,
            related=[f"operation:{operation.id}", receipt.subject_ref, release.subject_ref],
        )
        uow.record(
            principal, "release.execute", release, before=release_before, related=[receipt.subject_ref]
        )
        uow.commit()
        return operation


_NOTATIONS = {
    ReleaseKind.PARTIAL_RELEASE: NotationKind.PARTIAL_RELEASE,
    ReleaseKind.DELIVERY: NotationKind.DELIVERY,
    ReleaseKind.DISPOSAL: NotationKind.DISPOSAL,
}


def _check_instruction(
    uow: UnitOfWork, principal: Principal, release: Release, receipt: Receipt, data: OutboundIn
) -> None:
    if release.status is not ReleaseStatus.APPROVED:
        raise Conflict(
            N_("Release instruction {ident} is {status_label}, not approved."),
            ident=release.id,
            status_label=release.status.label,
        )
    if release.valid_until < uow.now():
        raise Conflict(
            N_("Release instruction {ident} expired at {until}."),
            ident=release.id,
            until=release.valid_until.isoformat(),
        )
    if not hmac.compare_digest(release.code_sha256 or "", _digest(data.release_code.strip().upper())):
        before = snapshot(release)
        release.failed_code_attempts += 1
        if release.failed_code_attempts >= MAX_CODE_ATTEMPTS:
            release.status = ReleaseStatus.CANCELLED
            release.decision_note = "too many wrong codes"
        # Kept even though the outbound fails: a wrong code at the dock is evidence in itself.
        uow.record(principal, "release.wrong_code", release, before=before, related=[receipt.subject_ref])
        uow.commit()
        raise PermissionDenied(N_("The release code is wrong."), field="release_code")
    if _plate(data.vehicle_plate) != _plate(release.vehicle_plate):
        raise Conflict(N_("The vehicle is not the one named in the instruction."), field="vehicle_plate")
    if not hmac.compare_digest(
        release.collector_id_sha256, _collector_digest(release.collector_id_salt, data.collector_id_no)
    ):
        raise Conflict(N_("The collector's ID does not match the instruction."), field="collector_id_no")


def _new_release(
    uow: UnitOfWork,
    principal: Principal,
    receipt: Receipt,
    kind: ReleaseKind,
    collection: CollectionIn,
    quantity_g: int,
    cartons: int | None,
    approved: bool,
) -> tuple[Release, str | None]:
    now = uow.now()
    if not now < collection.valid_until <= now + MAX_VALIDITY:
        raise InvalidInput(N_("valid_until must be in the future and within 30 days."), field="valid_until")
    salt = secrets.token_hex(16)
    release = Release(
        receipt_id=receipt.id,
        kind=kind,
        status=ReleaseStatus.REQUESTED,
        quantity_g=quantity_g,
        cartons=cartons,
        vehicle_plate=_plate(collection.vehicle_plate),
        collector_name=collection.collector_name,
        collector_id_salt=salt,
        collector_id_sha256=_collector_digest(salt, collection.collector_id_no),
        collector_id_last4=collection.collector_id_no[-4:].upper(),
        valid_until=collection.valid_until,
        requested_at=now,
        requested_by_user_id=principal.user_id,
    )
    uow.session.add(release)
    uow.session.flush()
    code = _grant(uow, principal, release, None) if approved else None
    uow.record(principal, "release.request", release, before=None, related=[receipt.subject_ref])
    return release, code


def _grant(uow: UnitOfWork, principal: Principal, release: Release, note: str | None) -> str:
    code = random_part(10)
    release.status = ReleaseStatus.APPROVED
    release.code_sha256 = _digest(code)
    release.decided_at = uow.now()
    release.decided_by_user_id = principal.user_id
    release.decision_note = note
    return code


def _release_for_change(
    uow: UnitOfWork, principal: Principal, release_id: int, action: str
) -> tuple[Release, Receipt]:
    peek = obtain(uow.session, principal, Release, release_id, action)
    inventory.lock_lot(uow.session, uow.session.get_one(Receipt, peek.receipt_id).lot_id)
    release = obtain(uow.session, principal, Release, release_id, action, for_update=True)
    receipt = uow.session.get_one(Receipt, release.receipt_id, with_for_update=True)
    return release, receipt


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def _collector_digest(salt: str, id_no: str) -> str:
    return hashlib.sha256(f"{salt}:{id_no.strip().upper()}".encode()).hexdigest()


def _plate(plate: str) -> str:
    return plate.replace(" ", "").replace("·", "").upper()
