"""The warehouse-receipt state machine of DESIGN §6, as data. Pure: no I/O.

draft → pending_check → issued → pledge_pending → pledged
pledged → pledged (partial release) | split → children
pledged → issued (discharge) → delivery_pending → cancelled
pledged → in_disposal → cancelled
any active → frozen → previous ; issued|pledged → loss_reported → replaced
"""

from __future__ import annotations

from coldpledge.choices import Choice, present
from coldpledge.errors import N_


@present(
    {
        "draft": N_("Draft"),
        "pending_check": N_("Pending inbound check"),
        "issued": N_("Issued"),
        "pledge_pending": N_("Pledge pending"),
        "pledged": N_("Pledged"),
        "delivery_pending": N_("Delivery pending"),
        "in_disposal": N_("In disposal"),
        "frozen": N_("Frozen"),
        "loss_reported": N_("Loss reported"),
        "cancelled": N_("Cancelled"),
        "replaced": N_("Replaced"),
        "split": N_("Split into new receipts"),
    },
    {
        "draft": "grey",
        "pending_check": "grey",
        "issued": "blue",
        "pledge_pending": "cyan",
        "pledged": "green",
        "delivery_pending": "purple",
        "in_disposal": "red",
        "frozen": "orange",
        "loss_reported": "orange",
        "cancelled": "grey",
        "replaced": "grey",
        "split": "grey",
    },
)
class ReceiptStatus(Choice):
    DRAFT = "draft"
    PENDING_CHECK = "pending_check"
    ISSUED = "issued"
    PLEDGE_PENDING = "pledge_pending"
    PLEDGED = "pledged"
    DELIVERY_PENDING = "delivery_pending"
    IN_DISPOSAL = "in_disposal"
    FROZEN = "frozen"
    LOSS_REPORTED = "loss_reported"
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    SPLIT = "split"


@present(
    {
        "submit": N_("Submit for inbound check"),
        "issue": N_("Issue"),
        "transfer": N_("Transfer"),
        "request_pledge": N_("Request pledge"),
        "withdraw_pledge": N_("Withdraw pledge request"),
        "accept_pledge": N_("Accept pledge"),
        "reject_pledge": N_("Reject pledge"),
        "request_release": N_("Request release"),
        "execute_release": N_("Execute release"),
        "discharge": N_("Discharge pledge"),
        "request_delivery": N_("Request delivery"),
        "withdraw_delivery": N_("Withdraw delivery request"),
        "execute_delivery": N_("Deliver"),
        "split": N_("Split"),
        "freeze": N_("Freeze"),
        "unfreeze": N_("Unfreeze"),
        "report_loss": N_("Report loss"),
        "cancel_loss_report": N_("Withdraw loss report"),
        "replace": N_("Issue replacement"),
        "start_disposal": N_("Start disposal"),
        "execute_disposal": N_("Dispose"),
        "cancel": N_("Cancel"),
    }
)
class ReceiptAction(Choice):
    SUBMIT = "submit"
    ISSUE = "issue"
    TRANSFER = "transfer"
    REQUEST_PLEDGE = "request_pledge"
    WITHDRAW_PLEDGE = "withdraw_pledge"
    ACCEPT_PLEDGE = "accept_pledge"
    REJECT_PLEDGE = "reject_pledge"
    REQUEST_RELEASE = "request_release"
    EXECUTE_RELEASE = "execute_release"
    DISCHARGE = "discharge"
    REQUEST_DELIVERY = "request_delivery"
    WITHDRAW_DELIVERY = "withdraw_delivery"
    EXECUTE_DELIVERY = "execute_delivery"
    SPLIT = "split"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    REPORT_LOSS = "report_loss"
    CANCEL_LOSS_REPORT = "cancel_loss_report"
    REPLACE = "replace"
    START_DISPOSAL = "start_disposal"
    EXECUTE_DISPOSAL = "execute_disposal"
    CANCEL = "cancel"


S = ReceiptStatus
A = ReceiptAction

TERMINAL: frozenset[ReceiptStatus] = frozenset({S.CANCELLED, S.REPLACED, S.SPLIT})
PRE_ISSUE: frozenset[ReceiptStatus] = frozenset({S.DRAFT, S.PENDING_CHECK})
# Receipts that stand for goods: their quantity must be covered by verified stock.
ACTIVE: frozenset[ReceiptStatus] = frozenset(ReceiptStatus) - TERMINAL - PRE_ISSUE
# Actions the platform performs when an outbound operation executes a release; nobody calls them.
INTERNAL: frozenset[ReceiptAction] = frozenset({A.EXECUTE_RELEASE, A.EXECUTE_DELIVERY, A.EXECUTE_DISPOSAL})

# None as target: the state the receipt had before it was frozen or reported lost, or, for
# execute_disposal, cancelled once nothing is left and in_disposal otherwise.
RESTORE = None

TRANSITIONS: dict[ReceiptStatus, dict[ReceiptAction, ReceiptStatus | None]] = {
    S.DRAFT: {A.SUBMIT: S.PENDING_CHECK, A.CANCEL: S.CANCELLED},
    S.PENDING_CHECK: {A.ISSUE: S.ISSUED, A.CANCEL: S.CANCELLED},
    S.ISSUED: {
        A.TRANSFER: S.ISSUED,
        A.REQUEST_PLEDGE: S.PLEDGE_PENDING,
        A.REQUEST_DELIVERY: S.DELIVERY_PENDING,
        A.SPLIT: S.SPLIT,
        A.FREEZE: S.FROZEN,
        A.REPORT_LOSS: S.LOSS_REPORTED,
        A.CANCEL: S.CANCELLED,
    },
    S.PLEDGE_PENDING: {
        A.ACCEPT_PLEDGE: S.PLEDGED,
        A.REJECT_PLEDGE: S.ISSUED,
        A.WITHDRAW_PLEDGE: S.ISSUED,
        A.FREEZE: S.FROZEN,
    },
    S.PLEDGED: {
        A.REQUEST_RELEASE: S.PLEDGED,
        A.EXECUTE_RELEASE: S.PLEDGED,
        A.DISCHARGE: S.ISSUED,
        A.SPLIT: S.SPLIT,
        A.START_DISPOSAL: S.IN_DISPOSAL,
        A.FREEZE: S.FROZEN,
        A.REPORT_LOSS: S.LOSS_REPORTED,
    },
    S.DELIVERY_PENDING: {A.EXECUTE_DELIVERY: S.CANCELLED, A.WITHDRAW_DELIVERY: S.ISSUED, A.FREEZE: S.FROZEN},
    S.IN_DISPOSAL: {A.REQUEST_RELEASE: S.IN_DISPOSAL, A.EXECUTE_DISPOSAL: RESTORE, A.FREEZE: S.FROZEN},
    S.FROZEN: {A.UNFREEZE: RESTORE},
    S.LOSS_REPORTED: {A.REPLACE: S.REPLACED, A.CANCEL_LOSS_REPORT: RESTORE},
    S.CANCELLED: {},
    S.REPLACED: {},
    S.SPLIT: {},
}


def allowed_actions(status: ReceiptStatus) -> list[str]:
    """The actions a person can take on a receipt in this state, in a stable order."""
    return [action.value for action in TRANSITIONS[status] if action not in INTERNAL]


def is_allowed(status: ReceiptStatus, action: ReceiptAction) -> bool:
    return action in TRANSITIONS[status]


def next_status(
    status: ReceiptStatus,
    action: ReceiptAction,
    *,
    previous: ReceiptStatus | None = None,
    remaining_g: int | None = None,
) -> ReceiptStatus:
    """The state after ``action``. Raises ``KeyError`` when the action is not allowed here."""
    target = TRANSITIONS[status][action]
    if target is not None:
        return target
    if action is A.EXECUTE_DISPOSAL:
        if remaining_g is None:
            raise ValueError("execute_disposal needs the remaining quantity")
        return S.CANCELLED if remaining_g == 0 else S.IN_DISPOSAL
    if previous is None:
        raise ValueError(f"{action.value} from {status.value} needs the previous state")
    return previous
