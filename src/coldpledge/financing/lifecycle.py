"""The state machines of a facility and of a drawdown (DESIGN §7, domain §6.2), as data.

    facility: applied → approved → active ⇄ suspended → expired → closed
              applied | approved → rejected | withdrawn
    drawdown: requested → approved → active → repaid | overdue → defaulted → in_recovery → ...
              requested | approved → rejected | withdrawn

A step names who takes it: the facility's bank or its borrower. Steps the daily job takes (a
drawdown falling overdue, a facility expiring) are in ``accrual``; recovery and write-off come
with disposal.
"""

from __future__ import annotations

from dataclasses import dataclass

from coldpledge.choices import Choice, present
from coldpledge.errors import N_, IllegalTransition
from coldpledge.financing.models import DrawdownStatus, FacilityStatus
from coldpledge.uow import CONSTRAINT_MESSAGES

F = FacilityStatus
D = DrawdownStatus


@present(
    {
        "approve": N_("Approve"),
        "reject": N_("Reject"),
        "withdraw": N_("Withdraw"),
        "activate": N_("Activate"),
        "suspend": N_("Suspend"),
        "resume": N_("Resume"),
        "expire": N_("Expire"),
        "close": N_("Close"),
    }
)
class FacilityAction(Choice):
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    ACTIVATE = "activate"
    SUSPEND = "suspend"
    RESUME = "resume"
    EXPIRE = "expire"
    CLOSE = "close"


@present(
    {
        "approve": N_("Approve"),
        "reject": N_("Reject"),
        "withdraw": N_("Withdraw"),
        "disburse": N_("Disburse"),
        "repay": N_("Repay"),
    }
)
class DrawdownAction(Choice):
    APPROVE = "approve"
    REJECT = "reject"
    WITHDRAW = "withdraw"
    DISBURSE = "disburse"
    REPAY = "repay"


BANK = "bank"
BORROWER = "borrower"


@dataclass(frozen=True)
class Move:
    sources: frozenset[str]
    to: str | None  # None: the state stays (a repayment), or the service decides
    party: str | tuple[str, ...]


FACILITY_MOVES: dict[FacilityAction, Move] = {
    FacilityAction.APPROVE: Move(frozenset({F.APPLIED}), F.APPROVED, BANK),
    FacilityAction.REJECT: Move(frozenset({F.APPLIED, F.APPROVED}), F.REJECTED, BANK),
    FacilityAction.WITHDRAW: Move(frozenset({F.APPLIED, F.APPROVED}), F.WITHDRAWN, BORROWER),
    FacilityAction.ACTIVATE: Move(frozenset({F.APPROVED}), F.ACTIVE, BANK),
    FacilityAction.SUSPEND: Move(frozenset({F.ACTIVE}), F.SUSPENDED, BANK),
    FacilityAction.RESUME: Move(frozenset({F.SUSPENDED}), F.ACTIVE, BANK),
    FacilityAction.EXPIRE: Move(frozenset({F.ACTIVE, F.SUSPENDED}), F.EXPIRED, BANK),
    FacilityAction.CLOSE: Move(frozenset({F.ACTIVE, F.SUSPENDED, F.EXPIRED}), F.CLOSED, BANK),
}

DRAWDOWN_MOVES: dict[DrawdownAction, Move] = {
    DrawdownAction.APPROVE: Move(frozenset({D.REQUESTED}), D.APPROVED, BANK),
    DrawdownAction.REJECT: Move(frozenset({D.REQUESTED, D.APPROVED}), D.REJECTED, BANK),
    DrawdownAction.WITHDRAW: Move(frozenset({D.REQUESTED, D.APPROVED}), D.WITHDRAWN, BORROWER),
    DrawdownAction.DISBURSE: Move(frozenset({D.APPROVED}), D.ACTIVE, BANK),
    DrawdownAction.REPAY: Move(
        frozenset({D.ACTIVE, D.OVERDUE, D.DEFAULTED, D.IN_RECOVERY}), None, (BANK, BORROWER)
    ),
}

# Facility states in which collateral, contracts and margin may still change.
LIVE_FACILITY = frozenset({F.APPROVED, F.ACTIVE, F.SUSPENDED, F.EXPIRED})


def facility_actions(status: FacilityStatus) -> list[str]:
    return [action.value for action, move in FACILITY_MOVES.items() if status in move.sources]


def drawdown_actions(status: DrawdownStatus) -> list[str]:
    return [action.value for action, move in DRAWDOWN_MOVES.items() if status in move.sources]


def illegal_facility(status: FacilityStatus, action: FacilityAction) -> IllegalTransition:
    return IllegalTransition(
        N_("The facility is {state_label}: “{action}” is not possible in that state."),
        state=status.value,
        state_label=status.label,
        action=action.label,
        allowed_actions=facility_actions(status),
    )


def illegal_drawdown(status: DrawdownStatus, action: DrawdownAction) -> IllegalTransition:
    return IllegalTransition(
        N_("The drawdown is {state_label}: “{action}” is not possible in that state."),
        state=status.value,
        state_label=status.label,
        action=action.label,
        allowed_actions=drawdown_actions(status),
    )


CONSTRAINT_MESSAGES.update(
    {
        "uq_facility_collateral_one_live_per_pledge": N_(
            "This pledge already secures a facility; detach it there first."
        ),
        "uq_facility_contracts_facility_id_kind_number": N_(
            "A contract of this kind and number is already recorded for the facility."
        ),
        "uq_interest_accruals_drawdown_id_business_date_kind": N_(
            "Interest for this drawdown and day has already been accrued."
        ),
    }
)
# SQLite reports a failed unique index by its columns, not its name.
CONSTRAINT_MESSAGES["facility_collateral.pledge_id"] = CONSTRAINT_MESSAGES[
    "uq_facility_collateral_one_live_per_pledge"
]
CONSTRAINT_MESSAGES["facility_contracts.facility_id"] = CONSTRAINT_MESSAGES[
    "uq_facility_contracts_facility_id_kind_number"
]
CONSTRAINT_MESSAGES["interest_accruals.drawdown_id"] = CONSTRAINT_MESSAGES[
    "uq_interest_accruals_drawdown_id_business_date_kind"
]
