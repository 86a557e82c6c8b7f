"""Reading receipts: lists, details, history, releases and the public ID card."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from coldpledge.audit.models import AuditEvent
from coldpledge.errors import N_, NotFound
from coldpledge.inventory.models import Commodity, Lot
from coldpledge.parties.access import obtain, restrict
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import Principal
from coldpledge.receipts.lifecycle import PRE_ISSUE, ReceiptStatus
from coldpledge.receipts.models import LIVE_PLEDGE, Pledge, Receipt, ReceiptNotation, Release
from coldpledge.warehouses.models import Warehouse


@dataclass(frozen=True)
class ReceiptFilter:
    status: ReceiptStatus | None = None
    lot_id: int | None = None
    warehouse_id: int | None = None
    holder_org_id: int | None = None
    limit: int = 100
    offset: int = 0


def list_receipts(session: Session, principal: Principal, where: ReceiptFilter) -> list[Receipt]:
    query = restrict(principal, "view", Receipt)
    for column, value in (
        (Receipt.status, where.status),
        (Receipt.lot_id, where.lot_id),
        (Receipt.warehouse_id, where.warehouse_id),
        (Receipt.holder_org_id, where.holder_org_id),
    ):
        if value is not None:
            query = query.where(column == value)
    return list(session.scalars(query.order_by(Receipt.id).limit(where.limit).offset(where.offset)))


def get_receipt(session: Session, principal: Principal, receipt_id: int) -> Receipt:
    return obtain(session, principal, Receipt, receipt_id)


def current_pledge(session: Session, receipt_id: int) -> Pledge | None:
    return session.scalars(
        select(Pledge).where(Pledge.receipt_id == receipt_id, Pledge.status.in_(LIVE_PLEDGE))
    ).first()


def notations(session: Session, receipt_id: int) -> list[ReceiptNotation]:
    return list(
        session.scalars(
            select(ReceiptNotation)
            .where(ReceiptNotation.receipt_id == receipt_id)
            .order_by(ReceiptNotation.id)
        )
    )


@dataclass(frozen=True)
class HistoryEntry:
    event: AuditEvent
    actor_name: str


def history(session: Session, principal: Principal, receipt_id: int) -> list[HistoryEntry]:
    """Every recorded change of the receipt and of its release instructions, oldest first."""
    receipt = obtain(session, principal, Receipt, receipt_id)
    releases = select(Release.id).where(Release.receipt_id == receipt.id)
    rows = session.execute(
        select(AuditEvent, User.display_name)
        .outerjoin(User, User.id == AuditEvent.actor_user_id)
        .where(
            or_(
                and_(AuditEvent.subject_type == "receipt", AuditEvent.subject_id == receipt.id),
                and_(AuditEvent.subject_type == "release", AuditEvent.subject_id.in_(releases)),
            )
        )
        .order_by(AuditEvent.id)
    )
    return [HistoryEntry(event, name or event.actor) for event, name in rows]


def list_releases(session: Session, principal: Principal, receipt_id: int | None) -> list[Release]:
    query = restrict(principal, "view", Release)
    if receipt_id is not None:
        query = query.where(Release.receipt_id == receipt_id)
    return list(session.scalars(query.order_by(Release.id)))


def receipt_by_code(session: Session, principal: Principal, code: str) -> Receipt:
    return obtain(session, principal, Receipt, code, key=Receipt.code)


def get_release(session: Session, principal: Principal, release_id: int) -> Release:
    return obtain(session, principal, Release, release_id)


@dataclass(frozen=True)
class PublicCard:
    """What anyone holding the QR code may learn: that the receipt exists, who issued it, where the
    goods are and what state it is in. Not who holds it, who lends against it, or how much."""

    code: str
    status: ReceiptStatus
    issuer: str
    warehouse: str
    city: str
    commodity: str
    commodity_en: str
    issued_at: object
    status_changed_at: object


def public_card(session: Session, code: str) -> PublicCard:
    row = session.execute(
        select(Receipt, Organisation.name, Warehouse.name, Warehouse.city, Commodity.name, Commodity.name_en)
        .join(Organisation, Organisation.id == Receipt.issuer_org_id)
        .join(Warehouse, Warehouse.id == Receipt.warehouse_id)
        .join(Lot, Lot.id == Receipt.lot_id)
        .join(Commodity, Commodity.id == Lot.commodity_id)
        .where(Receipt.code == code.strip().upper(), Receipt.status.not_in(PRE_ISSUE))
    ).first()
    if row is None:
        raise NotFound(N_("No issued receipt has this code."))
    receipt, issuer, warehouse, city, commodity, commodity_en = row
    return PublicCard(
        receipt.code,
        receipt.status,
        issuer,
        warehouse,
        city,
        commodity,
        commodity_en,
        receipt.issued_at,
        receipt.status_changed_at,
    )


def receipt_counts(session: Session, principal: Principal) -> dict[str, int]:
    """Receipts the principal sees, by status (every status, zero included)."""
    visible = restrict(principal, "view", Receipt).subquery()
    counts = {status.value: 0 for status in ReceiptStatus}
    for status, count in session.execute(select(visible.c.status, func.count()).group_by(visible.c.status)):
        counts[ReceiptStatus(status).value] = count
    return counts
