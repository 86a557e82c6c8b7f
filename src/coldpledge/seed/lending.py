"""The demo's lending: 上海鲜丰 borrows from 浙商银行 and 天津海润 from 宁波银行, against the receipts
they pledge, through the real financing services.

Each borrower applies for a credit line; the bank approves it with its terms, records the signed
credit agreement, pledge contract and tripartite supervision agreement, and activates it. As each
pledge is accepted the bank attaches the receipt; the borrower asks for a drawdown, the bank
approves it within the limit and the pledge rate of the collateral at the day's price and pays it
out. The steps are called from the story (``scenario``) on their days.

浙商银行 lends at LPR + 85 bp (ACT/360) at a pledge rate of 65 %, with warning, margin-call and
liquidation lines at 70 %, 75 % and 85 % and five business days to cure a margin call; 宁波银行
at a fixed 4.20 % (ACT/365) at 60 %, with lines at 70 %, 75 % and 80 %, three business days to
cure, and 10 % cash margin before the first drawdown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from coldpledge.financing import collateral_links, facilities, loans, margin
from coldpledge.financing.daycount import DayCount
from coldpledge.financing.interest import RateKind
from coldpledge.financing.models import ContractKind, Drawdown, Facility, FacilityCollateral
from coldpledge.financing.mtm_models import MarginCall, MarginCallStatus
from coldpledge.financing.position import position_of
from coldpledge.financing.schemas import (
    CollateralAttachIn,
    ContractIn,
    DrawdownRequestIn,
    FacilityApplyIn,
    FacilityTermsIn,
    MarginDepositIn,
    RepaymentIn,
)
from coldpledge.receipts.models import Pledge
from coldpledge.receipts.schemas import NoteIn
from coldpledge.seed.identifiers import digits
from coldpledge.seed.media import certificate_pdf
from coldpledge.seed.scene import Scene

YUAN = 100
# A loan runs for six months.
LOAN_DAYS = 182


@dataclass(frozen=True)
class CreditLine:
    borrower: str
    limit_fen: int
    terms: FacilityTermsIn
    agreement: str  # the credit agreement's number, {year} filled in
    pledge_contract: str
    supervision_agreement: str  # the tripartite agreement of the virtual warehouse
    bank_prefix: str  # of the bank's transaction references


LINES: dict[str, CreditLine] = {
    "bank": CreditLine(
        borrower="borrower",
        limit_fen=3_000_000 * YUAN,
        terms=FacilityTermsIn(
            pledge_rate_bp=6500,
            warning_line_bp=7000,
            margin_call_line_bp=7500,
            liquidation_line_bp=8500,
            cure_business_days=5,
            rate_kind=RateKind.LPR_SPREAD,
            lpr_bp=300,
            spread_bp=85,
            day_count=DayCount.ACT_360,
            penalty_multiplier_bp=15000,
            note="同意授信：一年期 LPR + 85 bp，质押率 65%，警戒线 70%，追加担保线 75%（5 个工作日内补足），"
            "平仓线 85%",
        ),
        agreement="浙商杭分流贷字 {year} 第 0817 号",
        pledge_contract="浙商杭分质字 {year} 第 0817 号",
        supervision_agreement="ZCJG-{year}-SH-031",
        bank_prefix="ZSYH",
    ),
    "bank2": CreditLine(
        borrower="borrower2",
        limit_fen=1_500_000 * YUAN,
        terms=FacilityTermsIn(
            pledge_rate_bp=6000,
            warning_line_bp=7000,
            margin_call_line_bp=7500,
            liquidation_line_bp=8000,
            cure_business_days=3,
            rate_kind=RateKind.FIXED,
            rate_bp=420,
            day_count=DayCount.ACT_365,
            penalty_multiplier_bp=15000,
            note="同意授信：固定利率 4.20%，质押率 60%，首笔用款前存入 10% 保证金",
        ),
        agreement="甬银沪授字 {year} 第 1123 号",
        pledge_contract="甬银沪质字 {year} 第 1123 号",
        supervision_agreement="ZCJG-{year}-TJ-017",
        bank_prefix="NBCB",
    ),
}


def credit_agreement(scene: Scene, bank: str) -> str:
    """The credit agreement each bank lends under, signed the year the story starts."""
    return LINES[bank].agreement.format(year=scene.clock.start.year)


def apply(scene: Scene, bank: str, *, day: int, at: str, note: str) -> None:
    """The borrower applies for a one-year line starting the next day."""
    line = LINES[bank]
    scene.clock.on(day, at)
    start = scene.clock.date_of(day + 1)
    facility = facilities.apply(
        scene.uow(),
        scene.who[line.borrower],
        FacilityApplyIn(
            bank_org_id=scene.orgs[bank],
            limit_fen=line.limit_fen,
            start_date=start,
            expiry_date=start + timedelta(days=365),
            note=note,
        ),
    )
    scene.facilities[bank] = facility.id


def open_line(scene: Scene, bank: str, *, day: int, at: str) -> None:
    """The bank approves on its terms, records the three signed contracts and activates the line."""
    line, clock = LINES[bank], scene.clock
    facility_id, officer = scene.facilities[bank], scene.who[bank]
    clock.on(day, at)
    facilities.approve(scene.uow(), officer, facility_id, line.terms)
    year = clock.start.year
    lender, borrower = scene.org_names[bank], scene.org_names[line.borrower]
    contracts = (
        (ContractKind.CREDIT_AGREEMENT, line.agreement, f"{lender}；{borrower}"),
        (ContractKind.PLEDGE_CONTRACT, line.pledge_contract, f"{lender}；{borrower}"),
        (
            ContractKind.SUPERVISION_AGREEMENT,
            line.supervision_agreement,
            f"{lender}；{borrower}；{scene.org_names['supervisor']}；{scene.org_names['keeper']}",
        ),
    )
    for kind, template, parties in contracts:
        clock.later(10)
        number = template.format(year=year)
        facilities.add_contract(
            scene.uow(),
            officer,
            facility_id,
            ContractIn(
                kind=kind,
                number=number,
                signed_on=clock.today,
                parties=parties,
                file_sha256=_signed_copy(kind, number, clock.today.isoformat()),
            ),
        )
    clock.later(15)
    facilities.activate(scene.uow(), officer, facility_id, NoteIn(note="合同已签署并归档，授信生效"))


def _signed_copy(kind: ContractKind, number: str, signed_on: str) -> str:
    """The SHA-256 of the signed contract's scan: a stand-in one-page PDF, one per contract."""
    pdf = certificate_pdf(
        kind.label, [f"No. {number}", f"Signed on {signed_on}", "Signed and sealed by the parties."]
    )
    return hashlib.sha256(pdf).hexdigest()


def attach(scene: Scene, bank: str, keys: list[str], *, day: int, at: str) -> None:
    """The bank attaches receipts pledged to it as the line's collateral."""
    scene.clock.on(day, at)
    for key in keys:
        collateral_links.attach(
            scene.uow(),
            scene.who[bank],
            scene.facilities[bank],
            CollateralAttachIn(receipt_id=scene.receipts[key]),
        )
        scene.clock.later(3)


def deposit(scene: Scene, bank: str, amount_fen: int, *, day: int, at: str, note: str) -> None:
    """Cash margin received into the line's margin account."""
    scene.clock.on(day, at)
    margin.deposit(
        scene.uow(),
        scene.who[bank],
        scene.facilities[bank],
        MarginDepositIn(amount_fen=amount_fen, reference=_reference(scene, bank), note=note),
    )


def draw(
    scene: Scene,
    bank: str,
    key: str,
    *,
    amount_fen: int | None,
    purpose: str,
    day: int,
    times: tuple[str, str, str],
) -> None:
    """The borrower asks, the bank approves, then pays out, at the three ``times`` of ``day``.
    ``amount_fen`` None: what the line can carry now, in whole ten thousands of yuan."""
    line, clock = LINES[bank], scene.clock
    facility_id = scene.facilities[bank]
    requested, approved, paid = times
    clock.on(day, requested)
    amount = (
        amount_fen if amount_fen is not None else headroom_fen(scene, bank) // (10_000 * YUAN) * 10_000 * YUAN
    )
    drawdown = loans.request(
        scene.uow(),
        scene.who[line.borrower],
        facility_id,
        DrawdownRequestIn(
            amount_fen=amount, maturity_date=clock.today + timedelta(days=LOAN_DAYS), purpose=purpose
        ),
    )
    scene.drawdowns[key] = drawdown.id
    clock.on(day, approved)
    loans.approve(
        scene.uow(),
        scene.who[bank],
        drawdown.id,
        NoteIn(note="按当日盯市价格核定，用款后 LTV 在质押率以内，同意"),
    )
    clock.on(day, paid)
    loans.disburse(
        scene.uow(),
        scene.who[bank],
        drawdown.id,
        NoteIn(note=f"已划付至借款人结算账户，流水号 {_reference(scene, bank)}"),
    )


def headroom_fen(scene: Scene, bank: str) -> int:
    """What the line can carry now (its limit and the pledge rate of the collateral today)."""
    with scene.database.reading() as session:
        facility = session.get_one(Facility, scene.facilities[bank])
        return position_of(session, facility, scene.clock.today).headroom_fen


def repay(scene: Scene, bank: str, key: str, amount_fen: int | None, *, day: int, at: str, note: str) -> int:
    """The borrower pays ``amount_fen`` (None: everything owed) on the drawdown; returns the amount."""
    scene.clock.on(day, at)
    drawdown_id = scene.drawdowns[key]
    if amount_fen is None:
        with scene.database.reading() as session:
            drawdown = session.get_one(Drawdown, drawdown_id)
            amount_fen = (
                drawdown.principal_outstanding_fen + drawdown.interest_due_fen + drawdown.penalty_due_fen
            )
    loans.repay(
        scene.uow(),
        scene.who[LINES[bank].borrower],
        drawdown_id,
        RepaymentIn(amount_fen=amount_fen, reference=_reference(scene, bank), note=note),
    )
    return amount_fen


def detach(scene: Scene, bank: str, key: str, *, day: int, at: str) -> None:
    """The bank lets a receipt go from the line's collateral (checked against the pledge rate)."""
    scene.clock.on(day, at)
    facility_id = scene.facilities[bank]
    with scene.database.reading() as session:
        link_id = session.scalars(
            select(FacilityCollateral.id)
            .join(Pledge, Pledge.id == FacilityCollateral.pledge_id)
            .where(
                FacilityCollateral.facility_id == facility_id,
                FacilityCollateral.detached_at.is_(None),
                Pledge.receipt_id == scene.receipts[key],
            )
        ).one()
    collateral_links.detach(scene.uow(), scene.who[bank], facility_id, link_id)


def drawdown_code(scene: Scene, key: str) -> str:
    with scene.database.reading() as session:
        return session.get_one(Drawdown, scene.drawdowns[key]).code


def open_margin_call(scene: Scene, bank: str) -> str | None:
    """The code of the line's open margin call, if it has one."""
    with scene.database.reading() as session:
        return session.scalars(
            select(MarginCall.code).where(
                MarginCall.facility_id == scene.facilities[bank], MarginCall.status == MarginCallStatus.OPEN
            )
        ).first()


def _reference(scene: Scene, bank: str) -> str:
    return f"{LINES[bank].bank_prefix}{scene.clock.today:%Y%m%d}{digits(scene.rng, 8)}"
