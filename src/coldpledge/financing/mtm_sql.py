"""The daily mark on PostgreSQL, set-based: every facility's valuation and lines in four statements.

1. Take the advisory lock of the business date (a second run waits here, then finds every
   facility marked), and lock the facilities in scope (``FOR UPDATE``, in id order), so no
   drawdown, repayment or deposit changes what is being judged until the run commits.
2. Insert one daily valuation per facility with its exposure (``ON CONFLICT DO NOTHING`` on the
   partial unique index: a facility marked already is skipped), returning the new ones.
3. Insert their lines: the live collateral links, followed through receipt splits (a recursive
   CTE), joined to pledges, receipts, lots and the day's prices (``prices_for``, passed in as
   arrays), classified and valued in SQL with exact numeric arithmetic.
4. Sum the lines into the valuations and compute LTV (rounded up), then read the valuations back
   with what the decision needs (the risk state, lines, an open call's deadline, a waiver).

The rules and messages are ``valuation``'s (and ``collateral_sql``'s, which the intraday and
SQLite path use); tests run the same cases on both paths and compare them line by line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from coldpledge.financing.collateral_sql import COUNTED_RECEIPTS
from coldpledge.financing.models import OUTSTANDING
from coldpledge.financing.prices.service import prices_for
from coldpledge.financing.risk import RiskState
from coldpledge.financing.valuation import (
    NO_PRICE,
    PLEDGE_NOT_ACTIVE,
    QUALITY_HOLD,
    RECEIPT_NOT_COUNTED,
    STALE_PRICE,
)
from coldpledge.inventory.models import Commodity, LotStatus, QualityStatus
from coldpledge.receipts.lifecycle import ReceiptStatus
from coldpledge.receipts.models import PledgeStatus

# pg_advisory_xact_lock(MARK_LOCK, day): one run per business date at a time.
MARK_LOCK = 0x4D544D  # "MTM"

LOCK_FACILITIES = """
SELECT id FROM facilities
WHERE status IN ('active', 'suspended', 'expired') AND risk_state <> 'disposed'
ORDER BY id
FOR UPDATE
"""

INSERT_VALUATIONS = """
WITH owed AS (
    SELECT facility_id,
           sum(principal_outstanding_fen) AS principal,
           sum(interest_posted_fen - interest_paid_fen + penalty_posted_fen - penalty_paid_fen) AS interest
    FROM drawdowns
    WHERE facility_id = ANY(CAST(:ids AS integer[])) AND status = ANY(CAST(:outstanding AS text[]))
    GROUP BY facility_id
)
INSERT INTO valuations (
    facility_id, business_date, kind, valued_at, principal_outstanding_fen, interest_due_fen,
    cash_margin_fen, exposure_fen, market_value_fen, collateral_value_fen, lines, unpriced_lines,
    pledge_rate_bp, warning_line_bp, margin_call_line_bp, liquidation_line_bp,
    risk_before, risk_after, risk_reason, held
)
SELECT f.id, :day, 'daily', :now, coalesce(o.principal, 0), coalesce(o.interest, 0), f.cash_margin_fen,
       greatest(0, coalesce(o.principal, 0) + coalesce(o.interest, 0) - f.cash_margin_fen), 0, 0, 0, 0,
       f.pledge_rate_bp, f.warning_line_bp, f.margin_call_line_bp, f.liquidation_line_bp,
       f.risk_state, f.risk_state, 'unchanged', false
FROM facilities f LEFT JOIN owed o ON o.facility_id = f.id
WHERE f.id = ANY(CAST(:ids AS integer[]))
ON CONFLICT (facility_id, business_date) WHERE kind = 'daily' DO NOTHING
RETURNING id, facility_id
"""

INSERT_LINES = """
WITH RECURSIVE marked AS (
    SELECT * FROM unnest(CAST(:vids AS integer[]), CAST(:fids AS integer[])) AS m(valuation_id, facility_id)
),
chain AS (
    SELECT m.valuation_id, l.id AS link_id, l.pledge_id, f.bank_org_id, f.haircut_bp
    FROM marked m
    JOIN facility_collateral l ON l.facility_id = m.facility_id AND l.detached_at IS NULL
    JOIN facilities f ON f.id = m.facility_id
  UNION ALL
    SELECT c.valuation_id, c.link_id, s.id, c.bank_org_id, c.haircut_bp
    FROM chain c
    JOIN pledges p ON p.id = c.pledge_id AND p.status = 'superseded'
    JOIN pledges s ON s.predecessor_pledge_id = p.id
),
prices AS (
    SELECT * FROM unnest(
        CAST(:p_commodity AS integer[]), CAST(:p_price AS bigint[]), CAST(:p_observation AS integer[]),
        CAST(:p_date AS date[]), CAST(:p_observations AS text[]), CAST(:p_stale AS boolean[]),
        CAST(:p_age AS integer[])
    ) AS pr(commodity_id, price, observation_id, price_date, observation_ids, stale, days_old)
),
facts AS (
    SELECT c.valuation_id, c.link_id, p.id AS pledge_id, r.id AS receipt_id, lot.id AS lot_id,
           lot.commodity_id, r.quantity_g, c.haircut_bp, p.status AS pledge_status,
           r.status AS receipt_status, pr.price, pr.observation_id, pr.price_date, pr.observation_ids,
           pr.stale, pr.days_old,
           CASE
               WHEN p.status <> 'active' OR p.pledgee_org_id <> c.bank_org_id THEN 'pledge'
               WHEN r.status <> ALL(CAST(:counted_receipts AS text[])) THEN 'receipt'
               WHEN lot.status = :on_hold OR lot.quality_status <> :passed THEN 'quality'
               WHEN pr.price IS NULL THEN 'no_price'
               WHEN pr.stale THEN 'stale'
               ELSE 'counted'
           END AS verdict
    FROM chain c
    JOIN pledges p ON p.id = c.pledge_id
    JOIN receipts r ON r.id = p.receipt_id
    JOIN lots lot ON lot.id = r.lot_id
    LEFT JOIN prices pr ON pr.commodity_id = lot.commodity_id
    WHERE NOT (
        p.status = 'superseded' AND EXISTS (SELECT 1 FROM pledges s WHERE s.predecessor_pledge_id = p.id)
    )
)
INSERT INTO valuation_lines (
    valuation_id, link_id, pledge_id, receipt_id, lot_id, commodity_id, quantity_g, status,
    price_fen_per_t, price_observation_id, price_date, observation_ids, stale, haircut_bp,
    market_value_fen, value_fen, reason, params
)
SELECT valuation_id, link_id, pledge_id, receipt_id, lot_id, commodity_id, quantity_g,
       CASE verdict WHEN 'counted' THEN 'counted' WHEN 'no_price' THEN 'unpriced' WHEN 'stale' THEN 'unpriced'
                    ELSE 'ineligible' END,
       price, observation_id, price_date, CAST(observation_ids AS jsonb), coalesce(stale, false), haircut_bp,
       coalesce(div(CAST(quantity_g AS numeric) * price, 1000000), 0),
       CASE WHEN verdict = 'counted'
            THEN div(CAST(quantity_g AS numeric) * price * (10000 - haircut_bp), 10000000000) ELSE 0 END,
       CASE verdict WHEN 'pledge' THEN :pledge_message WHEN 'receipt' THEN :receipt_message
                    WHEN 'quality' THEN :quality_message WHEN 'no_price' THEN :no_price_message
                    WHEN 'stale' THEN :stale_message END,
       CASE verdict
           WHEN 'pledge'
               THEN jsonb_build_object('status_label', CAST(:pledge_labels AS jsonb) ->> pledge_status)
           WHEN 'receipt'
               THEN jsonb_build_object('status_label', CAST(:receipt_labels AS jsonb) ->> receipt_status)
           WHEN 'quality' THEN CAST('{}' AS jsonb)
           WHEN 'no_price' THEN jsonb_build_object('day', CAST(:day_text AS text))
           WHEN 'stale' THEN jsonb_build_object('days', days_old)
       END
FROM facts
"""

SUM_LINES = """
UPDATE valuations v
SET market_value_fen = s.market, collateral_value_fen = s.value, lines = s.n, unpriced_lines = s.unpriced,
    ltv_bp = CASE WHEN v.exposure_fen = 0 THEN 0 WHEN s.value = 0 THEN NULL
                  ELSE div(CAST(v.exposure_fen AS numeric) * 10000 + s.value - 1, s.value) END,
    held = (s.unpriced > 0 AND v.exposure_fen > 0),
    risk_reason = CASE WHEN s.unpriced > 0 AND v.exposure_fen > 0 THEN NULL ELSE 'unchanged' END
FROM (
    SELECT m.id, coalesce(sum(l.market_value_fen), 0) AS market, coalesce(sum(l.value_fen), 0) AS value,
           count(l.id) AS n, count(l.id) FILTER (WHERE l.status = 'unpriced') AS unpriced
    FROM unnest(CAST(:vids AS integer[])) AS m(id)
    LEFT JOIN valuation_lines l ON l.valuation_id = m.id
    GROUP BY m.id
) s
WHERE v.id = s.id
"""

READ_BACK = """
SELECT v.id, v.facility_id, v.exposure_fen, v.ltv_bp, v.lines, v.unpriced_lines,
       f.risk_state, f.pledge_rate_bp, f.warning_line_bp, f.margin_call_line_bp, f.liquidation_line_bp,
       f.cure_business_days, mc.deadline,
       (SELECT max(w.waived_until) FROM margin_calls w WHERE w.facility_id = f.id AND w.status = 'waived')
FROM valuations v
JOIN facilities f ON f.id = v.facility_id
LEFT JOIN margin_calls mc ON mc.facility_id = f.id AND mc.status = 'open'
WHERE v.id = ANY(CAST(:vids AS integer[]))
ORDER BY v.facility_id
"""


@dataclass(frozen=True)
class MarkedRow:
    """A facility valued by the run, with what its decision needs."""

    valuation_id: int
    facility_id: int
    exposure_fen: int
    ltv_bp: int | None
    lines: int
    unpriced_lines: int
    risk_state: RiskState
    pledge_rate_bp: int
    warning_line_bp: int
    margin_call_line_bp: int
    liquidation_line_bp: int
    cure_business_days: int
    deadline: date | None
    waived_until: date | None


@dataclass(frozen=True)
class Marked:
    facilities: int  # in scope (locked)
    rows: list[MarkedRow]  # valued by this run


def value_all(session: Session, business_date: date, now: datetime) -> Marked:
    """Steps 1-4 in the caller's transaction (which it must commit)."""
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key, :day)"), {"key": MARK_LOCK, "day": business_date.toordinal()}
    )
    facility_ids = list(session.scalars(text(LOCK_FACILITIES)))
    if not facility_ids:
        return Marked(0, [])
    inserted = session.execute(
        text(INSERT_VALUATIONS),
        {
            "ids": facility_ids,
            "outstanding": [status.value for status in OUTSTANDING],
            "day": business_date,
            "now": now,
        },
    ).all()
    if not inserted:
        return Marked(len(facility_ids), [])
    valuation_ids = [row[0] for row in inserted]
    session.execute(
        text(INSERT_LINES),
        {
            "vids": valuation_ids,
            "fids": [row[1] for row in inserted],
            **_prices(session, business_date),
            "counted_receipts": [status.value for status in COUNTED_RECEIPTS],
            "on_hold": LotStatus.ON_HOLD.value,
            "passed": QualityStatus.PASSED.value,
            "pledge_message": PLEDGE_NOT_ACTIVE,
            "receipt_message": RECEIPT_NOT_COUNTED,
            "quality_message": QUALITY_HOLD,
            "no_price_message": NO_PRICE,
            "stale_message": STALE_PRICE,
            "pledge_labels": json.dumps({status.value: status.label for status in PledgeStatus}),
            "receipt_labels": json.dumps({status.value: status.label for status in ReceiptStatus}),
            "day_text": business_date.isoformat(),
        },
    )
    session.execute(text(SUM_LINES), {"vids": valuation_ids})
    rows = [
        MarkedRow(
            valuation_id=row[0],
            facility_id=row[1],
            exposure_fen=row[2],
            ltv_bp=row[3],
            lines=row[4],
            unpriced_lines=row[5],
            risk_state=RiskState(row[6]),
            pledge_rate_bp=row[7],
            warning_line_bp=row[8],
            margin_call_line_bp=row[9],
            liquidation_line_bp=row[10],
            cure_business_days=row[11],
            deadline=row[12],
            waived_until=row[13],
        )
        for row in session.execute(text(READ_BACK), {"vids": valuation_ids})
    ]
    return Marked(len(facility_ids), rows)


def _prices(session: Session, business_date: date) -> dict[str, Any]:
    """The day's price of every commodity (``prices_for``), as arrays for ``unnest``."""
    prices = prices_for(session, session.scalars(select(Commodity.id)).all(), business_date)
    used = [prices[key] for key in sorted(prices)]
    return {
        "p_commodity": [price.commodity_id for price in used],
        "p_price": [price.price_fen_per_t for price in used],
        "p_observation": [price.observation_id for price in used],
        "p_date": [price.price_date for price in used],
        "p_observations": [json.dumps(list(price.observation_ids)) for price in used],
        "p_stale": [price.stale for price in used],
        "p_age": [price.business_days_old for price in used],
    }
