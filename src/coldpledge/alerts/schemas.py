"""Request and response bodies of the alerts and work-orders API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coldpledge.alerts.lifecycle import (
    AlertStatus,
    ConditionState,
    Severity,
    SlaState,
    WorkOrderStatus,
    WorkOrderType,
)
from coldpledge.db import MAX_ID
from coldpledge.inventory.schemas import Strict

SHA256_PATTERN = r"^[0-9a-f]{64}$"


class NoteIn(Strict):
    note: str | None = Field(default=None, max_length=500)


class ReasonIn(Strict):
    reason: str = Field(min_length=2, max_length=500)


class ResolveIn(Strict):
    resolution: str = Field(min_length=2, max_length=2000, description="What was found and done")


class CloseIn(Strict):
    review_note: str | None = Field(
        default=None, max_length=2000, description="The reviewer's finding; required for critical work orders"
    )


class AssignIn(Strict):
    user_id: int = Field(strict=True, gt=0, le=MAX_ID)
    note: str | None = Field(default=None, max_length=500)


class CommentIn(Strict):
    text: str = Field(min_length=1, max_length=2000)
    attachments: list[Annotated[str, Field(pattern=SHA256_PATTERN)]] = Field(
        default_factory=list, max_length=20, description="SHA-256 of photos uploaded to this work order"
    )


class CheckInIn(Strict):
    latitude_e6: int = Field(
        strict=True, ge=-90_000_000, le=90_000_000, description="Latitude in micro-degrees"
    )
    longitude_e6: int = Field(
        strict=True, ge=-180_000_000, le=180_000_000, description="Longitude in micro-degrees"
    )
    accuracy_m: int | None = Field(strict=True, default=None, ge=0, le=100_000)


class WorkOrderCreateIn(Strict):
    """A work order people raise themselves: a stocktake, a patrol, a device to repair."""

    kind: WorkOrderType
    severity: Severity = Severity.MINOR
    title: str = Field(min_length=2, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    room_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)
    virtual_warehouse_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)
    subject: str | None = Field(default=None, max_length=100, pattern=r"^[a-z_]+:[A-Za-z0-9_.:-]+$")
    assignee_user_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID)

    @field_validator("kind")
    @classmethod
    def _not_alert_response(cls, kind: WorkOrderType) -> WorkOrderType:
        if kind is WorkOrderType.ALERT_RESPONSE:
            raise ValueError("alert-response work orders are opened by their alert")
        return kind


class AlertOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule: str
    subject: str
    severity: Severity
    condition: ConditionState
    status: AlertStatus
    triggered_at: datetime
    trigger: dict[str, Any]
    detail: str
    room_id: int | None
    warehouse_id: int | None
    virtual_warehouse_id: int | None
    facility_id: int | None = None
    first_transition_at: datetime
    last_transition_at: datetime
    flips: int
    flapping: bool
    acknowledged_at: datetime | None
    acknowledged_by_user_id: int | None
    resolved_at: datetime | None
    resolved_by_user_id: int | None
    resolution: str | None
    closed_at: datetime | None
    closed_by_user_id: int | None
    work_order_id: int | None = None
    allowed_actions: list[str] = Field(default_factory=list)


class HistoryEntryOut(BaseModel):
    id: int
    at: datetime
    action: str
    actor: str
    actor_user_id: int | None
    reason: str | None
    data: Any = None


class AlertDetailOut(AlertOut):
    history: list[HistoryEntryOut] = Field(default_factory=list)


class CommentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    author_user_id: int | None
    text: str
    attachments: list[str]
    at: datetime


class CheckInOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int | None
    latitude_e6: int
    longitude_e6: int
    accuracy_m: int | None
    distance_m: int | None = Field(description="From the warehouse; null when its coordinates are unknown")
    at: datetime


class WorkOrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: WorkOrderType
    status: WorkOrderStatus
    severity: Severity
    title: str
    description: str | None
    alert_id: int | None
    subject: str | None
    room_id: int | None
    warehouse_id: int | None
    virtual_warehouse_id: int | None
    assignee_user_id: int | None
    escalation_level: int
    opened_at: datetime
    acknowledge_by: datetime
    resolve_by: datetime
    acknowledged_at: datetime | None
    acknowledged_by_user_id: int | None
    started_at: datetime | None
    resolved_at: datetime | None
    resolved_by_user_id: int | None
    resolution: str | None
    reviewer_user_id: int | None
    review_note: str | None
    closed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    sla: SlaState | None = None
    allowed_actions: list[str] = Field(default_factory=list)


class WorkOrderDetailOut(WorkOrderOut):
    comments: list[CommentOut] = Field(default_factory=list)
    check_ins: list[CheckInOut] = Field(default_factory=list)
    history: list[HistoryEntryOut] = Field(default_factory=list)


class AlertCountsOut(BaseModel):
    """Live alerts (open or acknowledged) by severity."""

    minor: int = 0
    major: int = 0
    critical: int = 0
    total: int = 0


class WorkOrderCountsOut(BaseModel):
    """Work orders not yet closed or cancelled, by where they stand against their SLA."""

    on_time: int = 0
    at_risk: int = 0
    overdue: int = 0
    total: int = 0
