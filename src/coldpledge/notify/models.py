"""Inbox items, webhook subscriptions, deliveries and the log of every delivery attempt.

A notification becomes rows in the transaction that caused it (``service.notify``): an inbox item
per user and a pending delivery per channel. Nothing leaves the platform until the dispatcher
(``dispatch.deliver_due``) claims a due delivery in a transaction of its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.choices import Choice, present
from coldpledge.db import Base, JSONDocument, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_

BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


@present({"webhook": N_("Webhook"), "email": N_("E-mail")})
class Channel(Choice):
    WEBHOOK = "webhook"
    EMAIL = "email"


@present(
    {
        "pending": N_("Pending"),
        "sent": N_("Sent"),
        "failed": N_("Failed, will retry"),
        "given_up": N_("Given up"),
    },
    {"pending": "cyan", "sent": "green", "failed": "orange", "given_up": "red"},
)
class DeliveryStatus(Choice):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    GIVEN_UP = "given_up"


# A delivery the dispatcher still has to try.
DUE = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class InboxItem(Base):
    """One notification in one user's in-app inbox."""

    __tablename__ = "inbox_items"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(64))
    subject_ref: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The inbox lists a user's newest items first and counts the unread ones.
    __table_args__ = (Index("ix_inbox_items_user_id_created_at", "user_id", "created_at"),)


class WebhookSubscription(Base):
    """An organisation's HTTPS endpoint that receives its users' notifications, signed with
    HMAC-SHA256 under ``secret`` (shown once, at creation, and never again)."""

    __tablename__ = "webhook_subscriptions"
    __permission__ = "webhook"
    __label__ = N_("webhook subscription")
    __subject_type__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(64))
    # The notification kinds sent to it; an empty list means every kind.
    kinds: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def subject_ref(self) -> str:
        return f"webhook:{self.id}"

    def wants(self, kind: str) -> bool:
        return self.is_active and (not self.kinds or kind in self.kinds)


class Delivery(Base):
    """One message to send on one channel: a webhook POST or an e-mail.

    pending → sent, or → failed (a retry is scheduled at ``next_attempt_at``) → … → sent or
    given_up after the last attempt allowed.
    """

    __tablename__ = "deliveries"
    __permission__ = "delivery"
    __label__ = N_("delivery")
    __subject_type__ = "delivery"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    channel: Mapped[Channel] = mapped_column(choice_column(Channel, "delivery_channel"))
    # The webhook's URL or the e-mail address, as it was when the notification was made.
    target: Mapped[str] = mapped_column(String(500))
    subscription_id: Mapped[int | None] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    # What the notification is about ("room:12"); ``subject_ref`` names the delivery itself.
    about: Mapped[str] = mapped_column(String(100))
    # Exactly the bytes sent: the JSON body of a webhook (what the signature covers), or the JSON
    # of an e-mail's subject and text.
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[DeliveryStatus] = mapped_column(
        choice_column(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    # The dispatcher's question: what is due now?
    __table_args__ = (Index("ix_deliveries_status_next_attempt_at", "status", "next_attempt_at"),)

    @property
    def subject_ref(self) -> str:
        return f"delivery:{self.id}"


class DeliveryAttempt(Base):
    """The delivery log: one row per attempt, with what the other side answered."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BIG_ID, ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    ok: Mapped[bool] = mapped_column(Boolean)
    # The HTTP status, or the SMTP reply code; None when no answer came (a network error).
    status_code: Mapped[int | None] = mapped_column(Integer)
    # The SMTP reply text, the start of an HTTP error body, or the network error.
    reply: Mapped[str | None] = mapped_column(String(500))
    duration_ms: Mapped[int] = mapped_column(Integer)
