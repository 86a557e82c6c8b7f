"""Timestamping the log's checkpoints at the configured RFC 3161 authority, and the tokens kept.

What a token proves, and how it is checked, is in ``rfc3161``. Timestamping is best effort: when the
authority is down, ``stamp_latest`` logs it and stores nothing; the next round asks again. No
transaction or lock is held while the authority is asked.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.evidence.log import latest_checkpoint
from coldpledge.evidence.models import EvidenceTimestamp
from coldpledge.evidence.rfc3161 import TimestampError, request_token, verify_token

log = logging.getLogger(__name__)


class TimestampNotConfigured(TimestampError):
    """An authority is set but nothing to check its tokens against: stamping would keep tokens
    nobody has checked."""


# --- stamping the log's checkpoints -----------------------------------------------------------


def trusted_roots(settings: Settings) -> bytes:
    """The PEM roots the configured authority's tokens must chain to."""
    if settings.tsa_roots_file is None:
        raise TimestampNotConfigured(
            f"COLDPLEDGE_TSA_URL is set ({settings.tsa_url}) but COLDPLEDGE_TSA_ROOTS_FILE is not: "
            "set it to the PEM file of the authority's root certificate, or unset COLDPLEDGE_TSA_URL"
        )
    path = Path(settings.tsa_roots_file)
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise TimestampNotConfigured(
            f"cannot read COLDPLEDGE_TSA_ROOTS_FILE {path}: {exc.strerror or exc}"
        ) from exc
    try:
        x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TimestampNotConfigured(
            f"COLDPLEDGE_TSA_ROOTS_FILE {path} holds no PEM certificate ({exc})"
        ) from exc
    return pem


def tokens_of(session: Session, checkpoint_id: int) -> list[EvidenceTimestamp]:
    """The tokens kept for a checkpoint, oldest first."""
    return list(
        session.scalars(
            select(EvidenceTimestamp)
            .where(EvidenceTimestamp.checkpoint_id == checkpoint_id)
            .order_by(EvidenceTimestamp.id)
        )
    )


def _stamped(session: Session, checkpoint_id: int) -> bool:
    found = session.scalar(
        select(EvidenceTimestamp.id).where(EvidenceTimestamp.checkpoint_id == checkpoint_id).limit(1)
    )
    return found is not None


def _too_soon(session: Session, settings: Settings) -> bool:
    last = session.scalar(select(func.max(EvidenceTimestamp.received_at)))
    return last is not None and datetime.now(UTC) - last < timedelta(seconds=settings.tsa_interval_seconds)


def stamp_latest(database: Database, settings: Settings) -> EvidenceTimestamp | None:
    """Timestamp the latest checkpoint at the configured authority, unless it already has a token.

    Returns the token kept, or None when there was nothing to do or the authority failed (logged;
    the next call tries again). Refuses (``TimestampNotConfigured``) when an authority is set
    without the roots to check its tokens.
    """
    url = settings.tsa_url
    if not url:
        return None
    roots = trusted_roots(settings)
    with database.reading() as session:
        checkpoint = latest_checkpoint(session)
        if checkpoint is None or _stamped(session, checkpoint.id) or _too_soon(session, settings):
            return None
        checkpoint_id, size, note = checkpoint.id, checkpoint.tree_size, checkpoint.note
    data = note.encode("utf-8")
    try:
        token, nonce = request_token(url, data)
        gen_time = verify_token(token, data, roots, nonce=nonce)
    except TimestampError as exc:
        log.warning("checkpoint of size %d is not timestamped yet; will retry: %s", size, exc)
        return None
    with database.write_session() as session:
        # Another worker may have stamped it while we waited; one token per checkpoint is enough.
        if _stamped(session, checkpoint_id):
            return None
        stamp = EvidenceTimestamp(
            checkpoint_id=checkpoint_id,
            authority=url,
            token=token,
            gen_time=gen_time,
            received_at=datetime.now(UTC),
        )
        session.add(stamp)
        session.commit()
    log.info("checkpoint of size %d timestamped by %s at %s", size, url, gen_time.isoformat())
    return stamp
