"""Raising alerts in tests the way the ingest path does: rule transitions applied in a unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.alerts.service import AlertScope, apply_transitions
from coldpledge.db import utcnow
from coldpledge.rules.conditions import Transition
from coldpledge.uow import UnitOfWork


def change(
    state: str = "firing",
    *,
    rule: str = "temperature_band",
    subject: str = "room:1",
    severity: str = "critical",
    at: datetime | None = None,
    value_mc: int = -14_800,
    flapping: bool = False,
) -> Transition:
    moment = at or utcnow()
    trigger: dict[str, Any] = {
        "device": 7,
        "metric": "temperature",
        "ts": moment.isoformat(),
        "value_mc": value_mc,
    }
    return Transition(
        rule=rule,
        subject=subject,
        state=state,  # type: ignore[arg-type]
        severity=severity,
        at=moment,
        trigger=trigger,
        detail=f"{value_mc / 1000:.1f} °C",
        flapping=flapping,
    )


def apply(uow: Callable[[], UnitOfWork], room_id: int, *changes: Transition) -> list[Alert]:
    """Apply transitions on a room in one committed unit of work; the alerts touched."""
    with uow() as unit:
        alerts = apply_transitions(unit, list(changes), scope=AlertScope(room_id=room_id))
        unit.commit()
        return alerts


def raise_alert(
    uow: Callable[[], UnitOfWork], room_id: int, severity: str = "critical", rule: str = "temperature_band"
) -> int:
    """A firing alert on the room; its id."""
    return apply(uow, room_id, change(rule=rule, subject=f"room:{room_id}", severity=severity))[0].id


def work_order_of(session: Callable[[], Session], alert_id: int) -> int:
    """The id of the alert's response work order."""
    with session() as reader:
        found = reader.scalar(select(WorkOrder.id).where(WorkOrder.alert_id == alert_id))
    assert found is not None, f"alert {alert_id} has no work order"
    return found
