"""What a report holds: plain dataclasses, filled by ``service`` and drawn by ``pdf`` and ``excel``.

Money is integer fen, weights integer grams, ratios basis points, times aware UTC (shown on the
warehouses' clock); labels of states and kinds are already in the report's language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

# --- daily supervision report (监管日报) --------------------------------------------------------


@dataclass(frozen=True)
class RoomDay:
    code: str
    name: str
    band_low_c: float
    band_high_c: float
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    out_of_band_minutes: float | None
    mkt_c: float | None
    completeness: float  # share of the expected readings received, 0..1
    devices: int


@dataclass(frozen=True)
class AlertLine:
    id: int
    rule: str
    severity: str
    status: str
    room: str
    triggered_at: datetime
    resolved_at: datetime | None
    detail: str


@dataclass(frozen=True)
class WorkOrderLine:
    id: int
    title: str
    severity: str
    status: str
    room: str
    opened_at: datetime
    resolve_by: datetime
    finished_at: datetime | None  # closed or cancelled
    finished: bool  # as the report is made


@dataclass(frozen=True)
class OperationLine:
    id: int
    kind: str  # the code (inbound, outbound, ...)
    kind_label: str
    lot: str
    room: str
    performed_at: datetime
    net_g: int | None
    cartons: int | None
    weigh_ticket_no: str


@dataclass(frozen=True)
class OperationTotal:
    kind: str
    kind_label: str
    count: int
    net_g: int
    cartons: int


@dataclass(frozen=True)
class SealLine:
    number: str
    target: str
    sealed_at: datetime
    removed_at: datetime | None
    removal_reason: str


@dataclass(frozen=True)
class CheckpointLine:
    origin: str
    tree_size: int
    root_hash: str  # hex
    key_name: str
    key_id: str  # hex, the 4 bytes of the signature line
    signed_at: datetime
    cosignatures: int


@dataclass(frozen=True)
class DailyReport:
    warehouse_code: str
    warehouse_name: str
    business_date: date
    start: datetime
    end: datetime
    generated_at: datetime
    rooms: list[RoomDay]
    alerts_raised: list[AlertLine]
    alerts_resolved: list[AlertLine]
    work_orders_opened: list[WorkOrderLine]
    work_orders_closed: list[WorkOrderLine]
    work_orders_overdue: list[WorkOrderLine]
    operations: list[OperationLine]
    operation_totals: list[OperationTotal]
    seals_applied: list[SealLine]
    seals_removed: list[SealLine]
    seals_in_place: list[SealLine]
    checkpoint: CheckpointLine | None


# --- portfolio report (资产组合报告) -------------------------------------------------------------


@dataclass(frozen=True)
class FacilityLine:
    code: str
    borrower: str
    status: str
    risk_state: str
    limit_fen: int
    exposure_fen: int | None  # None: never valued by the report's date
    collateral_value_fen: int | None
    ltv_bp: int | None
    valued_on: date | None
    open_margin_calls: int


@dataclass(frozen=True)
class PortfolioTotals:
    facilities: int
    limit_fen: int
    exposure_fen: int
    collateral_value_fen: int
    ltv_bp: int | None
    open_margin_calls: int
    risk_states: dict[str, int] = field(default_factory=dict)  # label: facilities


@dataclass(frozen=True)
class PortfolioReport:
    bank_name: str
    business_date: date
    generated_at: datetime
    facilities: list[FacilityLine]
    totals: PortfolioTotals


# --- evidence certificate (存证证书) -------------------------------------------------------------


@dataclass(frozen=True)
class CertificateEntry:
    index: int
    leaf_hash: str  # hex
    type: str
    subject: str
    at: str
    disclosed: bool


@dataclass(frozen=True)
class Certificate:
    package_sha256: str
    package_name: str
    subject: str
    refs: list[str]
    origin: str
    created_at: str
    tree_size: int
    root_hash: str
    log_key_name: str
    log_key_id: str
    log_vkey: str
    witnesses: list[tuple[str, datetime]]
    witness_keys: int
    timestamps: list[tuple[str, datetime]]
    entries: list[CertificateEntry]
    not_in_checkpoint: int
    checks: int
    generated_at: datetime
