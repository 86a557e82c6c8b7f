"""Physical warehouses and rooms; virtual warehouses, release windows and supervision policies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldpledge.choices import Choice, present
from coldpledge.db import Base, JSONDocument, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_


@present(
    {
        "frozen": N_("Frozen (≤ -18 °C)"),
        "deep_frozen": N_("Deep frozen (≤ -25 °C)"),
        "chilled": N_("Chilled (0–4 °C)"),
    },
    {"frozen": "blue", "deep_frozen": "indigo", "chilled": "cyan"},
)
class TemperatureClass(Choice):
    FROZEN = "frozen"
    DEEP_FROZEN = "deep_frozen"
    CHILLED = "chilled"


@present({"room": N_("Room"), "zone": N_("Zone")})
class AreaKind(Choice):
    ROOM = "room"
    ZONE = "zone"


@present({"static": N_("Static pledge"), "dynamic": N_("Dynamic pledge (minimum stock)")})
class SupervisionMode(Choice):
    STATIC = "static"
    DYNAMIC = "dynamic"


@present(
    {"active": N_("Active"), "suspended": N_("Suspended"), "closed": N_("Closed")},
    {"active": "green", "suspended": "orange", "closed": "grey"},
)
class VirtualWarehouseStatus(Choice):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CLOSED = "closed"


class Warehouse(Base):
    """A keeper's physical cold store."""

    __tablename__ = "warehouses"
    __permission__ = "warehouse"
    __label__ = N_("warehouse")
    __subject_type__ = "warehouse"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    keeper_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    address: Mapped[str] = mapped_column(String(300))
    city: Mapped[str] = mapped_column(String(100))
    # Coordinates in micro-degrees: exact integers on both databases.
    latitude_e6: Mapped[int | None] = mapped_column(Integer)
    longitude_e6: Mapped[int | None] = mapped_column(Integer)
    # 中仓登 warehouse archive code, where the warehouse is registered.
    registry_code: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    rooms: Mapped[list[Room]] = relationship(back_populates="warehouse", order_by="Room.code")

    @property
    def subject_ref(self) -> str:
        return f"warehouse:{self.code}"


class Room(Base):
    """A cold room, or a zone inside one, with its temperature class and set point."""

    __tablename__ = "rooms"
    __permission__ = "warehouse"
    __label__ = N_("room")
    __subject_type__ = "room"
    __table_args__ = (
        UniqueConstraint("warehouse_id", "code"),
        CheckConstraint(
            "band_low_mc <= set_point_mc AND set_point_mc <= band_high_mc", name="set_point_in_band"
        ),
        CheckConstraint("(kind = 'zone') = (parent_room_id IS NOT NULL)", name="zone_has_parent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[AreaKind] = mapped_column(choice_column(AreaKind, "area_kind"), default=AreaKind.ROOM)
    parent_room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    temperature_class: Mapped[TemperatureClass] = mapped_column(
        choice_column(TemperatureClass, "temperature_class")
    )
    # Temperatures in milli-degrees Celsius, so -18.5 °C is exactly -18500.
    set_point_mc: Mapped[int] = mapped_column(Integer)
    band_low_mc: Mapped[int] = mapped_column(Integer)
    band_high_mc: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[int | None] = mapped_column(Integer)
    volume_m3: Mapped[int | None] = mapped_column(Integer)
    virtual_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("virtual_warehouses.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    warehouse: Mapped[Warehouse] = relationship(back_populates="rooms")

    @property
    def subject_ref(self) -> str:
        return f"room:{self.id}"


class VirtualWarehouse(Base):
    """虚拟货仓: the supervised view over some rooms of one warehouse, under one supervisor."""

    __tablename__ = "virtual_warehouses"
    __permission__ = "virtual_warehouse"
    __label__ = N_("virtual warehouse")
    __subject_type__ = "virtual_warehouse"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    supervisor_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    mode: Mapped[SupervisionMode] = mapped_column(
        choice_column(SupervisionMode, "supervision_mode"), default=SupervisionMode.STATIC
    )
    status: Mapped[VirtualWarehouseStatus] = mapped_column(
        choice_column(VirtualWarehouseStatus, "virtual_warehouse_status"),
        default=VirtualWarehouseStatus.ACTIVE,
    )
    # The tripartite supervision agreement (质押监管协议) this arrangement rests on.
    agreement_no: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    warehouse: Mapped[Warehouse] = relationship()
    rooms: Mapped[list[Room]] = relationship(order_by="Room.code")

    @property
    def subject_ref(self) -> str:
        return f"virtual_warehouse:{self.code}"


class VirtualWarehouseStaff(Base):
    """Field inspectors assigned to a virtual warehouse; an inspector sees only these."""

    __tablename__ = "virtual_warehouse_staff"

    virtual_warehouse_id: Mapped[int] = mapped_column(ForeignKey("virtual_warehouses.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReleaseWindow(Base):
    """A weekly window in local time during which goods may leave (or doors open) without alarm."""

    __tablename__ = "release_windows"
    __permission__ = "virtual_warehouse"
    __label__ = N_("release window")
    __subject_type__ = "release_window"
    __table_args__ = (CheckConstraint("start_minute < end_minute", name="start_before_end"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    virtual_warehouse_id: Mapped[int] = mapped_column(ForeignKey("virtual_warehouses.id"), index=True)
    # ISO weekdays as a string of digits, "12345" for Monday to Friday.
    weekdays: Mapped[str] = mapped_column(String(7))
    start_minute: Mapped[int] = mapped_column(Integer)  # minutes after local midnight
    end_minute: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def subject_ref(self) -> str:
        return f"release_window:{self.id}"


@present(
    {
        "warehouse": N_("Warehouse"),
        "virtual_warehouse": N_("Virtual warehouse"),
        "room": N_("Room"),
        "commodity": N_("Commodity"),
    }
)
class PolicyScope(Choice):
    """What a supervision policy is attached to."""

    WAREHOUSE = "warehouse"
    VIRTUAL_WAREHOUSE = "virtual_warehouse"
    ROOM = "room"
    COMMODITY = "commodity"


# Exactly one of these columns names what a policy is attached to.
POLICY_SCOPE_COLUMNS = {
    PolicyScope.WAREHOUSE: "warehouse_id",
    PolicyScope.VIRTUAL_WAREHOUSE: "virtual_warehouse_id",
    PolicyScope.ROOM: "room_id",
    PolicyScope.COMMODITY: "commodity_id",
}
_ONE_SCOPE = " + ".join(
    f"(CASE WHEN {column} IS NULL THEN 0 ELSE 1 END)" for column in POLICY_SCOPE_COLUMNS.values()
)


class SupervisionPolicy(Base):
    """One version of the supervision policy of a warehouse, virtual warehouse, room or commodity.
    Versions are never edited; a change adds the next version, so the rules engine and auditors
    can tell which parameters were in force.

    ``temperature_class`` is the class the policy's temperature line was written for (the template
    it started from). A warehouse's or virtual warehouse's line judges only its rooms of that
    class; a room's or a commodity's judges the room whatever its class (``rules.policies``)."""

    __tablename__ = "supervision_policies"
    __permission__ = "virtual_warehouse"
    __label__ = N_("supervision policy")
    __subject_type__ = "supervision_policy"
    __table_args__ = (
        UniqueConstraint("virtual_warehouse_id", "version"),
        UniqueConstraint("warehouse_id", "version"),
        UniqueConstraint("room_id", "version"),
        UniqueConstraint("commodity_id", "version"),
        CheckConstraint(f"{_ONE_SCOPE} = 1", name="one_scope"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("warehouses.id"))
    virtual_warehouse_id: Mapped[int | None] = mapped_column(ForeignKey("virtual_warehouses.id"), index=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    commodity_id: Mapped[int | None] = mapped_column(ForeignKey("commodities.id"))
    temperature_class: Mapped[TemperatureClass] = mapped_column(
        choice_column(TemperatureClass, "policy_temperature_class")
    )
    version: Mapped[int] = mapped_column(Integer)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    reason: Mapped[str] = mapped_column(String(500))
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    @property
    def scope(self) -> PolicyScope:
        for scope, column in POLICY_SCOPE_COLUMNS.items():
            if getattr(self, column) is not None:
                return scope
        raise ValueError("a supervision policy is attached to nothing")

    @property
    def scope_id(self) -> int:
        ident: int = getattr(self, POLICY_SCOPE_COLUMNS[self.scope])
        return ident

    @property
    def subject_ref(self) -> str:
        return policy_ref(self.scope, self.scope_id, self.version)


def policy_ref(scope: PolicyScope, scope_id: int, version: int) -> str:
    """``supervision_policy:room:12:v3``: names one version, in alerts and in the evidence."""
    return f"supervision_policy:{scope.value}:{scope_id}:v{version}"
