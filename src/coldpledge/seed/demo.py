"""The demo scenario that ``coldpledge demo`` and ``coldpledge seed demo`` create.

Two banks, two trading companies, a cold-warehouse keeper with warehouses in Yangshan and
Dongjiang, a supervision company, and two months of goods, receipts and operations, credit lines,
loans, daily prices and marks to market, all made through the real services on a clock that walks
through the story (``scenario``). The demo logins
are fixed and documented; only these commands create them, never ``serve``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from coldpledge.alerts.models import Alert, WorkOrder
from coldpledge.audit.models import AuditEvent
from coldpledge.config import Settings
from coldpledge.db import Database
from coldpledge.errors import N_, Conflict
from coldpledge.evidence.outbox import EvidenceOutbox
from coldpledge.financing.models import Drawdown, Facility, InterestAccrual, Repayment
from coldpledge.financing.mtm_models import MarginCall, Valuation
from coldpledge.financing.prices.models import PriceObservation
from coldpledge.i18n import translations
from coldpledge.inventory.models import Attachment, Commodity, Lot, Operation, Seal
from coldpledge.parties.models import Organisation, User
from coldpledge.parties.policy import Role
from coldpledge.receipts.models import Receipt, Release
from coldpledge.seed.cast import LOGINS, ORGANISATIONS, set_up
from coldpledge.seed.scenario import play
from coldpledge.seed.scene import Scene
from coldpledge.seed.story import StoryClock
from coldpledge.warehouses.models import Room, VirtualWarehouse, Warehouse

DEMO_PASSWORD = "coldpledge-demo"  # noqa: S105 - the documented password of the demo logins

# What the summary counts, with the Chinese heading shown next to it.
COUNTED: tuple[tuple[str, str, Any], ...] = (
    ("organisations", "组织", Organisation),
    ("users", "用户", User),
    ("warehouses", "仓库", Warehouse),
    ("rooms", "库房", Room),
    ("virtual warehouses", "虚拟货仓", VirtualWarehouse),
    ("commodities", "品类", Commodity),
    ("lots", "货物批次", Lot),
    ("receipts", "仓单", Receipt),
    ("releases", "放货指令", Release),
    ("operations", "作业记录", Operation),
    ("seals", "封签", Seal),
    ("attachments", "照片与单证", Attachment),
    ("price observations", "价格行情", PriceObservation),
    ("credit facilities", "授信额度", Facility),
    ("drawdowns", "借据", Drawdown),
    ("repayments", "还款", Repayment),
    ("interest accruals", "计息记录", InterestAccrual),
    ("valuations", "盯市估值", Valuation),
    ("margin calls", "追加保证金通知", MarginCall),
    ("alerts", "风险预警", Alert),
    ("work orders", "督导工单", WorkOrder),
    ("audit events", "审计事件", AuditEvent),
    ("evidence entries", "存证条目", EvidenceOutbox),
)


@dataclass(frozen=True)
class DemoSummary:
    created: bool  # False when the database was already seeded and nothing was added
    logins: list[tuple[str, str, str]]  # (username, role label, organisation name)
    counts: dict[str, int]

    def describe(self) -> str:
        """What the terminal shows: the logins with their password, and what the database holds."""
        headline = (
            "Demo data created · 演示数据已创建"
            if self.created
            else "Demo data already present; nothing was added · 演示数据已存在，未做改动"
        )
        login_rows = [["username 用户名", "password 密码", "role 角色", "organisation 组织"]]
        for username, role_label, organisation in self.logins:
            login_rows.append([username, DEMO_PASSWORD, role_label, organisation])
        zh = {key: label for key, label, _model in COUNTED}
        count_rows = [
            [f"{key} {zh.get(key, '')}".rstrip(), f"{value:,}"] for key, value in self.counts.items()
        ]
        return "\n".join(
            [
                headline,
                "",
                "Demo logins · 演示账号",
                *_table(login_rows),
                "",
                "In the database · 数据概览",
                *_table(count_rows, right=frozenset({1})),
            ]
        )


def seed_demo(database: Database, settings: Settings, *, now: datetime | None = None) -> DemoSummary:
    """Seed the demo scenario, ending at ``now`` (default: the current time). Adds nothing when
    the user ``admin`` already exists."""
    now = now or datetime.now(UTC)
    if not _seeded(database):
        _refuse_partial_seed(database)
        scene = Scene(database, settings, StoryClock(now))
        set_up(scene, DEMO_PASSWORD)
        play(scene)
        return _summary(database, created=True)
    return _summary(database, created=False)


def _seeded(database: Database) -> bool:
    with database.reading() as session:
        return bool(session.scalar(select(func.count()).where(User.username == "admin")))


def _refuse_partial_seed(database: Database) -> None:
    """A seed that stopped half-way (interrupted) left demo parties without the admin user; seeding
    over it would collide with them, so say what to do instead."""
    names = [name for name, *_rest in ORGANISATIONS.values()]
    with database.reading() as session:
        found = session.scalar(select(func.count()).where(Organisation.name.in_(names)))
    if found:
        raise Conflict(
            N_(
                "This database holds part of the demo but no admin user: an earlier seed was "
                "interrupted. Start from an empty database (coldpledge demo --reset)."
            )
        )


def _summary(database: Database, *, created: bool) -> DemoSummary:
    usernames = [username for username, *_rest in LOGINS]
    with database.reading() as session:
        users = {
            user.username: user for user in session.scalars(select(User).where(User.username.in_(usernames)))
        }
        logins = [
            (username, _role_label(users[username].role), users[username].organisation.name)
            for username in usernames
            if username in users
        ]
        counts = {
            key: session.scalar(select(func.count()).select_from(model)) or 0 for key, _zh, model in COUNTED
        }
    return DemoSummary(created=created, logins=logins, counts=counts)


def _role_label(role: Role) -> str:
    """Both languages at once, from the product's own catalogue."""
    return f"{role.label} {translations('zh_Hans_CN').ugettext(role.label)}"


def _table(rows: list[list[str]], *, right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(_width(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [_pad(cell, widths[column], right=column in right) for column, cell in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    gap = " " * (width - _width(text))
    return gap + text if right else text + gap
