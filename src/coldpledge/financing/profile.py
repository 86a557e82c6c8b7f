"""A borrower's profile for the banks that lend to it (issue 6 §7): what its goods and its loans
did over the last 90 days, each figure with the ids of the records it was counted from. There is
no score: the bank reads the figures and the records behind them.

Who may read it: the platform operator, the borrower itself, and a bank with a facility (even an
application) of the borrower. Figures of goods cover all the borrower's lots, whoever they are
pledged to (that is the business the bank lends to); figures of loans (facility alerts, margin
calls, days overdue) cover only the facilities the reader sees: a bank reads its own.

- Inventory turnover = goods weighed out ÷ average stock over the window. The stock of each lot
  the borrower owns today is rebuilt from its operations: a weighing sets it, an outbound lowers
  it, a split moves it to the parts; the average is that of the 90 end-of-day totals (China
  Standard Time). A lot endorsed to the borrower counts from its inbound, one it endorsed away not
  at all (lot ownership has no history of its own).
- Alerts: those that fired (not withdrawn while pending) with a trigger time in the window, on a
  room while one of the borrower's lots had stock in it, or on one of the facilities read.
- Stocktakes: every count of the borrower's lots in the window, with its variance.
- Margin calls issued in the window on the facilities read: counted, cured, expired.
- Days overdue: the overdue spells of the facilities' drawdowns running at some time in the
  window; current = the longest still running on the business date.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from coldpledge.alerts.lifecycle import AlertStatus
from coldpledge.alerts.models import Alert
from coldpledge.calendar import BUSINESS_TZ, business_date
from coldpledge.errors import N_, NotFound
from coldpledge.financing.collateral import BP
from coldpledge.financing.models import OUTSTANDING, Drawdown, Facility
from coldpledge.financing.mtm_models import MarginCall, MarginCallStatus
from coldpledge.inventory.models import Lot, Operation, OperationKind
from coldpledge.parties.access import restrict
from coldpledge.parties.models import Organisation
from coldpledge.parties.policy import PartyType, Principal

WINDOW_DAYS = 90
# An alert that fired; a pending one withdrawn before firing is closed without being resolved.
FIRED = or_(
    Alert.status.in_((AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED)),
    and_(Alert.status == AlertStatus.CLOSED, Alert.resolved_at.is_not(None)),
)
STOCK_MOVES = (OperationKind.WEIGH, OperationKind.OUTBOUND, OperationKind.SPLIT)


@dataclass(frozen=True)
class Window:
    first_day: date
    last_day: date

    @classmethod
    def ending(cls, last_day: date, days: int = WINDOW_DAYS) -> Window:
        return cls(last_day - timedelta(days=days - 1), last_day)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def start(self) -> datetime:
        return day_start(self.first_day)

    @property
    def end(self) -> datetime:
        return day_start(self.last_day + timedelta(days=1))

    def day_ends(self) -> list[datetime]:
        return [day_start(self.first_day + timedelta(days=n + 1)) for n in range(self.days)]


def day_start(day: date) -> datetime:
    """Midnight at the start of a business date (China Standard Time), as an aware datetime."""
    return datetime.combine(day, time(), tzinfo=BUSINESS_TZ)


@dataclass(frozen=True)
class Turnover:
    outbound_g: int
    outbound_operation_ids: list[int]
    average_stock_g: int
    opening_stock_g: int
    closing_stock_g: int
    lot_ids: list[int]
    stock_operation_ids: list[int]  # every weighing, outbound and split the stock path rests on

    @property
    def turnover_bp(self) -> int | None:
        """Outbound ÷ average stock, rounded down; None without stock."""
        return self.outbound_g * BP // self.average_stock_g if self.average_stock_g else None


@dataclass(frozen=True)
class AlertCount:
    rule: str
    severity: str
    alert_ids: list[int]

    @property
    def count(self) -> int:
        return len(self.alert_ids)


@dataclass(frozen=True)
class StocktakeLine:
    operation_id: int
    lot_id: int
    performed_at: datetime
    expected_g: int | None
    counted_g: int | None
    variance_bp: int | None
    within_tolerance: bool | None


@dataclass(frozen=True)
class OverdueSpell:
    drawdown_id: int
    drawdown_code: str
    facility_id: int
    overdue_since: date
    until: date | None  # None: still overdue
    days: int


@dataclass(frozen=True)
class MarginCallCount:
    """Margin calls issued in the window, by their status now."""

    margin_call_ids: list[int]
    by_status: dict[str, list[int]]

    def of(self, status: MarginCallStatus) -> list[int]:
        return self.by_status.get(status.value, [])


@dataclass(frozen=True)
class BorrowerProfile:
    borrower: Organisation
    window: Window
    facility_ids: list[int]
    turnover: Turnover
    room_ids: list[int]
    alerts: list[AlertCount]
    stocktakes: list[StocktakeLine]
    margin_calls: MarginCallCount
    overdue: list[OverdueSpell]

    @property
    def current_overdue(self) -> OverdueSpell | None:
        running = [spell for spell in self.overdue if spell.until is None]
        return max(running, key=lambda spell: spell.days, default=None)

    @property
    def longest_overdue(self) -> OverdueSpell | None:
        return max(self.overdue, key=lambda spell: spell.days, default=None)


def borrower_profile(session: Session, principal: Principal, org_id: int, on: date) -> BorrowerProfile:
    borrower = _readable_borrower(session, principal, org_id)
    window = Window.ending(on)
    facilities = list(
        session.scalars(
            restrict(principal, "view", Facility)
            .where(Facility.borrower_org_id == borrower.id)
            .order_by(Facility.id)
        )
    )
    facility_ids = [facility.id for facility in facilities]
    lots = list(session.scalars(select(Lot).where(Lot.owner_org_id == borrower.id).order_by(Lot.id)))
    stock = _StockPath(session, lots, window)
    return BorrowerProfile(
        borrower=borrower,
        window=window,
        facility_ids=facility_ids,
        turnover=stock.turnover(session),
        room_ids=sorted({lot.room_id for lot in lots if stock.held(lot.id)}),
        alerts=_alerts(session, lots, stock, facilities),
        stocktakes=_stocktakes(session, [lot.id for lot in lots], window),
        margin_calls=_margin_calls(session, facility_ids, window),
        overdue=_overdue(session, facility_ids, window),
    )


def _readable_borrower(session: Session, principal: Principal, org_id: int) -> Organisation:
    borrower = session.get(Organisation, org_id)
    lends = (
        principal.party_type is PartyType.BANK
        and principal.can("facility:view")
        and session.scalar(
            select(
                exists().where(Facility.bank_org_id == principal.org_id, Facility.borrower_org_id == org_id)
            )
        )
    )
    if (
        borrower is None
        or borrower.party_type is not PartyType.BORROWER
        or not (principal.is_operator or principal.org_id == org_id or lends)
    ):
        raise NotFound(N_("The {thing} {ident} was not found."), thing=N_("borrower"), ident=org_id)
    return borrower


class _StockPath:
    """Each lot's stock through time, rebuilt from its weighings, outbounds and splits."""

    def __init__(self, session: Session, lots: list[Lot], window: Window) -> None:
        self.window = window
        self.lot_ids = [lot.id for lot in lots]
        by_code = {lot.code: lot.id for lot in lots}
        # A lot carved out of another's (the stock left behind when a receipt was endorsed away)
        # starts with the weight its parent's split gave it.
        parents = {lot.parent_lot_id for lot in lots if lot.parent_lot_id} - set(self.lot_ids)
        operations = session.scalars(
            select(Operation)
            .where(
                or_(
                    and_(Operation.lot_id.in_(self.lot_ids), Operation.kind.in_(STOCK_MOVES)),
                    and_(Operation.lot_id.in_(parents), Operation.kind == OperationKind.SPLIT),
                ),
                Operation.performed_at < window.end,
            )
            .order_by(Operation.performed_at, Operation.id)
        ).all()
        # (when, lot, stock after): the path of every lot, in time order.
        self.changes: list[tuple[datetime, int, int]] = []
        self.operation_ids: list[int] = []
        level: dict[int, int] = defaultdict(int)
        for operation in operations:
            assert operation.lot_id is not None
            lot_id, at = operation.lot_id, operation.performed_at
            self.operation_ids.append(operation.id)
            if operation.kind is OperationKind.WEIGH:
                level[lot_id] = operation.net_g or 0
            elif operation.kind is OperationKind.OUTBOUND:
                level[lot_id] -= operation.net_g or 0
            else:
                parts = (operation.details or {}).get("lots", [])
                level[lot_id] -= sum(int(part["net_g"]) for part in parts)
                for part in parts:
                    if part["lot"] in by_code:
                        level[by_code[part["lot"]]] = int(part["net_g"])
                        self.changes.append((at, by_code[part["lot"]], int(part["net_g"])))
            if lot_id in parents:
                continue
            self.changes.append((at, lot_id, level[lot_id]))
        self.intervals: dict[int, list[tuple[datetime, datetime | None]]] = defaultdict(list)
        self._intervals()

    def _intervals(self) -> None:
        """When each lot had stock: [from, to) spans, the last open if it still has."""
        since: dict[int, datetime] = {}
        for at, lot_id, after in self.changes:
            if after > 0 and lot_id not in since:
                since[lot_id] = at
            elif after <= 0 and lot_id in since:
                self.intervals[lot_id].append((since.pop(lot_id), at))
        for lot_id, at in since.items():
            self.intervals[lot_id].append((at, None))

    def held(self, lot_id: int) -> bool:
        """Whether the lot had stock at some time in the window."""
        return any(
            start < self.window.end and (end is None or end > self.window.start)
            for start, end in self.intervals[lot_id]
        )

    def had_stock(self, lot_id: int, moment: datetime) -> bool:
        return any(start <= moment and (end is None or moment < end) for start, end in self.intervals[lot_id])

    def total_at(self, moments: list[datetime]) -> list[int]:
        """The total stock at each of ``moments`` (sorted), after every change before it."""
        totals: list[int] = []
        level: dict[int, int] = defaultdict(int)
        total = index = 0
        for moment in moments:
            while index < len(self.changes) and self.changes[index][0] < moment:
                _, lot_id, after = self.changes[index]
                total += after - level[lot_id]
                level[lot_id] = after
                index += 1
            totals.append(total)
        return totals

    def turnover(self, session: Session) -> Turnover:
        window = self.window
        opening, *ends = self.total_at([window.start, *window.day_ends()])
        outbound = session.execute(
            select(Operation.id, Operation.net_g)
            .where(
                Operation.lot_id.in_(self.lot_ids),
                Operation.kind == OperationKind.OUTBOUND,
                Operation.performed_at >= window.start,
                Operation.performed_at < window.end,
            )
            .order_by(Operation.id)
        ).all()
        return Turnover(
            outbound_g=sum(net or 0 for _, net in outbound),
            outbound_operation_ids=[operation_id for operation_id, _ in outbound],
            average_stock_g=sum(ends) // len(ends),
            opening_stock_g=opening,
            closing_stock_g=ends[-1],
            lot_ids=[lot_id for lot_id in self.lot_ids if self.held(lot_id)],
            stock_operation_ids=self.operation_ids,
        )


def _alerts(
    session: Session, lots: list[Lot], stock: _StockPath, facilities: list[Facility]
) -> list[AlertCount]:
    window = stock.window
    rooms: dict[int, list[int]] = defaultdict(list)
    for lot in lots:
        if stock.held(lot.id):
            rooms[lot.room_id].append(lot.id)
    subjects = [facility.subject_ref for facility in facilities]
    found = session.scalars(
        select(Alert)
        .where(
            FIRED,
            Alert.triggered_at >= window.start,
            Alert.triggered_at < window.end,
            or_(Alert.room_id.in_(list(rooms)), Alert.subject.in_(subjects)),
        )
        .order_by(Alert.id)
    ).all()
    counted: dict[tuple[str, str], list[int]] = defaultdict(list)
    for alert in found:
        on_goods = alert.room_id in rooms and any(
            stock.had_stock(lot_id, alert.triggered_at) for lot_id in rooms[alert.room_id]
        )
        if on_goods or alert.subject in subjects:
            counted[(alert.rule, alert.severity.value)].append(alert.id)
    return [AlertCount(rule, severity, ids) for (rule, severity), ids in sorted(counted.items())]


def _stocktakes(session: Session, lot_ids: Iterable[int], window: Window) -> list[StocktakeLine]:
    found = session.scalars(
        select(Operation)
        .where(
            Operation.lot_id.in_(list(lot_ids)),
            Operation.kind == OperationKind.STOCKTAKE,
            Operation.performed_at >= window.start,
            Operation.performed_at < window.end,
        )
        .order_by(Operation.performed_at, Operation.id)
    ).all()
    return [
        StocktakeLine(
            operation_id=op.id,
            lot_id=op.lot_id or 0,
            performed_at=op.performed_at,
            expected_g=op.expected_g,
            counted_g=op.counted_g,
            variance_bp=op.variance_bp,
            within_tolerance=op.within_tolerance,
        )
        for op in found
    ]


def _margin_calls(session: Session, facility_ids: list[int], window: Window) -> MarginCallCount:
    found = session.execute(
        select(MarginCall.id, MarginCall.status)
        .where(
            MarginCall.facility_id.in_(facility_ids),
            MarginCall.business_date >= window.first_day,
            MarginCall.business_date <= window.last_day,
        )
        .order_by(MarginCall.id)
    ).all()
    by_status: dict[str, list[int]] = defaultdict(list)
    for call_id, status in found:
        by_status[status.value].append(call_id)
    return MarginCallCount([call_id for call_id, _ in found], dict(by_status))


def _overdue(session: Session, facility_ids: list[int], window: Window) -> list[OverdueSpell]:
    found = session.scalars(
        select(Drawdown)
        .where(
            Drawdown.facility_id.in_(facility_ids),
            Drawdown.overdue_since.is_not(None),
            Drawdown.overdue_since <= window.last_day,
        )
        .order_by(Drawdown.id)
    ).all()
    spells = []
    for drawdown in found:
        assert drawdown.overdue_since is not None
        running = drawdown.status in OUTSTANDING
        until = None if running else business_date(drawdown.closed_at or drawdown.status_changed_at)
        if until is not None and until < window.first_day:
            continue
        spells.append(
            OverdueSpell(
                drawdown_id=drawdown.id,
                drawdown_code=drawdown.code,
                facility_id=drawdown.facility_id,
                overdue_since=drawdown.overdue_since,
                until=until,
                days=((until or window.last_day) - drawdown.overdue_since).days,
            )
        )
    return spells
