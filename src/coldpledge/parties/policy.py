"""Who may do what: party types, roles and the permissions each role holds.

Pure data and functions, no I/O. Row scope (which objects a party may see at all) is decided by
``coldpledge.parties.access.restrict``; this module only answers "may this role ever do X".
"""

from __future__ import annotations

from dataclasses import dataclass

from coldpledge.choices import Choice, present
from coldpledge.errors import N_


@present(
    {
        "bank": N_("Bank (pledgee)"),
        "borrower": N_("Borrower (pledgor)"),
        "keeper": N_("Warehouse keeper"),
        "supervisor": N_("Supervisor"),
        "operator": N_("Platform operator"),
        "guarantor": N_("Guarantor"),
        "insurer": N_("Insurer"),
    }
)
class PartyType(Choice):
    BANK = "bank"
    BORROWER = "borrower"
    KEEPER = "keeper"
    SUPERVISOR = "supervisor"
    OPERATOR = "operator"
    GUARANTOR = "guarantor"
    INSURER = "insurer"


@present(
    {
        "platform_admin": N_("Platform administrator"),
        "bank_risk_officer": N_("Bank risk officer"),
        "bank_viewer": N_("Bank viewer"),
        "borrower_finance": N_("Borrower finance staff"),
        "keeper_staff": N_("Warehouse staff"),
        "supervision_manager": N_("Supervision manager"),
        "inspector": N_("Field inspector"),
        "guarantor_viewer": N_("Guarantor viewer"),
        "insurer_viewer": N_("Insurer viewer"),
    }
)
class Role(Choice):
    PLATFORM_ADMIN = "platform_admin"
    BANK_RISK_OFFICER = "bank_risk_officer"
    BANK_VIEWER = "bank_viewer"
    BORROWER_FINANCE = "borrower_finance"
    KEEPER_STAFF = "keeper_staff"
    SUPERVISION_MANAGER = "supervision_manager"
    INSPECTOR = "inspector"
    GUARANTOR_VIEWER = "guarantor_viewer"
    INSURER_VIEWER = "insurer_viewer"


ROLES_BY_PARTY: dict[PartyType, frozenset[Role]] = {
    PartyType.OPERATOR: frozenset({Role.PLATFORM_ADMIN}),
    PartyType.BANK: frozenset({Role.BANK_RISK_OFFICER, Role.BANK_VIEWER}),
    PartyType.BORROWER: frozenset({Role.BORROWER_FINANCE}),
    PartyType.KEEPER: frozenset({Role.KEEPER_STAFF}),
    PartyType.SUPERVISOR: frozenset({Role.SUPERVISION_MANAGER, Role.INSPECTOR}),
    PartyType.GUARANTOR: frozenset({Role.GUARANTOR_VIEWER}),
    PartyType.INSURER: frozenset({Role.INSURER_VIEWER}),
}

# Every read permission; each role below adds what it may change.
VIEW = frozenset(
    {
        "organisation:view",
        "user:view",
        "warehouse:view",
        "virtual_warehouse:view",
        "commodity:view",
        "lot:view",
        "seal:view",
        "attachment:view",
        "receipt:view",
        "release:view",
        "device:view",
        "alert:view",
        "work_order:view",
        "facility:view",
        "drawdown:view",
        # Prices are not secret: every party reads the series and observations valuation uses.
        "price:view",
    }
)
# Webhook subscriptions for one's own organisation: the roles that act for it, not its viewers.
WEBHOOKS = frozenset({"webhook:view", "webhook:create", "webhook:deactivate"})
# Installing and looking after devices: the operator, and the keeper or supervisor in its own rooms.
DEVICE_CARE = frozenset({"device:register", "device:bind", "device:rotate_key", "device:retire"})
# Work orders in the field: the supervisor's inspectors and managers.
WORK_ORDER_FIELD = frozenset(
    {
        "alert:acknowledge",
        "work_order:acknowledge",
        "work_order:comment",
        "work_order:check_in",
        "work_order:start",
        "work_order:resolve",
    }
)
# Running work orders: the supervision manager raises, assigns, reviews, closes and cancels them.
WORK_ORDER_MANAGEMENT = frozenset(
    {
        "alert:resolve",
        "alert:close",
        "work_order:create",
        "work_order:assign",
        "work_order:close",
        "work_order:cancel",
    }
)
# Deciding on a credit facility and running it: its bank's risk officer (issue 6).
FACILITY_BANK = frozenset(
    {
        "facility:approve",
        "facility:reject",
        "facility:activate",
        "facility:suspend",
        "facility:resume",
        "facility:expire",
        "facility:close",
        "facility:add_contract",
        "facility:attach_collateral",
        "facility:detach_collateral",
        "facility:deposit_margin",
        "facility:withdraw_margin",
        # Liquidation: the bank records the sale of the goods and writes off what it did not pay.
        "facility:record_disposal",
        "drawdown:write_off",
        "drawdown:approve",
        "drawdown:reject",
        "drawdown:disburse",
        "drawdown:repay",
        # A waiver of a margin call needs two of them (the service checks they differ).
        "facility:waive_margin_call",
    }
)
# Asking for credit and for money, and paying it back: the borrower's finance staff.
FACILITY_BORROWER = frozenset(
    {
        "facility:apply",
        "facility:withdraw",
        "facility:request_drawdown",
        "drawdown:withdraw",
        "drawdown:repay",
    }
)

# Price sources and prices: the operator's. Entering and approving are two people (four eyes, in
# the prices service and the database), so both permissions sit with the same role.
PRICE_MANAGEMENT = frozenset(
    {"price:manage_series", "price:enter", "price:import", "price:approve", "price:reject"}
)

PERMISSIONS: dict[Role, frozenset[str]] = {
    # The operator runs the platform: it sets parties and supervision up and can freeze on a court
    # order, but it is nobody's keeper, supervisor, bank or borrower, so it records no operation
    # on goods and takes no step that belongs to a party.
    Role.PLATFORM_ADMIN: VIEW
    | {
        "organisation:create",
        "user:create",
        "warehouse:create",
        "virtual_warehouse:create",
        "commodity:create",
        # A commodity's policy applies wherever its goods are pledged: the operator's to set.
        "commodity:set_policy",
        "receipt:freeze",
        "receipt:unfreeze",
        "dead_letter:view",
        "delivery:view",
    }
    | PRICE_MANAGEMENT
    # Running the daily mark-to-market for a business date by hand.
    | {"facility:mark_to_market"}
    | DEVICE_CARE
    | WEBHOOKS,
    Role.BANK_RISK_OFFICER: VIEW
    | {
        "receipt:accept_pledge",
        "receipt:reject_pledge",
        "receipt:discharge",
        "receipt:split",
        "receipt:freeze",
        "receipt:unfreeze",
        "receipt:start_disposal",
        "receipt:request_release",
        "release:approve",
        "release:reject",
        "release:cancel",
    }
    | WEBHOOKS
    | {"alert:acknowledge", "work_order:acknowledge", "work_order:comment"}
    | FACILITY_BANK,
    Role.BANK_VIEWER: VIEW,
    Role.BORROWER_FINANCE: VIEW
    | {
        "receipt:transfer",
        "receipt:request_pledge",
        "receipt:withdraw_pledge",
        "receipt:request_release",
        "receipt:request_delivery",
        "receipt:split",
        "receipt:report_loss",
        "receipt:cancel_loss_report",
        "receipt:cancel",
        "release:cancel",
    }
    | WEBHOOKS
    | FACILITY_BORROWER,
    Role.KEEPER_STAFF: VIEW
    | {
        "warehouse:create",
        "warehouse:add_room",
        "lot:inbound",
        "lot:weigh",
        "lot:inspect",
        "lot:disinfect",
        "lot:documents",
        "lot:outbound",
        "lot:attach",
        "receipt:create",
        "receipt:submit",
        "receipt:issue",
        "receipt:replace",
        "receipt:cancel",
        "receipt:report_loss",
        "receipt:cancel_loss_report",
    }
    | DEVICE_CARE
    | WEBHOOKS
    | {"alert:acknowledge", "work_order:comment"},
    Role.SUPERVISION_MANAGER: VIEW
    | {
        "virtual_warehouse:manage_windows",
        "virtual_warehouse:set_policy",
        # The policy of a supervised room, or of a warehouse it supervises throughout.
        "warehouse:set_policy",
        "virtual_warehouse:assign_staff",
        "lot:inspect",
        "lot:stocktake",
        "lot:attach",
        "seal:seal",
        "seal:unseal",
    }
    | DEVICE_CARE
    | WEBHOOKS
    | WORK_ORDER_FIELD
    | WORK_ORDER_MANAGEMENT,
    Role.INSPECTOR: VIEW
    | {"lot:inspect", "lot:stocktake", "lot:attach", "seal:seal", "seal:unseal"}
    | WORK_ORDER_FIELD,
    Role.GUARANTOR_VIEWER: VIEW,
    Role.INSURER_VIEWER: VIEW,
}


def role_allowed_for(party_type: PartyType, role: Role) -> bool:
    return role in ROLES_BY_PARTY[party_type]


def has_permission(role: Role, permission: str) -> bool:
    return permission in PERMISSIONS[role]


@dataclass(frozen=True)
class Principal:
    """Who is acting: a signed-in user, or the platform itself for background jobs."""

    user_id: int | None
    username: str
    org_id: int | None
    party_type: PartyType
    role: Role
    display_name: str = ""

    @property
    def is_operator(self) -> bool:
        return self.role is Role.PLATFORM_ADMIN

    def can(self, permission: str) -> bool:
        return has_permission(self.role, permission)

    @property
    def actor(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"system:{self.username}"


SYSTEM = Principal(
    user_id=None, username="system", org_id=None, party_type=PartyType.OPERATOR, role=Role.PLATFORM_ADMIN
)
