"""Reads of notifications: a user's own inbox, an organisation's own subscriptions, the delivery log."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.errors import N_, NotFound
from coldpledge.notify.models import (
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    InboxItem,
    WebhookSubscription,
)
from coldpledge.notify.service import own_user
from coldpledge.parties.access import require
from coldpledge.parties.policy import Principal


def inbox(
    session: Session, principal: Principal, *, unread_only: bool, limit: int, offset: int
) -> Sequence[InboxItem]:
    """The caller's own items, newest first."""
    query = select(InboxItem).where(InboxItem.user_id == own_user(principal))
    if unread_only:
        query = query.where(InboxItem.read_at.is_(None))
    return session.scalars(
        query.order_by(InboxItem.created_at.desc(), InboxItem.id.desc()).limit(limit).offset(offset)
    ).all()


def unread_count(session: Session, principal: Principal) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(InboxItem)
        .where(InboxItem.user_id == own_user(principal), InboxItem.read_at.is_(None))
    )
    return int(count or 0)


def subscriptions(session: Session, principal: Principal) -> Sequence[WebhookSubscription]:
    """The subscriptions of the caller's own organisation (the operator's too: its own)."""
    require(principal, "webhook:view")
    return session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.organisation_id == principal.org_id)
        .order_by(WebhookSubscription.id)
    ).all()


def deliveries(
    session: Session,
    principal: Principal,
    *,
    status: DeliveryStatus | None,
    channel: Channel | None,
    limit: int,
    before_id: int | None,
) -> Sequence[Delivery]:
    """Every delivery, newest first: the platform operator's view of what went out and what not."""
    require(principal, "delivery:view")
    query = select(Delivery)
    if status is not None:
        query = query.where(Delivery.status == status)
    if channel is not None:
        query = query.where(Delivery.channel == channel)
    if before_id is not None:
        query = query.where(Delivery.id < before_id)
    return session.scalars(query.order_by(Delivery.id.desc()).limit(limit)).all()


def delivery(session: Session, principal: Principal, delivery_id: int) -> Delivery:
    require(principal, "delivery:view")
    found = session.get(Delivery, delivery_id)
    if found is None:
        raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("delivery"), ident=delivery_id)
    return found


def attempts(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[DeliveryAttempt]]:
    """The log of each delivery, oldest attempt first."""
    log: dict[int, list[DeliveryAttempt]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return log
    rows = session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(delivery_ids))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.id)
    )
    for row in rows:
        log[row.delivery_id].append(row)
    return log
