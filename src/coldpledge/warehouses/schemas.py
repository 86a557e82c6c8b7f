"""Request and response bodies of the warehouses API."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from coldpledge.db import MAX_ID
from coldpledge.errors import N_
from coldpledge.units import e6_to_degrees, mc_to_celsius
from coldpledge.warehouses.models import (
    AreaKind,
    PolicyScope,
    ReleaseWindow,
    Room,
    SupervisionMode,
    TemperatureClass,
    VirtualWarehouseStatus,
)
from coldpledge.warehouses.policy import PolicyParameters
from coldpledge.warehouses.windows import format_hhmm, parse_hhmm

CODE_PATTERN = r"^[A-Z0-9][A-Z0-9_-]{1,31}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class WarehouseIn(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=2, max_length=200)
    address: str = Field(min_length=2, max_length=300)
    city: str = Field(min_length=1, max_length=100)
    latitude: Decimal | None = Field(default=None, ge=-90, le=90)
    longitude: Decimal | None = Field(default=None, ge=-180, le=180)
    registry_code: str | None = Field(
        default=None, max_length=64, description="中仓登 warehouse archive code"
    )
    keeper_org_id: int | None = Field(
        strict=True, default=None, gt=0, le=MAX_ID, description="Only the platform operator sets this"
    )


class RoomIn(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    kind: AreaKind = AreaKind.ROOM
    # Checked even when left out: a zone without a parent is as wrong as a room with one.
    parent_room_id: int | None = Field(strict=True, default=None, gt=0, le=MAX_ID, validate_default=True)
    temperature_class: TemperatureClass
    # Stored in milli-degrees: a finer value would have to be rounded, so it is refused here. The
    # band comes before the set point so that the set point's check can read it.
    band_low_c: Decimal = Field(ge=-60, le=60, decimal_places=3)
    band_high_c: Decimal = Field(ge=-60, le=60, decimal_places=3)
    set_point_c: Decimal = Field(ge=-60, le=60, decimal_places=3)
    # Far above the largest cold stores, and within the database's 32-bit integers.
    area_m2: int | None = Field(strict=True, default=None, gt=0, le=10_000_000)
    volume_m3: int | None = Field(strict=True, default=None, gt=0, le=100_000_000)

    @field_validator("parent_room_id")
    @classmethod
    def _zone_has_parent(cls, parent_room_id: int | None, info: ValidationInfo) -> int | None:
        if "kind" in info.data and (info.data["kind"] is AreaKind.ZONE) != (parent_room_id is not None):
            raise ValueError(N_("a zone needs parent_room_id, and a room must not have one"))
        return parent_room_id

    @field_validator("set_point_c")
    @classmethod
    def _band_holds_set_point(cls, set_point_c: Decimal, info: ValidationInfo) -> Decimal:
        low, high = info.data.get("band_low_c"), info.data.get("band_high_c")
        if low is not None and high is not None and not low <= set_point_c <= high:
            raise ValueError(N_("set_point_c must lie between band_low_c and band_high_c"))
        return set_point_c


class RoomOut(BaseModel):
    id: int
    warehouse_id: int
    code: str
    name: str
    kind: AreaKind
    parent_room_id: int | None
    temperature_class: TemperatureClass
    set_point_c: float
    band_low_c: float
    band_high_c: float
    area_m2: int | None
    volume_m3: int | None
    virtual_warehouse_id: int | None

    @classmethod
    def of(cls, room: Room) -> RoomOut:
        return cls(
            id=room.id,
            warehouse_id=room.warehouse_id,
            code=room.code,
            name=room.name,
            kind=room.kind,
            parent_room_id=room.parent_room_id,
            temperature_class=room.temperature_class,
            set_point_c=mc_to_celsius(room.set_point_mc),
            band_low_c=mc_to_celsius(room.band_low_mc),
            band_high_c=mc_to_celsius(room.band_high_mc),
            area_m2=room.area_m2,
            volume_m3=room.volume_m3,
            virtual_warehouse_id=room.virtual_warehouse_id,
        )


class WarehouseOut(BaseModel):
    id: int
    code: str
    name: str
    keeper_org_id: int
    address: str
    city: str
    latitude: float | None
    longitude: float | None
    registry_code: str | None
    rooms: list[RoomOut]


class ReleaseWindowIn(Strict):
    weekdays: str = Field(
        pattern=r"^[1-7]{1,7}$", description="ISO weekdays, e.g. 12345 for Monday to Friday"
    )
    start: str = Field(description="Local time HH:MM")
    end: str = Field(description="Local time HH:MM, after start; 24:00 allowed")
    timezone: str = "Asia/Shanghai"
    note: str | None = Field(default=None, max_length=200)

    @field_validator("weekdays")
    @classmethod
    def _distinct_days(cls, value: str) -> str:
        if len(set(value)) != len(value):
            raise ValueError(N_("each weekday at most once"))
        return "".join(sorted(value))

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("end")
    @classmethod
    def _start_before_end(cls, end: str, info: ValidationInfo) -> str:
        start = info.data.get("start")
        if start is not None and parse_hhmm(start) >= parse_hhmm(end):
            raise ValueError(N_("start must be before end"))
        return end


class ReleaseWindowOut(BaseModel):
    id: int
    weekdays: str
    start: str
    end: str
    timezone: str
    note: str | None
    removed_at: datetime | None

    @classmethod
    def of(cls, window: ReleaseWindow) -> ReleaseWindowOut:
        return cls(
            id=window.id,
            weekdays=window.weekdays,
            start=format_hhmm(window.start_minute),
            end=format_hhmm(window.end_minute),
            timezone=window.timezone,
            note=window.note,
            removed_at=window.removed_at,
        )


class PolicyIn(Strict):
    """The next version of a policy: from parameters given in full, from the template of a
    temperature class, or as a copy of another policy version. Exactly one of the three."""

    parameters: PolicyParameters | None = None
    template: TemperatureClass | None = Field(
        default=None, description="Start from the template of this temperature class"
    )
    copy_from_policy_id: int | None = Field(
        strict=True, default=None, gt=0, le=MAX_ID, description="Copy this policy version's parameters"
    )
    temperature_class: TemperatureClass | None = Field(
        default=None,
        description="With parameters: the class the temperature line is for (else the previous "
        "version's, or the room's or commodity's own)",
    )
    reason: str = Field(
        min_length=2, max_length=500, description="Why the policy changes; kept in the audit trail"
    )

    @model_validator(mode="after")
    def _one_source(self) -> PolicyIn:
        given = [self.parameters is not None, self.template is not None, self.copy_from_policy_id is not None]
        if sum(given) != 1:
            raise ValueError(N_("give exactly one of parameters, template and copy_from_policy_id"))
        if self.temperature_class is not None and self.parameters is None:
            raise ValueError(
                N_("temperature_class goes with parameters; a template or a copy brings its own")
            )
        return self


class PolicyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    scope: PolicyScope
    scope_id: int
    ref: str = Field(
        validation_alias=AliasChoices("subject_ref", "ref"),
        description="supervision_policy:<scope>:<id>:v<version>",
    )
    virtual_warehouse_id: int | None
    temperature_class: TemperatureClass
    version: int
    parameters: dict[str, Any]
    reason: str
    created_by_user_id: int | None
    created_at: datetime


class PolicyTemplateOut(BaseModel):
    temperature_class: TemperatureClass
    ref: str
    parameters: dict[str, Any]


class PolicySourceOut(BaseModel):
    scope: str = Field(description="warehouse, virtual_warehouse, room, commodity or template")
    ref: str
    temperature_class: TemperatureClass
    scope_id: int | None
    policy_id: int | None
    version: int | None


class PolicyPartOut(BaseModel):
    part: str = Field(description="temperature, monitoring or pledge")
    fields: list[str]
    source: PolicySourceOut


class EffectivePolicyOut(BaseModel):
    room_id: int
    temperature_class: TemperatureClass
    ref: str = Field(description="The policy versions the parameters came from")
    parameters: dict[str, Any]
    parts: list[PolicyPartOut]


class VirtualWarehouseIn(Strict):
    code: str = Field(pattern=CODE_PATTERN)
    name: str = Field(min_length=2, max_length=200)
    warehouse_id: int = Field(strict=True, gt=0, le=MAX_ID)
    supervisor_org_id: int = Field(strict=True, gt=0, le=MAX_ID)
    room_ids: list[Annotated[int, Field(strict=True, gt=0, le=MAX_ID)]] = Field(min_length=1, max_length=500)
    mode: SupervisionMode = SupervisionMode.STATIC
    agreement_no: str | None = Field(default=None, max_length=64, description="质押监管协议编号")
    parameters: PolicyParameters | None = Field(
        default=None,
        validate_default=True,
        description="Initial policy; defaults follow the coldest room's temperature class",
    )

    @field_validator("parameters")
    @classmethod
    def _mode_and_policy_agree(
        cls, parameters: PolicyParameters | None, info: ValidationInfo
    ) -> PolicyParameters | None:
        mode = info.data.get("mode")
        # The defaults carry no minimum stock, and a dynamic pledge without one controls nothing.
        if parameters is None and mode is SupervisionMode.DYNAMIC:
            raise ValueError(N_("a dynamic pledge needs parameters with a minimum control value or quantity"))
        if parameters is not None and mode is not None and parameters.mode is not mode:
            raise ValueError(N_("mode and parameters.mode must be the same"))
        return parameters


class StaffIn(Strict):
    user_id: int = Field(strict=True, gt=0, le=MAX_ID)


class VirtualWarehouseOut(BaseModel):
    id: int
    code: str
    name: str
    warehouse_id: int
    supervisor_org_id: int
    mode: SupervisionMode
    status: VirtualWarehouseStatus
    agreement_no: str | None
    rooms: list[RoomOut]
    release_windows: list[ReleaseWindowOut]
    policy: PolicyOut | None
    staff_user_ids: list[int]


def warehouse_out(warehouse: Any, rooms: list[Room]) -> WarehouseOut:
    return WarehouseOut(
        id=warehouse.id,
        code=warehouse.code,
        name=warehouse.name,
        keeper_org_id=warehouse.keeper_org_id,
        address=warehouse.address,
        city=warehouse.city,
        latitude=e6_to_degrees(warehouse.latitude_e6),
        longitude=e6_to_degrees(warehouse.longitude_e6),
        registry_code=warehouse.registry_code,
        rooms=[RoomOut.of(room) for room in rooms],
    )
