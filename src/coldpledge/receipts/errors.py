"""Errors particular to receipts."""

from __future__ import annotations

from typing import Any

from coldpledge.errors import N_, Conflict, IllegalTransition, Words
from coldpledge.receipts.lifecycle import ReceiptAction, ReceiptStatus, allowed_actions
from coldpledge.uow import CONSTRAINT_MESSAGES

CONSTRAINT_MESSAGES.update(
    {
        "uq_receipts_one_live_per_lot": N_("This lot already backs a receipt; a lot backs at most one."),
        "uq_pledges_one_live_per_receipt": N_(
            "This receipt already has a live pledge; it cannot be pledged twice."
        ),
        "uq_releases_one_open_per_receipt": N_("This receipt already has an open release instruction."),
        "receipt_exceeds_verified_stock": N_("Receipts may not claim more than the lot's verified stock."),
        "receipt_terminal_state_is_final": N_("This receipt is closed for good and cannot change."),
        "receipts_are_never_deleted": N_("Receipts are never deleted; cancel the receipt instead."),
    }
)
# SQLite reports a failed partial unique index by its columns, not its name.
CONSTRAINT_MESSAGES["receipts.lot_id"] = CONSTRAINT_MESSAGES["uq_receipts_one_live_per_lot"]
CONSTRAINT_MESSAGES["pledges.receipt_id"] = CONSTRAINT_MESSAGES["uq_pledges_one_live_per_receipt"]
CONSTRAINT_MESSAGES["releases.receipt_id"] = CONSTRAINT_MESSAGES["uq_releases_one_open_per_receipt"]


def illegal(status: ReceiptStatus, action: ReceiptAction) -> IllegalTransition:
    return IllegalTransition(
        N_("The receipt is {state_label}: “{action}” is not possible in that state."),
        state=status.value,
        state_label=status.label,
        action=action.label,
        allowed_actions=allowed_actions(status),
    )


# What each gap of the inbound check means to the keeper who has to close it.
GAP_LABELS = {
    "lot_not_in_stock": N_("the lot is not in stock"),
    "not_weighed": N_("the lot has not been weighed"),
    "exceeds_verified_stock": N_("the quantity exceeds the verified stock"),
    "exceeds_cartons": N_("the cartons exceed those in the lot"),
    "quality_not_passed": N_("the quality inspection has not passed"),
    "not_sealed": N_("the lot is not sealed"),
    "no_photo": N_("there is no photo of the goods"),
    "no_customs_declaration": N_("the customs declaration number is missing"),
    "no_quarantine_certificate": N_("the quarantine certificate number is missing"),
}


class IncompleteCheck(Conflict):
    """The inbound check (weigh, inspect, seal, photos, documents) is not finished."""

    code = "inbound_check_incomplete"

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            N_("The receipt cannot be issued yet: {missing}."),
            missing=Words(GAP_LABELS.get(gap, gap) for gap in missing),
        )
        self.missing = missing

    def extra(self) -> dict[str, Any]:
        return {"missing": self.missing}
