"""Pure shaping of query results into report lines and totals: no session, no I/O."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, time, timedelta

from coldpledge.calendar import BUSINESS_TZ
from coldpledge.evidence.note import NoteError, parse_note, parse_vkey
from coldpledge.evidence.verify import Verification
from coldpledge.reports.model import (
    Certificate,
    CertificateEntry,
    CheckpointLine,
    FacilityLine,
    OperationLine,
    OperationTotal,
    PortfolioTotals,
    SealLine,
    WorkOrderLine,
)

# The goods movements a supervisor reads first; other kinds follow when they happened.
MAIN_OPERATIONS = ("inbound", "outbound", "weigh", "stocktake")


def business_day(day: date) -> tuple[datetime, datetime]:
    """The business date ``day`` on the warehouses' clock (Asia/Shanghai), as an interval."""
    start = datetime.combine(day, time(), tzinfo=BUSINESS_TZ)
    return start, start + timedelta(days=1)


def operation_totals(lines: Iterable[OperationLine], labels: Callable[[str], str]) -> list[OperationTotal]:
    """Count, net weight and cartons per kind: the main kinds always (zero on a quiet day), then
    any other kind that happened, in the order first seen."""
    kinds: dict[str, list[OperationLine]] = {kind: [] for kind in MAIN_OPERATIONS}
    for line in lines:
        kinds.setdefault(line.kind, []).append(line)
    return [
        OperationTotal(
            kind=kind,
            kind_label=labels(kind),
            count=len(found),
            net_g=sum(line.net_g or 0 for line in found),
            cartons=sum(line.cartons or 0 for line in found),
        )
        for kind, found in kinds.items()
    ]


def work_order_sections(
    orders: Iterable[WorkOrderLine], start: datetime, end: datetime, at: datetime
) -> tuple[list[WorkOrderLine], list[WorkOrderLine], list[WorkOrderLine]]:
    """(opened in the day, finished in the day, overdue at ``at``): overdue is still unfinished at
    ``at`` (the day's end, or now for today) and past its resolve-by time."""
    opened, finished, overdue = [], [], []
    for order in orders:
        if start <= order.opened_at < end:
            opened.append(order)
        if order.finished_at is not None and start <= order.finished_at < end:
            finished.append(order)
        unfinished = order.finished_at is None or order.finished_at >= at
        if order.opened_at < at and unfinished and order.resolve_by < at:
            overdue.append(order)
    return opened, finished, overdue


def seal_sections(
    seals: Iterable[SealLine], start: datetime, end: datetime
) -> tuple[list[SealLine], list[SealLine], list[SealLine]]:
    """(applied in the day, removed in the day, in place at the day's end)."""
    applied, removed, in_place = [], [], []
    for seal in seals:
        if start <= seal.sealed_at < end:
            applied.append(seal)
        if seal.removed_at is not None and start <= seal.removed_at < end:
            removed.append(seal)
        if seal.sealed_at < end and (seal.removed_at is None or seal.removed_at >= end):
            in_place.append(seal)
    return applied, removed, in_place


def checkpoint_line(
    note: str, *, tree_size: int, root_hash: bytes, signed_at: datetime, cosignatures: int
) -> CheckpointLine:
    """The log's checkpoint as a report shows it: the first signature line is the log's own."""
    try:
        parsed = parse_note(note)
        origin = parsed.text.split("\n", 1)[0]
        key_name, key_id = parsed.signatures[0].name, parsed.signatures[0].key_id.hex()
    except (NoteError, IndexError):
        origin, key_name, key_id = "", "", ""
    return CheckpointLine(
        origin=origin,
        tree_size=tree_size,
        root_hash=root_hash.hex(),
        key_name=key_name,
        key_id=key_id,
        signed_at=signed_at,
        cosignatures=cosignatures,
    )


def ltv_bp(exposure_fen: int, collateral_value_fen: int) -> int | None:
    """Loan to value in basis points, rounded down; None when nothing stands behind the loan."""
    return exposure_fen * 10_000 // collateral_value_fen if collateral_value_fen else None


def portfolio_totals(lines: Sequence[FacilityLine]) -> PortfolioTotals:
    """Sums over the facilities; the portfolio's LTV is total exposure over total collateral
    value of the facilities valued by the date (never an average of ratios)."""
    exposure = sum(line.exposure_fen or 0 for line in lines)
    value = sum(line.collateral_value_fen or 0 for line in lines)
    return PortfolioTotals(
        facilities=len(lines),
        limit_fen=sum(line.limit_fen for line in lines),
        exposure_fen=exposure,
        collateral_value_fen=value,
        ltv_bp=ltv_bp(exposure, value),
        open_margin_calls=sum(line.open_margin_calls for line in lines),
        risk_states=dict(Counter(line.risk_state for line in lines)),
    )


def certificate(result: Verification, data: bytes, name: str, now: datetime) -> Certificate:
    """What a package that verified proves, from the offline verifier's result."""
    checkpoint = result.checkpoint
    assert result.ok
    assert checkpoint is not None
    assert result.log_key is not None
    log_key = parse_vkey(result.log_key)
    manifest = result.manifest
    return Certificate(
        package_sha256=hashlib.sha256(data).hexdigest(),
        package_name=name,
        subject=str(manifest.get("subject", "")),
        refs=[str(ref) for ref in manifest.get("refs", [])],
        origin=checkpoint.origin,
        created_at=str(manifest.get("created_at", "")),
        tree_size=checkpoint.size,
        root_hash=checkpoint.root.hex(),
        log_key_name=log_key.name,
        log_key_id=log_key.key_id.hex(),
        log_vkey=result.log_key,
        witnesses=list(result.cosigned),
        witness_keys=len(result.witness_keys),
        timestamps=list(result.stamped),
        entries=[
            CertificateEntry(
                index=view.index,
                leaf_hash=view.leaf_hash.hex(),
                type=str(view.record.get("type", "")),
                subject=str(view.record.get("subject", "")),
                at=str(view.record.get("at", "")),
                disclosed=view.disclosed is not None,
            )
            for view in result.entries
        ],
        not_in_checkpoint=len(manifest.get("not_in_checkpoint", [])),
        checks=len(result.passed),
        generated_at=now,
    )
