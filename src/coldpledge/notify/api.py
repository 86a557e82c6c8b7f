"""HTTP routes of notifications: my inbox, my organisation's webhooks, the operator's delivery log."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, status
from sqlalchemy.orm import Session

from coldpledge.notify import queries, service
from coldpledge.notify.models import Channel, Delivery, DeliveryStatus
from coldpledge.notify.schemas import (
    AttemptOut,
    DeliveryOut,
    InboxItemOut,
    MarkedOut,
    UnreadOut,
    WebhookCreatedOut,
    WebhookCreateIn,
    WebhookOut,
)
from coldpledge.web.deps import CurrentPrincipal, ReadSession, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["notifications"])


@router.get("/inbox", response_model=list[InboxItemOut], responses=errors(401, 422))
def list_inbox(
    session: ReadSession,
    principal: CurrentPrincipal,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[InboxItemOut]:
    """The caller's own notifications, newest first."""
    items = queries.inbox(session, principal, unread_only=unread, limit=limit, offset=offset)
    return [InboxItemOut.model_validate(item) for item in items]


@router.get("/inbox/unread-count", response_model=UnreadOut, responses=errors(401))
def inbox_unread_count(session: ReadSession, principal: CurrentPrincipal) -> UnreadOut:
    return UnreadOut(unread=queries.unread_count(session, principal))


@router.post("/inbox/read-all", response_model=MarkedOut, responses=errors(401))
def inbox_read_all(uow: Uow, principal: CurrentPrincipal) -> MarkedOut:
    return MarkedOut(marked=service.mark_all_read(uow, principal))


@router.post("/inbox/{item_id}/read", response_model=InboxItemOut, responses=errors(401, 404))
def inbox_read(item_id: int, uow: Uow, principal: CurrentPrincipal) -> InboxItemOut:
    return InboxItemOut.model_validate(service.mark_read(uow, principal, item_id))


@router.get("/webhooks", response_model=list[WebhookOut], responses=errors(401, 403))
def list_webhooks(session: ReadSession, principal: CurrentPrincipal) -> list[WebhookOut]:
    """The webhook subscriptions of the caller's organisation (never their secrets)."""
    return [WebhookOut.model_validate(row) for row in queries.subscriptions(session, principal)]


@router.post(
    "/webhooks",
    response_model=WebhookCreatedOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 422),
)
def create_webhook(data: WebhookCreateIn, uow: Uow, principal: CurrentPrincipal) -> WebhookCreatedOut:
    """Subscribe the caller's organisation. The answer carries the signing secret, once."""
    subscription, secret = service.create_subscription(uow, principal, url=data.url, kinds=data.kinds)
    return WebhookCreatedOut(**WebhookOut.model_validate(subscription).model_dump(), secret=secret)


@router.post("/webhooks/{webhook_id}/deactivate", response_model=WebhookOut, responses=errors(401, 403, 404))
def deactivate_webhook(webhook_id: int, uow: Uow, principal: CurrentPrincipal) -> WebhookOut:
    return WebhookOut.model_validate(service.deactivate_subscription(uow, principal, webhook_id))


@router.get("/deliveries", response_model=list[DeliveryOut], responses=errors(401, 403, 422))
def list_deliveries(
    session: ReadSession,
    principal: CurrentPrincipal,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    channel: Channel | None = None,
    before_id: int | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryOut]:
    """The delivery log for the platform operator: every webhook call and e-mail, with each attempt."""
    rows = queries.deliveries(
        session, principal, status=delivery_status, channel=channel, limit=limit, before_id=before_id
    )
    return _out(session, rows)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, responses=errors(401, 403, 404))
def get_delivery(delivery_id: int, session: ReadSession, principal: CurrentPrincipal) -> DeliveryOut:
    return _out(session, [queries.delivery(session, principal, delivery_id)])[0]


def _out(session: Session, rows: Sequence[Delivery]) -> list[DeliveryOut]:
    deliveries = list(rows)
    log = queries.attempts(session, [row.id for row in deliveries])
    return [
        DeliveryOut.model_validate(row).model_copy(
            update={"log": [AttemptOut.model_validate(entry) for entry in log[row.id]]}
        )
        for row in deliveries
    ]
