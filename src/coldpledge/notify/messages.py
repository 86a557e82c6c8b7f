"""What goes over the wire: the webhook body and its signature, the e-mail's subject and text.

Pure functions, no I/O. The signature scheme (README, "Webhooks") follows Stripe's: the receiver
recomputes ``HMAC-SHA256(secret, f"{timestamp}.{body}")`` over the raw body and compares.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from coldpledge.i18n import translations

SIGNATURE_HEADER = "X-Coldpledge-Signature"
TIMESTAMP_HEADER = "X-Coldpledge-Timestamp"
EVENT_HEADER = "X-Coldpledge-Event"


@dataclass(frozen=True)
class Notice:
    """One notification as the caller described it."""

    kind: str
    subject_ref: str
    title: str
    body: str
    severity: str
    at: datetime


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def webhook_body(notice: Notice, *, event_id: str, organisation_id: int) -> bytes:
    """The JSON a subscriber receives. ``id`` stays the same across retries, so a receiver that
    answered too slowly the first time can tell a repeat from a new event."""
    return encode(
        {
            "id": event_id,
            "type": notice.kind,
            "subject": notice.subject_ref,
            "severity": notice.severity,
            "title": notice.title,
            "body": notice.body,
            "at": notice.at.isoformat(),
            "organisation": organisation_id,
        }
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256 of "timestamp.body">``, the value of the signature header."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signature_matches(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does (and the tests do): constant-time comparison of the header with the
    expected value."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def email_document(notice: Notice, *, to: str) -> bytes:
    """The e-mail to ``to``, Chinese first and English after. Titles and bodies are English source
    strings from the catalogue when the caller used one; a text without a Chinese translation
    appears once."""
    chinese = translations("zh_Hans_CN")
    title_zh = chinese.ugettext(notice.title)
    body_zh = chinese.ugettext(notice.body)
    subject = notice.title if title_zh == notice.title else f"{title_zh} / {notice.title}"
    about = f"{notice.subject_ref} · {notice.severity} · {notice.at.isoformat()}"
    parts = [body_zh] if body_zh == notice.body else [body_zh, notice.body]
    text = "\n\n".join([*parts, about])
    return encode({"to": to, "subject": subject, "text": text})


def email_message(document: bytes, *, sender: str) -> EmailMessage:
    """The stored e-mail document as a UTF-8 MIME message (the subject RFC 2047-encoded)."""
    fields = json.loads(document)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = fields["to"]
    message["Subject"] = fields["subject"]
    message.set_content(fields["text"], charset="utf-8")
    return message
