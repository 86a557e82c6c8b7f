"""Use cases of notifications: write them (``notify``), keep the inbox, manage webhook subscriptions.

``notify`` runs inside the caller's unit of work: the inbox items and the pending deliveries are
committed with the change that caused them, or not at all. Sending is the dispatcher's
(``dispatch.deliver_due``), never inside a business transaction.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.errors import N_, InvalidInput, NotFound
from coldpledge.notify.messages import Notice, email_document, webhook_body
from coldpledge.notify.models import Channel, Delivery, DeliveryStatus, InboxItem, WebhookSubscription
from coldpledge.parties.access import require
from coldpledge.parties.models import User
from coldpledge.parties.policy import Principal
from coldpledge.uow import UnitOfWork


def notify(
    uow: UnitOfWork,
    *,
    user_ids: list[int],
    kind: str,
    subject_ref: str,
    title: str,
    body: str,
    severity: str,
    at: datetime,
) -> None:
    """In the caller's transaction: an inbox item for each (active) user named once or more, an
    e-mail for each of them with an address, and a webhook call for each active subscription of
    their organisations that wants ``kind``."""
    ids = sorted(set(user_ids))
    if not ids:
        return
    session = uow.session
    users = session.scalars(select(User).where(User.id.in_(ids), User.is_active).order_by(User.id)).all()
    notice = Notice(kind, subject_ref, title, body, severity, at)
    for user in users:
        session.add(
            InboxItem(
                user_id=user.id,
                kind=kind,
                subject_ref=subject_ref,
                title=title,
                body=body,
                severity=severity,
                created_at=at,
            )
        )
        if user.email:
            session.add(
                _pending(
                    notice,
                    Channel.EMAIL,
                    user.email,
                    email_document(notice, to=user.email),
                    user_id=user.id,
                )
            )
    organisations = sorted({user.organisation_id for user in users})
    subscriptions = session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.organisation_id.in_(organisations), WebhookSubscription.is_active)
        .order_by(WebhookSubscription.id)
    ).all()
    for subscription in subscriptions:
        if subscription.wants(kind):
            payload = webhook_body(
                notice, event_id=uuid.uuid4().hex, organisation_id=subscription.organisation_id
            )
            session.add(
                _pending(notice, Channel.WEBHOOK, subscription.url, payload, subscription_id=subscription.id)
            )
    session.flush()


def _pending(
    notice: Notice,
    channel: Channel,
    target: str,
    payload: bytes,
    *,
    user_id: int | None = None,
    subscription_id: int | None = None,
) -> Delivery:
    return Delivery(
        channel=channel,
        target=target,
        user_id=user_id,
        subscription_id=subscription_id,
        kind=notice.kind,
        about=notice.subject_ref,
        payload=payload,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=notice.at,
        created_at=notice.at,
    )


# --- the inbox ------------------------------------------------------------------------------------


def mark_read(uow: UnitOfWork, principal: Principal, item_id: int) -> InboxItem:
    """Mark one of the caller's own items read (again: it keeps the first reading time)."""
    with uow:
        item = uow.session.scalars(
            select(InboxItem)
            .where(InboxItem.id == item_id, InboxItem.user_id == own_user(principal))
            .with_for_update()
        ).first()
        if item is None:
            raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("inbox item"), ident=item_id)
        if item.read_at is None:
            item.read_at = uow.now()
        uow.commit()
        return item


def mark_all_read(uow: UnitOfWork, principal: Principal) -> int:
    """Mark every unread item of the caller's read; how many there were."""
    with uow:
        result = uow.session.execute(
            update(InboxItem)
            .where(InboxItem.user_id == own_user(principal), InboxItem.read_at.is_(None))
            .values(read_at=uow.now())
        )
        uow.commit()
        return int(getattr(result, "rowcount", 0) or 0)


def own_user(principal: Principal) -> int:
    if principal.user_id is None:
        raise NotFound(N_("The system has no inbox."))
    return principal.user_id


# --- webhook subscriptions ------------------------------------------------------------------------


def create_subscription(
    uow: UnitOfWork, principal: Principal, *, url: str, kinds: Iterable[str]
) -> tuple[WebhookSubscription, str]:
    """Subscribe the caller's organisation; the secret is returned here and never again."""
    with uow:
        require(principal, "webhook:create")
        if principal.org_id is None:
            raise NotFound(N_("The system has no organisation."))
        parts = urlsplit(url)
        if parts.scheme not in {"https", "http"} or not parts.hostname:
            raise InvalidInput(N_("A webhook address starts with https:// and names a host."), field="url")
        secret = secrets.token_hex(32)
        subscription = WebhookSubscription(
            organisation_id=principal.org_id,
            url=url,
            secret=secret,
            kinds=sorted(set(kinds)),
            is_active=True,
            created_by_user_id=principal.user_id,
            created_at=uow.now(),
        )
        uow.session.add(subscription)
        uow.record(
            principal, "webhook.create", subscription, before=None, related=[f"org:{principal.org_id}"]
        )
        uow.commit()
        return subscription, secret


def deactivate_subscription(
    uow: UnitOfWork, principal: Principal, subscription_id: int
) -> WebhookSubscription:
    """Stop sending to a subscription of the caller's organisation. Deliveries already made for it
    still go out; a deactivated subscription stays, for the delivery log."""
    with uow:
        require(principal, "webhook:deactivate")
        subscription = own_subscription(uow.session, principal, subscription_id, for_update=True)
        if subscription.is_active:
            before = snapshot(subscription)
            subscription.is_active = False
            subscription.deactivated_at = uow.now()
            uow.record(
                principal,
                "webhook.deactivate",
                subscription,
                before=before,
                related=[f"org:{subscription.organisation_id}"],
            )
        uow.commit()
        return subscription


def own_subscription(
    session: Session, principal: Principal, subscription_id: int, *, for_update: bool = False
) -> WebhookSubscription:
    """A subscription of the caller's own organisation, to a role that may see subscriptions;
    404 otherwise, whether or not it exists elsewhere."""
    query = select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id,
        WebhookSubscription.organisation_id == principal.org_id,
    )
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).first() if principal.can("webhook:view") else None
    if found is None:
        raise NotFound(
            N_("The {thing} {ident} was not found."), thing=N_("webhook subscription"), ident=subscription_id
        )
    return found
