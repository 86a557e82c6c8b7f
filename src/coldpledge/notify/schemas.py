"""Request and response bodies of the notifications API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from coldpledge.inventory.schemas import Strict
from coldpledge.notify.models import Channel, DeliveryStatus


class InboxItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    subject_ref: str
    title: str
    body: str
    severity: str
    created_at: datetime
    read_at: datetime | None


class UnreadOut(BaseModel):
    unread: int


class MarkedOut(BaseModel):
    marked: int


class WebhookCreateIn(Strict):
    url: str = Field(max_length=500, description="Where to POST; https:// in production")
    kinds: list[Annotated[str, Field(pattern=r"^[a-z0-9_.:-]{1,64}$")]] = Field(
        default_factory=list,
        max_length=50,
        description="The notification kinds to send (alert.firing, …); none means every kind",
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: int
    url: str
    kinds: list[str]
    is_active: bool
    created_at: datetime
    deactivated_at: datetime | None


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="The HMAC-SHA256 key; shown now and never again")


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    ok: bool
    status_code: int | None = Field(description="HTTP status or SMTP reply code; none when nothing answered")
    reply: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: Channel
    target: str
    kind: str
    about: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    log: list[AttemptOut] = Field(default_factory=list)
