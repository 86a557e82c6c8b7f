"""What each role finds in the page header: only the pages it may use (a page it may not open
would answer 404 anyway; a link to it would only mislead)."""

from __future__ import annotations

from dataclasses import dataclass

from coldpledge.errors import N_
from coldpledge.parties.policy import Principal, Role

EVERYONE = frozenset(Role)
SCREEN_VIEWERS = frozenset(
    {
        Role.PLATFORM_ADMIN,
        Role.BANK_RISK_OFFICER,
        Role.BANK_VIEWER,
        Role.SUPERVISION_MANAGER,
        Role.KEEPER_STAFF,
        Role.INSPECTOR,
        Role.BORROWER_FINANCE,
        Role.GUARANTOR_VIEWER,
        Role.INSURER_VIEWER,
    }
)
FIELD_STAFF = frozenset({Role.INSPECTOR, Role.SUPERVISION_MANAGER, Role.KEEPER_STAFF})


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str  # an English msgid; the template translates it
    roles: frozenset[Role]
    permission: str | None = None  # and, where named, this permission


ITEMS: tuple[NavItem, ...] = (
    NavItem("/", N_("Home"), EVERYONE),
    NavItem("/inbox", N_("Inbox"), EVERYONE),
    NavItem("/warehouses", N_("Warehouses"), EVERYONE - {Role.GUARANTOR_VIEWER, Role.INSURER_VIEWER}),
    NavItem("/devices", N_("Devices"), EVERYONE, "device:view"),
    NavItem("/alerts", N_("Alerts"), EVERYONE, "alert:view"),
    NavItem("/work-orders", N_("Work orders"), EVERYONE, "work_order:view"),
    NavItem("/lots", N_("Lots"), EVERYONE, "lot:view"),
    NavItem(
        "/virtual-warehouses",
        N_("Virtual warehouses"),
        EVERYONE - {Role.GUARANTOR_VIEWER, Role.INSURER_VIEWER},
        "virtual_warehouse:view",
    ),
    NavItem("/receipts", N_("Warehouse receipts"), EVERYONE, "receipt:view"),
    NavItem("/facilities", N_("Credit facilities"), EVERYONE, "facility:view"),
    NavItem("/margin-calls", N_("Margin calls"), EVERYONE, "facility:view"),
    NavItem("/prices", N_("Prices"), EVERYONE, "price:view"),
    NavItem("/releases", N_("Release instructions"), EVERYONE, "release:view"),
    NavItem("/evidence", N_("Evidence"), EVERYONE - {Role.GUARANTOR_VIEWER}),
    NavItem("/screens/inventory", N_("Inventory risk screen"), SCREEN_VIEWERS),
    NavItem("/screens/receipts", N_("Receipt risk screen"), SCREEN_VIEWERS),
    NavItem("/m/", N_("Mobile"), FIELD_STAFF),
)


def nav_for(principal: Principal) -> list[NavItem]:
    return [
        item
        for item in ITEMS
        if principal.role in item.roles and (item.permission is None or principal.can(item.permission))
    ]
