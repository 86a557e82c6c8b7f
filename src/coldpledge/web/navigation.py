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
    group: str = ""  # the header menu it sits in (an English msgid); none: on the bar itself


@dataclass(frozen=True)
class NavGroup:
    label: str
    items: list[NavItem]


WAREHOUSING = N_("Warehousing")
SUPERVISION = N_("Supervision")
FINANCING = N_("Financing")
SCREENS = N_("Big screens")
NOT_OUTSIDERS = EVERYONE - {Role.GUARANTOR_VIEWER, Role.INSURER_VIEWER}

ITEMS: tuple[NavItem, ...] = (
    NavItem("/", N_("Home"), EVERYONE),
    NavItem("/inbox", N_("Inbox"), EVERYONE),
    NavItem("/warehouses", N_("Warehouses"), NOT_OUTSIDERS, group=WAREHOUSING),
    NavItem("/lots", N_("Lots"), EVERYONE, "lot:view", group=WAREHOUSING),
    NavItem("/devices", N_("Devices"), EVERYONE, "device:view", group=WAREHOUSING),
    NavItem("/devices/dead-letters", N_("Dead letters"), EVERYONE, "dead_letter:view", group=WAREHOUSING),
    NavItem(
        "/virtual-warehouses",
        N_("Virtual warehouses"),
        NOT_OUTSIDERS,
        "virtual_warehouse:view",
        group=SUPERVISION,
    ),
    NavItem(
        "/policies", N_("Supervision policies"), NOT_OUTSIDERS, "virtual_warehouse:view", group=SUPERVISION
    ),
    NavItem("/alerts", N_("Alerts"), EVERYONE, "alert:view", group=SUPERVISION),
    NavItem("/work-orders", N_("Work orders"), EVERYONE, "work_order:view", group=SUPERVISION),
    NavItem("/receipts", N_("Warehouse receipts"), EVERYONE, "receipt:view", group=FINANCING),
    NavItem("/facilities", N_("Credit facilities"), EVERYONE, "facility:view", group=FINANCING),
    NavItem("/releases", N_("Release instructions"), EVERYONE, "release:view", group=FINANCING),
    NavItem("/prices", N_("Prices"), EVERYONE, "price:view", group=FINANCING),
    NavItem("/mark-to-market", N_("Mark-to-market"), EVERYONE, "facility:view", group=FINANCING),
    NavItem("/margin-calls", N_("Margin calls"), EVERYONE, "facility:view", group=FINANCING),
    NavItem("/disposals", N_("Disposals"), EVERYONE, "facility:view", group=FINANCING),
    NavItem("/evidence", N_("Evidence"), EVERYONE - {Role.GUARANTOR_VIEWER}),
    NavItem("/screens/inventory", N_("Inventory risk screen"), SCREEN_VIEWERS, group=SCREENS),
    NavItem("/screens/receipts", N_("Receipt risk screen"), SCREEN_VIEWERS, group=SCREENS),
    NavItem("/m/", N_("Mobile"), FIELD_STAFF),
    NavItem("/admin", N_("Administration"), EVERYONE, "webhook:view"),
)


def nav_for(principal: Principal) -> list[NavItem]:
    return [
        item
        for item in ITEMS
        if principal.role in item.roles and (item.permission is None or principal.can(item.permission))
    ]


def grouped(items: list[NavItem]) -> list[NavItem | NavGroup]:
    """The header's entries: items on the bar, and menus of the items that share a group (a
    group of one shows as its item: a menu to open for one link is a click wasted)."""
    entries: list[NavItem | NavGroup] = []
    menus: dict[str, NavGroup] = {}
    for item in items:
        if not item.group:
            entries.append(item)
        elif item.group in menus:
            menus[item.group].items.append(item)
        else:
            menus[item.group] = NavGroup(item.group, [item])
            entries.append(menus[item.group])
    return [
        entry.items[0] if isinstance(entry, NavGroup) and len(entry.items) == 1 else entry
        for entry in entries
    ]
