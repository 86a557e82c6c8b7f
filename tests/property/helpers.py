"""The reference model the receipt state machine holds the real system to.

The states and the party of each step are written from DESIGN §6 and the party rules in
docs/ARCHITECTURE.md, not read from ``coldpledge.receipts.lifecycle``, so the machine compares the
implementation with the specification instead of with itself. What each role may ever do comes from
``parties.policy`` (the permission matrix tests that table on its own). Parties are named by persona
key (``"bank"``, ``"borrower"``, ...); ``"admin"`` stands for the platform operator.
"""

from __future__ import annotations

from dataclasses import dataclass

from coldpledge.errors import DomainError, IllegalTransition, NotFound, PermissionDenied
from coldpledge.parties.policy import Role, has_permission

TERMINAL = frozenset({"cancelled", "replaced", "split"})
# Receipts that stand for goods and so count against the lot's verified stock.
ACTIVE = frozenset(
    {"issued", "pledge_pending", "pledged", "delivery_pending", "in_disposal", "frozen", "loss_reported"}
)
# States an active pledge stands behind (directly, or as the state a freeze or loss report hides).
ENCUMBERED = frozenset({"pledged", "in_disposal"})
SUSPENDED = frozenset({"frozen", "loss_reported"})

# Where a person may take each step, read off DESIGN §6.
LEGAL_FROM: dict[str, frozenset[str]] = {
    "submit": frozenset({"draft"}),
    "issue": frozenset({"pending_check"}),
    "transfer": frozenset({"issued"}),
    "request_pledge": frozenset({"issued"}),
    "withdraw_pledge": frozenset({"pledge_pending"}),
    "accept_pledge": frozenset({"pledge_pending"}),
    "reject_pledge": frozenset({"pledge_pending"}),
    "request_release": frozenset({"pledged", "in_disposal"}),
    "discharge": frozenset({"pledged"}),
    "request_delivery": frozenset({"issued"}),
    "withdraw_delivery": frozenset({"delivery_pending"}),
    "split": frozenset({"issued", "pledged"}),
    "freeze": frozenset({"issued", "pledge_pending", "pledged", "delivery_pending", "in_disposal"}),
    "unfreeze": frozenset({"frozen"}),
    "report_loss": frozenset({"issued", "pledged"}),
    "cancel_loss_report": frozenset({"loss_reported"}),
    "replace": frozenset({"loss_reported"}),
    "start_disposal": frozenset({"pledged"}),
    "cancel": frozenset({"draft", "pending_check", "issued"}),
}

# The state an outbound needs, per kind of release, and the step it records on the receipt.
EXECUTABLE_FROM = {"partial_release": "pledged", "delivery": "delivery_pending", "disposal": "in_disposal"}
EXECUTES = {
    "partial_release": "execute_release",
    "delivery": "execute_delivery",
    "disposal": "execute_disposal",
}

ROLES: dict[str, Role] = {
    "admin": Role.PLATFORM_ADMIN,
    "bank": Role.BANK_RISK_OFFICER,
    "bank2": Role.BANK_RISK_OFFICER,
    "borrower": Role.BORROWER_FINANCE,
    "borrower2": Role.BORROWER_FINANCE,
    "keeper": Role.KEEPER_STAFF,
    "keeper2": Role.KEEPER_STAFF,
    "supervisor": Role.SUPERVISION_MANAGER,
}
ACTORS = tuple(ROLES)
# Every lot of the machine lies in Kate's Yangshan store, in a room Sam's company supervises;
# Ken keeps another warehouse and sees none of it.
KEEPER = "keeper"
SUPERVISOR = "supervisor"
OUTSIDER_KEEPER = "keeper2"


def actions_from(status: str) -> set[str]:
    return {action for action, states in LEGAL_FROM.items() if status in states}


def may(actor: str, permission: str) -> bool:
    return has_permission(ROLES[actor], permission)


def org_key(actor: str) -> str:
    """The world's key of the actor's organisation."""
    return "operator" if actor == "admin" else actor


@dataclass
class LotModel:
    id: int
    owner: str
    verified_g: int
    cartons: int
    status: str = "in_stock"
    sealed: bool = False
    photographed: bool = False

    def seen_by(self, actor: str) -> bool:
        return actor != OUTSIDER_KEEPER


@dataclass
class ReleaseModel:
    id: int
    receipt: int
    kind: str
    status: str
    quantity_g: int
    cartons: int | None
    code: str | None

    @property
    def is_open(self) -> bool:
        return self.status in ("requested", "approved")


@dataclass
class ReceiptModel:
    id: int
    lot: int
    status: str
    holder: str
    quantity_g: int
    cartons: int
    pledgee: str | None = None  # whoever holds the live (requested or active) pledge
    # The bank of its latest pledge in any status: it may still see the receipt, and no other bank
    # may, since an offer to one bank ends the view of those before it.
    last_bank: str | None = None
    previous: str | None = None
    frozen_by: str | None = None
    release: int | None = None  # the open release instruction

    def seen_by(self, actor: str) -> bool:
        if actor in ("admin", KEEPER, SUPERVISOR):
            return True
        if actor in ("borrower", "borrower2"):
            return actor == self.holder
        if actor in ("bank", "bank2"):
            return actor == self.last_bank
        return False

    def parties_for(self, action: str) -> tuple[str, ...]:
        """Who the step belongs to, the first being the one the machine asks by default."""
        pledgee = (self.pledgee,) if self.pledgee else ()
        if action in ("submit", "issue", "replace"):
            return (KEEPER,)
        if action in ("transfer", "request_pledge", "withdraw_pledge", "request_delivery"):
            return (self.holder,)
        if action in ("accept_pledge", "reject_pledge", "discharge", "start_disposal"):
            return pledgee
        if action == "split":
            return pledgee if self.status == "pledged" else (self.holder,)
        if action == "request_release":
            return (self.holder,) if self.status == "pledged" else pledgee
        if action == "freeze":
            # A bank merely offered the receipt has no claim to protect yet.
            return (*(pledgee if self.status != "pledge_pending" else ()), "admin")
        if action == "unfreeze":
            return (self.frozen_by, "admin") if self.frozen_by else ("admin",)
        if action in ("report_loss", "cancel_loss_report"):
            return (self.holder, KEEPER)
        if action == "cancel":
            return (self.holder,) if self.status == "issued" else (KEEPER,)
        raise AssertionError(f"no party rule for {action}")

    def right_party(self, action: str) -> str:
        parties = self.parties_for(action)
        return parties[0] if parties else self.holder

    def refusal(self, actor: str, action: str) -> type[DomainError] | None:
        """The error a person gets for trying ``action`` now, before any business rule: unseen
        (404), a role that may never do it (403), the wrong state (409), or not their step (403)."""
        if not self.seen_by(actor):
            return NotFound
        if not may(actor, f"receipt:{action}"):
            return PermissionDenied
        if self.status not in LEGAL_FROM[action]:
            return IllegalTransition
        if actor not in self.parties_for(action):
            return PermissionDenied
        return None
