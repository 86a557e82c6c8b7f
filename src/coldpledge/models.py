"""Every table, imported in one place so the metadata (and Alembic) sees them all."""

from __future__ import annotations

from coldpledge.alerts.models import (
    Alert,
    RuleConditionState,
    RuleRoomClock,
    RuleSettingsChange,
    RuleSettingsPruned,
    WorkOrder,
    WorkOrderCheckIn,
    WorkOrderComment,
)
from coldpledge.audit.models import AuditEvent
from coldpledge.db import Base
from coldpledge.evidence.models import (
    EvidenceCheckpoint,
    EvidenceCosignature,
    EvidenceLeaf,
    EvidenceRef,
    EvidenceTile,
    EvidenceTimestamp,
    EvidenceWitness,
)
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.financing.disposal_models import Disposal, DisposalAllocation, WriteOff
from coldpledge.financing.models import (
    Drawdown,
    Facility,
    FacilityCollateral,
    FacilityContract,
    InterestAccrual,
    MarginDeposit,
    Repayment,
)
from coldpledge.financing.mtm_models import MarginCall, MarginCallEvent, Valuation, ValuationLine
from coldpledge.financing.prices.models import PriceObservation, PriceSeries
from coldpledge.inventory.models import Attachment, AttachmentLink, Commodity, Lot, Operation, Seal
from coldpledge.iot.models import (
    DeadLetter,
    Device,
    IngestChunk,
    LatestReading,
    Reading,
    RollupHour,
    RollupMinute,
    TelemetryMessage,
)
from coldpledge.notify.models import Delivery, DeliveryAttempt, InboxItem, WebhookSubscription
from coldpledge.parties.models import LoginThrottle, Organisation, User, WebSession
from coldpledge.receipts.models import Pledge, Receipt, ReceiptNotation, Release
from coldpledge.warehouses.models import (
    ReleaseWindow,
    Room,
    SupervisionPolicy,
    VirtualWarehouse,
    VirtualWarehouseStaff,
    Warehouse,
)

metadata = Base.metadata

__all__ = [
    "Alert",
    "Attachment",
    "AttachmentLink",
    "AuditEvent",
    "Commodity",
    "DeadLetter",
    "Delivery",
    "DeliveryAttempt",
    "Device",
    "Disposal",
    "DisposalAllocation",
    "Drawdown",
    "EvidenceCheckpoint",
    "EvidenceCosignature",
    "EvidenceLeaf",
    "EvidenceOutbox",
    "EvidenceRef",
    "EvidenceTile",
    "EvidenceTimestamp",
    "EvidenceWitness",
    "Facility",
    "FacilityCollateral",
    "FacilityContract",
    "InboxItem",
    "IngestChunk",
    "InterestAccrual",
    "LatestReading",
    "LoginThrottle",
    "Lot",
    "MarginCall",
    "MarginCallEvent",
    "MarginDeposit",
    "Operation",
    "Organisation",
    "Pledge",
    "PriceObservation",
    "PriceSeries",
    "Reading",
    "Receipt",
    "ReceiptNotation",
    "Release",
    "ReleaseWindow",
    "Repayment",
    "RollupHour",
    "RollupMinute",
    "Room",
    "RuleConditionState",
    "RuleRoomClock",
    "RuleSettingsChange",
    "RuleSettingsPruned",
    "Seal",
    "SupervisionPolicy",
    "TelemetryMessage",
    "User",
    "Valuation",
    "ValuationLine",
    "VirtualWarehouse",
    "VirtualWarehouseStaff",
    "Warehouse",
    "WebSession",
    "WebhookSubscription",
    "WorkOrder",
    "WorkOrderCheckIn",
    "WorkOrderComment",
    "WriteOff",
    "metadata",
]
