"""Telemetry housekeeping: partitions ahead of time, and retention per table (settings)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete

from coldpledge.config import Settings
from coldpledge.db import Database, utcnow
from coldpledge.iot.models import DeadLetter, Reading, RollupHour, RollupMinute, TelemetryMessage
from coldpledge.iot.partitions import drop_partitions_before, ensure_partitions


def maintain(database: Database, settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """Create the coming days' partitions and drop or delete what is older than its retention."""
    now = now or utcnow()
    raw_cutoff = now - timedelta(days=settings.retention_raw_days)
    done: dict[str, Any] = {}
    with database.engine.begin() as connection:
        done["partitions_created"] = ensure_partitions(
            connection, now=now, days_ahead=settings.partition_days_ahead
        )
        done["partitions_dropped"] = drop_partitions_before(connection, raw_cutoff)
        # What is left older than the cutoff: SQLite's single table, or PostgreSQL's default partition.
        done["raw_deleted"] = connection.execute(delete(Reading).where(Reading.ts < raw_cutoff)).rowcount
        done["messages_deleted"] = connection.execute(
            delete(TelemetryMessage).where(TelemetryMessage.received_at < raw_cutoff)
        ).rowcount
        for name, model, days in (
            ("1m_deleted", RollupMinute, settings.retention_1m_days),
            ("1h_deleted", RollupHour, settings.retention_1h_days),
        ):
            done[name] = connection.execute(
                delete(model).where(model.bucket < now - timedelta(days=days))
            ).rowcount
        done["dead_letters_deleted"] = connection.execute(
            delete(DeadLetter).where(
                DeadLetter.received_at < now - timedelta(days=settings.retention_dead_letter_days)
            )
        ).rowcount
    return done
