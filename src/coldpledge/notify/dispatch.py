"""Sending what is due: ``deliver_due(database, settings, now)``, called by the scheduler.

Each delivery is claimed in a short transaction of its own (on PostgreSQL ``FOR UPDATE SKIP
LOCKED``, so several schedulers share the work; SQLite has a single writer), which moves its next
attempt past a lease; then it is sent with no transaction open; then the outcome is written with
a row in the delivery log. A scheduler that dies mid-send leaves the delivery to be tried again
when the lease runs out: receivers see a webhook at least once, and its ``id`` tells a repeat.
"""

from __future__ import annotations

import random
import smtplib
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx2 as httpx
from sqlalchemy import select

from coldpledge.audit.snapshot import snapshot
from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.notify.messages import (
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    email_message,
    sign,
)
from coldpledge.notify.models import (
    DUE,
    Channel,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    WebhookSubscription,
)
from coldpledge.notify.retry import next_delay
from coldpledge.parties.policy import SYSTEM
from coldpledge.uow import UnitOfWork

USER_AGENT = "coldpledge-webhooks/1"
# How long a claim keeps other schedulers off a delivery, beyond the send's own timeout.
LEASE_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class Claimed:
    """What the sender needs, copied out of the claiming transaction."""

    id: int
    channel: Channel
    target: str
    kind: str
    payload: bytes
    secret: str | None
    attempt: int


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    reply: str | None
    duration_ms: int


def deliver_due(
    database: Database, settings: Settings, now: datetime, *, rng: random.Random | None = None
) -> dict[str, int]:
    """Send every delivery due at ``now`` (up to ``delivery_batch``); how many were sent, failed
    (to be tried again) and given up."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
    counts = {"sent": 0, "failed": 0, "given_up": 0}
    for _ in range(settings.delivery_batch):
        claimed = _claim(database, settings, now)
        if claimed is None:
            break
        outcome = _send(claimed, settings)
        status = _settle(database, settings, claimed, outcome, now, rng)
        counts[status.value] += 1
    return counts


def _claim(database: Database, settings: Settings, now: datetime) -> Claimed | None:
    channels = [Channel.WEBHOOK] + ([Channel.EMAIL] if settings.smtp_host else [])
    lease = (
        timedelta(seconds=max(settings.webhook_timeout_seconds, settings.smtp_timeout_seconds)) + LEASE_MARGIN
    )
    with UnitOfWork(database.write_session) as uow:
        row = uow.session.execute(
            select(Delivery, WebhookSubscription.secret)
            .outerjoin(WebhookSubscription, WebhookSubscription.id == Delivery.subscription_id)
            .where(
                Delivery.status.in_(DUE),
                Delivery.next_attempt_at <= now,
                Delivery.channel.in_(channels),
            )
            .order_by(Delivery.next_attempt_at, Delivery.id)
            .limit(1)
            .with_for_update(of=Delivery, skip_locked=True)
        ).first()
        if row is None:
            return None
        delivery, secret = row
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease
        claimed = Claimed(
            delivery.id,
            delivery.channel,
            delivery.target,
            delivery.kind,
            delivery.payload,
            secret,
            delivery.attempts,
        )
        uow.commit()
    return claimed


def _send(claimed: Claimed, settings: Settings) -> Outcome:
    started = time.monotonic()
    try:
        if claimed.channel is Channel.WEBHOOK:
            code, reply, ok = _post(claimed, settings)
        else:
            code, reply, ok = _mail(claimed, settings)
    except smtplib.SMTPResponseException as exc:
        code, reply, ok = exc.smtp_code, _text(exc.smtp_error), False
    except (httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
        code, reply, ok = None, f"{type(exc).__name__}: {exc}", False
    return Outcome(ok, code, reply[:500] if reply else reply, int((time.monotonic() - started) * 1000))


def _post(claimed: Claimed, settings: Settings) -> tuple[int, str | None, bool]:
    timestamp = int(utcnow().timestamp())
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: claimed.kind,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(claimed.secret or "", timestamp, claimed.payload),
    }
    # Redirects are not followed: the signed body goes to the address its organisation gave.
    with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
        response = client.post(claimed.target, content=claimed.payload, headers=headers)
    ok = 200 <= response.status_code < 300
    return response.status_code, None if ok else response.text[:200], ok


def _mail(claimed: Claimed, settings: Settings) -> tuple[int, str | None, bool]:
    assert settings.smtp_host is not None  # only claimed when a server is configured
    message = email_message(claimed.payload, sender=settings.smtp_from)
    timeout = settings.smtp_timeout_seconds
    smtp: smtplib.SMTP
    if settings.smtp_tls == "tls":
        smtp = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_user, password)
        # Step by step rather than send_message, to keep the server's answer to the message.
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.mail(settings.smtp_from)
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
        code, reply = smtp.rcpt(str(message["To"]))
        if code not in (250, 251):
            raise smtplib.SMTPResponseException(code, reply)
        code, reply = smtp.data(message.as_bytes())  # raises SMTPDataError unless 250
    return code, _text(reply), True


def _text(reply: Any) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _settle(
    database: Database,
    settings: Settings,
    claimed: Claimed,
    outcome: Outcome,
    now: datetime,
    rng: random.Random,
) -> DeliveryStatus:
    with UnitOfWork(database.write_session, clock=lambda: now) as uow:
        delivery = uow.session.get_one(Delivery, claimed.id, with_for_update=True)
        before = snapshot(delivery)
        uow.session.add(
            DeliveryAttempt(
                delivery_id=delivery.id,
                at=now,
                ok=outcome.ok,
                status_code=outcome.status_code,
                reply=outcome.reply,
                duration_ms=outcome.duration_ms,
            )
        )
        if outcome.ok:
            delivery.status = DeliveryStatus.SENT
            delivery.sent_at = now
            delivery.next_attempt_at = None
            delivery.last_error = None
        else:
            delivery.last_error = _error(outcome)
            if claimed.attempt >= settings.delivery_max_attempts:
                delivery.status = DeliveryStatus.GIVEN_UP
                delivery.next_attempt_at = None
                related = [delivery.about]
                if delivery.subscription_id is not None:
                    related.append(f"webhook:{delivery.subscription_id}")
                if delivery.user_id is not None:
                    related.append(f"user:{delivery.user_id}")
                uow.record(SYSTEM, "delivery.give_up", delivery, before=before, related=related)
            else:
                delivery.status = DeliveryStatus.FAILED
                delivery.next_attempt_at = now + next_delay(
                    claimed.attempt,
                    base_seconds=settings.delivery_backoff_base_seconds,
                    cap_seconds=settings.delivery_backoff_max_seconds,
                    rng=rng,
                )
        uow.commit()
        return delivery.status


def _error(outcome: Outcome) -> str:
    if outcome.status_code is None:
        return (outcome.reply or "no answer")[:500]
    return f"{outcome.status_code} {outcome.reply or ''}".strip()[:500]
