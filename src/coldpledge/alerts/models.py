"""Alerts, the rules' condition states, work orders and what people add to them.

One live alert per (rule, subject) and one live alert-response work order per alert are enforced
by partial unique indexes (see the migration), so concurrent ingest workers cannot raise the same
condition twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from coldpledge.alerts.lifecycle import (
    AlertStatus,
    ConditionState,
    Severity,
    WorkOrderStatus,
    WorkOrderType,
)
from coldpledge.db import Base, JSONDocument, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_

LIVE_ALERT_SQL = "status IN ('pending', 'open', 'acknowledged')"
LIVE_RESPONSE_SQL = "alert_id IS NOT NULL AND status NOT IN ('closed', 'cancelled')"


class Alert(Base):
    """An incident raised by a rule on a subject (a room, a device, a lot, a receipt, a facility)."""

    __tablename__ = "alerts"
    __permission__ = "alert"
    __label__ = N_("alert")
    __subject_type__ = "alert"
    __table_args__ = (
        Index(
            "uq_alerts_one_live_per_rule_subject",
            "rule",
            "subject",
            unique=True,
            sqlite_where=text(LIVE_ALERT_SQL),
            postgresql_where=text(LIVE_ALERT_SQL),
        ),
        Index("ix_alerts_status_severity", "status", "severity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100))
    severity: Mapped[Severity] = mapped_column(choice_column(Severity, "alert_severity"))
    condition: Mapped[ConditionState] = mapped_column(choice_column(ConditionState, "alert_condition"))
    status: Mapped[AlertStatus] = mapped_column(choice_column(AlertStatus, "alert_status"))
    # Event time of the reading or event that raised it, and that reading or event itself.
    triggered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    detail: Mapped[str] = mapped_column(Text)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), index=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"), index=True)
    virtual_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("virtual_warehouses.id"), index=True)
    # A credit facility's alert (LTV, margin call, stale price): its bank and borrower see it.
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    first_transition_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_transition_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # How often the condition came back soon after clearing; past a limit the alert is flapping
    # and stays one alert instead of a storm of new ones.
    flips: Mapped[int] = mapped_column(Integer, default=0)
    flapping: Mapped[bool] = mapped_column(default=False)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def subject_ref(self) -> str:
        return f"alert:{self.id}"


class RuleConditionState(Base):
    """The rules engine's memory for one (rule, subject): how long a condition has held, what it
    last saw. Kept in the database so a restart loses no pending duration."""

    __tablename__ = "rule_condition_states"
    __table_args__ = (UniqueConstraint("rule", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(100))
    state: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleRoomClock(Base):
    """Which judgement of a room's readings came last: the ingest path gives the room a new random
    ``version`` in each transaction that judges its readings, so a worker whose memory of the
    room's rule states (and of the readings behind them) carries another version knows it is stale
    (``rules.service.ReadingJudge``). Random rather than counted: a judgement rolled back must not
    leave a version that a later one could give again."""

    __tablename__ = "rule_room_clocks"

    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"), primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuleSettingsChange(Base):
    """One row per statement (a row, on SQLite) that changed what a room's reading rules are judged
    by: its policy, goods pledged in it, seals, release windows or devices. Written by triggers
    (migration 0015), whatever code makes the change, so that a worker's cache of room settings
    (``rules.service.ReadingJudge``) knows when to read them again: the count of these rows plus
    ``RuleSettingsPruned.pruned`` grows with every committed change, whatever order they commit in;
    the sum of the random tokens tells a change rolled back from another made instead."""

    __tablename__ = "rule_settings_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)  # random, below 2**40


class RuleSettingsPruned(Base):
    """How many ``rule_settings_changes`` rows the scheduler has deleted, and the sum of their tokens
    (modulo 2**62): one row, counted up in the same transaction as the deletion, so the figures the
    workers read never go back."""

    __tablename__ = "rule_settings_pruned"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    pruned: Mapped[int] = mapped_column(BigInteger, default=0)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)


class WorkOrder(Base):
    """工单: a task with a named assignee, a deadline from its severity and an escalation chain."""

    __tablename__ = "work_orders"
    __permission__ = "work_order"
    __label__ = N_("work order")
    __subject_type__ = "work_order"
    __table_args__ = (
        Index(
            "uq_work_orders_one_live_per_alert",
            "alert_id",
            unique=True,
            sqlite_where=text(LIVE_RESPONSE_SQL),
            postgresql_where=text(LIVE_RESPONSE_SQL),
        ),
        Index("ix_work_orders_status_next_escalation_at", "status", "next_escalation_at"),
        CheckConstraint("escalation_level >= 0", name="escalation_level_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[WorkOrderType] = mapped_column(choice_column(WorkOrderType, "work_order_type"))
    status: Mapped[WorkOrderStatus] = mapped_column(
        choice_column(WorkOrderStatus, "work_order_status"), index=True
    )
    severity: Mapped[Severity] = mapped_column(choice_column(Severity, "work_order_severity"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), index=True)
    subject: Mapped[str | None] = mapped_column(String(100))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), index=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"), index=True)
    virtual_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("virtual_warehouses.id"), index=True)
    assignee_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # 0: the assignee has been told; 1: the supervision manager too; 2: the bank's risk officer too.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledge_by: Mapped[datetime] = mapped_column(UTCDateTime)
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str | None] = mapped_column(Text)
    reviewer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    review_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's own convention

    @property
    def subject_ref(self) -> str:
        return f"work_order:{self.id}"


class WorkOrderComment(Base):
    """A note on a work order, with photos named by the SHA-256 of their bytes."""

    __tablename__ = "work_order_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    author_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkOrderCheckIn(Base):
    """Where the person doing the work said they were, and how far that is from the warehouse."""

    __tablename__ = "work_order_check_ins"
    __table_args__ = (
        CheckConstraint("latitude_e6 BETWEEN -90000000 AND 90000000", name="latitude_in_range"),
        CheckConstraint("longitude_e6 BETWEEN -180000000 AND 180000000", name="longitude_in_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    work_order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    latitude_e6: Mapped[int] = mapped_column(Integer)
    longitude_e6: Mapped[int] = mapped_column(Integer)
    accuracy_m: Mapped[int | None] = mapped_column(Integer)
    # None when the warehouse has no coordinates on record.
    distance_m: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
