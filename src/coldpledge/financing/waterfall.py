"""Where money goes: a repayment pays penalty, then interest, then principal; disposal proceeds pay
the costs of the sale and the keeper's storage lien first (domain §2.5, step 6)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple


def allocate_in_order(amount_fen: int, dues_fen: Sequence[int]) -> tuple[list[int], int]:
    """Pay ``dues_fen`` in order from ``amount_fen``: each is paid in full before the next gets a
    fen. Returns what each received and what is left over."""
    if amount_fen < 0:
        raise ValueError(f"an amount cannot be negative ({amount_fen} fen)")
    if any(due < 0 for due in dues_fen):
        raise ValueError("an amount due cannot be negative")
    left = amount_fen
    paid: list[int] = []
    for due in dues_fen:
        part = min(left, due)
        paid.append(part)
        left -= part
    return paid, left


class RepaymentAllocation(NamedTuple):
    penalty_fen: int
    interest_fen: int
    principal_fen: int
    excess_fen: int  # more than was due: refunded or held, never applied


def allocate_repayment(
    amount_fen: int, penalty_due_fen: int, interest_due_fen: int, principal_due_fen: int
) -> RepaymentAllocation:
    """Split a repayment penalty → interest → principal; whatever exceeds all three is excess."""
    (penalty, interest, principal), excess = allocate_in_order(
        amount_fen, (penalty_due_fen, interest_due_fen, principal_due_fen)
    )
    return RepaymentAllocation(penalty, interest, principal, excess)


@dataclass(frozen=True)
class DisposalAllocation:
    """Proceeds of a disposal in waterfall order. Either ``surplus_fen`` (returned to the pledgor)
    or ``shortfall_fen`` (everything due that the proceeds did not cover) is zero.
    ``residual_claim_fen`` is the part of the shortfall that is the loan's own — unpaid penalty,
    interest and principal — and stays a claim on the borrower or the guarantor."""

    fees_fen: int
    storage_lien_fen: int
    penalty_fen: int
    interest_fen: int
    principal_fen: int
    surplus_fen: int
    shortfall_fen: int
    residual_claim_fen: int

    @property
    def applied_to_loan_fen(self) -> int:
        return self.penalty_fen + self.interest_fen + self.principal_fen


def disposal_waterfall(
    proceeds_fen: int,
    fees_fen: int,
    storage_lien_fen: int,
    penalty_fen: int,
    interest_fen: int,
    principal_fen: int,
) -> DisposalAllocation:
    """Apply disposal proceeds: costs of the sale, the keeper's storage-fee lien, penalty,
    interest, principal, and any surplus to the pledgor."""
    dues = (fees_fen, storage_lien_fen, penalty_fen, interest_fen, principal_fen)
    (fees, lien, penalty, interest, principal), surplus = allocate_in_order(proceeds_fen, dues)
    return DisposalAllocation(
        fees_fen=fees,
        storage_lien_fen=lien,
        penalty_fen=penalty,
        interest_fen=interest,
        principal_fen=principal,
        surplus_fen=surplus,
        shortfall_fen=sum(dues) - (fees + lien + penalty + interest + principal),
        residual_claim_fen=(penalty_fen + interest_fen + principal_fen) - (penalty + interest + principal),
    )
