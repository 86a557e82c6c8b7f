"""Attaching pledged receipts to a facility as its collateral, and detaching them.

The bank attaches a receipt pledged to it by the facility's borrower; the pledge then secures this
facility alone (a partial unique index). Detaching lowers the cover, so it is checked like a
drawdown: under the facility's lock, the committed exposure must stay within the pledge rate of
what remains.
"""

from __future__ import annotations

from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, Conflict, InvalidInput, NotFound
from coldpledge.financing.collateral import ltv_within
from coldpledge.financing.facilities import lock, must_be, today
from coldpledge.financing.lifecycle import BANK, LIVE_FACILITY
from coldpledge.financing.marktomarket import revalue_after
from coldpledge.financing.models import Facility, FacilityCollateral
from coldpledge.financing.mtm_models import MarginCallEventKind
from coldpledge.financing.position import position_of
from coldpledge.financing.schemas import CollateralAttachIn
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.receipts.models import PledgeStatus, Receipt
from coldpledge.receipts.service import live_pledge
from coldpledge.uow import UnitOfWork


def attach(
    uow: UnitOfWork, principal: Principal, facility_id: int, data: CollateralAttachIn
) -> FacilityCollateral:
    with uow:
        facility = lock(uow, principal, facility_id, "attach_collateral")
        must_be(principal, facility, BANK)
        _live(facility)
        receipt = obtain(uow.session, principal, Receipt, data.receipt_id, field="receipt_id")
        pledge = live_pledge(uow.session, receipt.id)
        if (
            pledge is None
            or pledge.status is not PledgeStatus.ACTIVE
            or pledge.pledgee_org_id != facility.bank_org_id
        ):
            raise InvalidInput(
                N_("Receipt {code} is not pledged to the facility's bank."),
                field="receipt_id",
                code=receipt.code,
            )
        if pledge.pledgor_org_id != facility.borrower_org_id:
            raise InvalidInput(
                N_("Receipt {code} was pledged by another borrower than the facility's."),
                field="receipt_id",
                code=receipt.code,
            )
        link = FacilityCollateral(
            facility_id=facility.id,
            pledge_id=pledge.id,
            attached_at=uow.now(),
            attached_by_user_id=principal.user_id,
        )
        uow.session.add(link)
        uow.session.flush()
        uow.record(
            principal,
            "facility.attach_collateral",
            link,
            before=None,
            related=[facility.subject_ref, receipt.subject_ref],
            data={"pledge_id": pledge.id, "receipt": receipt.code, "quantity_g": receipt.quantity_g},
        )
        revalue_after(uow, principal, facility, MarginCallEventKind.TOP_UP, link.subject_ref)
        uow.commit()
        return link


def detach(uow: UnitOfWork, principal: Principal, facility_id: int, link_id: int) -> FacilityCollateral:
    with uow:
        facility = lock(uow, principal, facility_id, "detach_collateral")
        must_be(principal, facility, BANK)
        link = uow.session.get(FacilityCollateral, link_id, with_for_update=True)
        if link is None or link.facility_id != facility.id:
            raise NotFound(
                N_("The {thing} {ident} was not found."), thing=FacilityCollateral.__label__, ident=link_id
            )
        if link.detached_at is not None:
            raise Conflict(N_("That collateral was detached already."))
        after = position_of(uow.session, facility, today(uow), without_link=link.id)
        if not ltv_within(after.committed_exposure_fen, after.cover_fen, facility.pledge_rate_bp):
            raise Conflict(
                N_(
                    "Detaching it would leave {exposure} fen of exposure against {value} fen of "
                    "collateral, above the pledge rate; repay or add margin first."
                ),
                exposure=after.committed_exposure_fen,
                value=after.cover_fen,
            )
        before = snapshot(link)
        link.detached_at = uow.now()
        link.detached_by_user_id = principal.user_id
        uow.record(
            principal,
            "facility.detach_collateral",
            link,
            before=before,
            related=[facility.subject_ref],
            data={"position_after": after.evidence()},
        )
        uow.commit()
        return link


def _live(facility: Facility) -> None:
    if facility.status not in LIVE_FACILITY:
        raise Conflict(
            N_("The facility is {status_label}; its collateral can no longer change."),
            status_label=facility.status.label,
        )
