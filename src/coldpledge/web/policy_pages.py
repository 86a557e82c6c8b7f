"""Supervision policy pages: the template of each temperature class, the policy each visible
warehouse, virtual warehouse, room and commodity has now, and a scope's page with its versions (a
room's also with the policy in force there and where each part came from) and the form that adds
its next version: from a template, as a copy of another version, or from parameters edited here.
The form builds the API's own ``PolicyIn``, so it refuses what the API refuses in the same words,
and ``supervision.set_policy`` decides who may, as for the API."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from pydantic import BaseModel, Field

from coldpledge.errors import N_, InvalidInput, NotFound
from coldpledge.inventory import service as inventory
from coldpledge.inventory.models import Commodity
from coldpledge.parties import service as parties
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.rules.policies import effective_policy
from coldpledge.warehouses import service as warehouses
from coldpledge.warehouses import supervision
from coldpledge.warehouses.models import (
    PolicyScope,
    Room,
    SupervisionMode,
    SupervisionPolicy,
    TemperatureClass,
    VirtualWarehouse,
    Warehouse,
)
from coldpledge.warehouses.policy import PolicyParameters, default_parameters, templates
from coldpledge.warehouses.schemas import PolicyIn
from coldpledge.warehouses.supervision import PolicyPart, part_fields, template_ref
from coldpledge.web.deps import PageUserDep, ReadSession, Uow
from coldpledge.web.forms import fen_from_yuan, form_model, grams_from_kg, optional
from coldpledge.web.templating import render

router = APIRouter(include_in_schema=False)

Target = Warehouse | VirtualWarehouse | Room | Commodity
MODELS: dict[PolicyScope, type[Any]] = {
    PolicyScope.WAREHOUSE: Warehouse,
    PolicyScope.VIRTUAL_WAREHOUSE: VirtualWarehouse,
    PolicyScope.ROOM: Room,
    PolicyScope.COMMODITY: Commodity,
}
# A room's permission is its warehouse's (``Room.__permission__``).
SET_PERMISSION = {
    PolicyScope.WAREHOUSE: "warehouse:set_policy",
    PolicyScope.VIRTUAL_WAREHOUSE: "virtual_warehouse:set_policy",
    PolicyScope.ROOM: "warehouse:set_policy",
    PolicyScope.COMMODITY: "commodity:set_policy",
}
SOURCES = ("parameters", "template", "copy")
# The temperature lines the form edits, in degrees; the rule keeps milli-degrees.
LINES = ("warning_above", "warning_below", "critical_above", "critical_below")
# Whole numbers the form edits as they are kept.
COUNTS = (
    "door_open_max_minutes",
    "device_offline_intervals",
    "stocktake_interval_days",
    "expiry_warning_days",
)


@dataclass(frozen=True)
class ScopeRow:
    """One warehouse, virtual warehouse, room or commodity and the latest version of its policy."""

    scope: PolicyScope
    target: Target
    label: str
    policy: SupervisionPolicy | None

    @property
    def href(self) -> str:
        return f"/policies/{self.scope.value}/{self.target.id}"


class PolicyForm(BaseModel):
    """The fields of the new-version form, as typed; ``_policy_in`` turns them into ``PolicyIn``."""

    source: str = Field(default="parameters", max_length=16)
    template: str = Field(default="", max_length=16)
    copy_from_policy_id: str = Field(default="", max_length=20)
    temperature_class: str = Field(default="", max_length=16)
    reason: str = Field(default="", max_length=500)
    warning_above: str = Field(default="", max_length=16)
    warning_below: str = Field(default="", max_length=16)
    warning_minutes: str = Field(default="", max_length=10)
    critical_above: str = Field(default="", max_length=16)
    critical_below: str = Field(default="", max_length=16)
    critical_minutes: str = Field(default="", max_length=10)
    door_open_max_minutes: str = Field(default="", max_length=10)
    device_offline_intervals: str = Field(default="", max_length=10)
    stocktake_interval_days: str = Field(default="", max_length=10)
    expiry_warning_days: str = Field(default="", max_length=10)
    mode: str = Field(default="", max_length=16)
    min_control_value_yuan: str = Field(default="", max_length=32)
    min_control_quantity_kg: str = Field(default="", max_length=32)
    ltv_warning_pct: str = Field(default="", max_length=16)
    ltv_liquidation_pct: str = Field(default="", max_length=16)
    price_stale_business_days: str = Field(default="", max_length=10)


def _label(target: Target, warehouse_codes: dict[int, str]) -> str:
    if isinstance(target, Room) and target.warehouse_id in warehouse_codes:
        return f"{warehouse_codes[target.warehouse_id]} · {target.code} {target.name}"
    return f"{target.code} {target.name}"


def _rows(session: ReadSession, principal: Principal) -> list[ScopeRow]:
    """Every scope the viewer sees, with the latest version of its own policy (if it has one)."""
    found = warehouses.list_warehouses(session, principal)
    codes = {warehouse.id: warehouse.code for warehouse in found}
    targets: list[tuple[PolicyScope, Target]] = [(PolicyScope.WAREHOUSE, w) for w in found]
    targets += [
        (PolicyScope.VIRTUAL_WAREHOUSE, vw) for vw in warehouses.list_virtual_warehouses(session, principal)
    ]
    targets += [
        (PolicyScope.ROOM, room)
        for warehouse in found
        for room in warehouses.visible_rooms(session, principal, warehouse.id)
    ]
    targets += [(PolicyScope.COMMODITY, c) for c in inventory.list_commodities(session, principal)]
    return [
        ScopeRow(scope, target, _label(target, codes), supervision.latest(session, scope, target.id))
        for scope, target in targets
    ]


def _scope_of(text: str) -> PolicyScope:
    try:
        return PolicyScope(text)
    except ValueError:
        raise NotFound(N_("Nothing here.")) from None


def _class_of(target: Target) -> TemperatureClass | None:
    return target.temperature_class if isinstance(target, Room | Commodity) else None


def _base(history: list[SupervisionPolicy], target: Target, wanted: str = "") -> dict[str, Any]:
    """What a new version starts from: the scope's latest version, else a template (the class
    asked for, the room's or commodity's own, or frozen)."""
    if history:
        # Read through the model, so a version stored before a parameter existed has its default.
        return PolicyParameters.model_validate(history[-1].parameters).model_dump(mode="json")
    chosen = (
        TemperatureClass(wanted)
        if wanted in {c.value for c in TemperatureClass}
        else _class_of(target) or TemperatureClass.FROZEN
    )
    return default_parameters(chosen).model_dump(mode="json")


def _decimal_text(value: int | None, places: int) -> str:
    if value is None:
        return ""
    return format(Decimal(value).scaleb(-places).normalize(), "f")


def _form_values(parameters: dict[str, Any]) -> dict[str, str]:
    """The form's fields filled in from ``parameters``, in the units people type."""
    line = parameters["temperature"]
    values = {name: _decimal_text(line.get(f"{name}_mc"), 3) for name in LINES}
    values |= {name: str(line[name]) for name in ("warning_minutes", "critical_minutes")}
    values |= {name: str(parameters[name]) for name in (*COUNTS, "price_stale_business_days")}
    values["mode"] = parameters["mode"]
    values["min_control_value_yuan"] = _decimal_text(parameters.get("min_control_value_fen"), 2)
    values["min_control_quantity_kg"] = _decimal_text(parameters.get("min_control_quantity_g"), 3)
    values["ltv_warning_pct"] = _decimal_text(parameters["ltv_warning_bp"], 2)
    values["ltv_liquidation_pct"] = _decimal_text(parameters["ltv_liquidation_bp"], 2)
    return values


def _scaled(text: str, places: int, field: str, message: str) -> int | None:
    """``text`` times 10**places, or None when left empty; refused rather than rounded."""
    cleaned = text.replace(",", "").replace("−", "-").strip()
    if not cleaned:
        return None
    try:
        amount = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput(message, field=field) from None
    scaled = amount.scaleb(places)
    if not amount.is_finite() or scaled != scaled.to_integral_value():
        raise InvalidInput(message, field=field)
    return int(scaled)


def _whole(text: str) -> str | None:
    return text.strip() or None


def _edited(base: dict[str, Any], form: PolicyForm) -> dict[str, Any]:
    """``base`` with the form's fields written over it; what the form does not show is kept."""
    degrees = N_("Enter a temperature in °C, such as -18.5.")
    percent = N_("Enter a percentage, such as 80 or 82.5.")
    line = dict(base["temperature"])
    for name in LINES:
        line[f"{name}_mc"] = _scaled(getattr(form, name), 3, name, degrees)
    line["warning_minutes"] = _whole(form.warning_minutes)
    line["critical_minutes"] = _whole(form.critical_minutes)
    edited = {**base, "temperature": line}
    for name in (*COUNTS, "price_stale_business_days"):
        edited[name] = _whole(getattr(form, name))
    edited["mode"] = form.mode.strip() or None
    value, quantity = optional(form.min_control_value_yuan), optional(form.min_control_quantity_kg)
    edited["min_control_value_fen"] = fen_from_yuan(value, "min_control_value_yuan") if value else None
    edited["min_control_quantity_g"] = (
        grams_from_kg(quantity, "min_control_quantity_kg") if quantity else None
    )
    edited["ltv_warning_bp"] = _scaled(form.ltv_warning_pct, 2, "ltv_warning_pct", percent)
    edited["ltv_liquidation_bp"] = _scaled(form.ltv_liquidation_pct, 2, "ltv_liquidation_pct", percent)
    return edited


def _policy_in(form: PolicyForm, history: list[SupervisionPolicy], target: Target) -> PolicyIn:
    if form.source == "template":
        return form_model(PolicyIn, template=optional(form.template), reason=form.reason)
    if form.source == "copy":
        stripped = form.copy_from_policy_id.strip()
        chosen: int | str | None = int(stripped) if stripped.isdigit() else (stripped or None)
        return form_model(PolicyIn, copy_from_policy_id=chosen, reason=form.reason)
    if form.source == "parameters":
        return form_model(
            PolicyIn,
            parameters=_edited(_base(history, target, form.temperature_class.strip()), form),
            temperature_class=optional(form.temperature_class),
            reason=form.reason,
        )
    raise InvalidInput(N_("Choose what the new version starts from."), field="source")


def _scope(
    session: ReadSession, principal: Principal, scope_text: str, scope_id: int
) -> tuple[PolicyScope, Target, list[SupervisionPolicy]]:
    """The scope, what it is attached to and its versions; 404 for what the viewer cannot see."""
    scope = _scope_of(scope_text)
    history = supervision.history(session, principal, scope, scope_id)
    return scope, obtain(session, principal, MODELS[scope], scope_id), history


@router.get("/policies")
def policy_list(request: Request, user: PageUserDep, session: ReadSession) -> Response:
    principal = user.principal
    rows = _rows(session, principal)
    return render(
        request,
        "policies/list.html",
        user=user,
        templates=[
            (temperature_class, template_ref(temperature_class), parameters.model_dump(mode="json"))
            for temperature_class, parameters in templates().items()
        ],
        groups=[(scope, [row for row in rows if row.scope is scope]) for scope in PolicyScope],
        may_set={scope: principal.can(permission) for scope, permission in SET_PERMISSION.items()},
    )


@router.get("/policies/{scope}/{scope_id}")
def policy_page(
    scope: str, scope_id: int, request: Request, user: PageUserDep, session: ReadSession
) -> Response:
    principal = user.principal
    found, target, history = _scope(session, principal, scope, scope_id)
    may_set = principal.can(SET_PERMISSION[found])
    effective = effective_policy(session, principal, target.id) if found is PolicyScope.ROOM else None
    people = {person.id: person for person in parties.list_users(session, principal)}
    # What a new version may be copied from: this scope's versions, the others' latest.
    own = {policy.id for policy in history}
    others = (
        [row.policy for row in _rows(session, principal) if row.policy and row.policy.id not in own]
        if may_set
        else []
    )
    return render(
        request,
        "policies/scope.html",
        user=user,
        scope=found,
        target=target,
        label=_label(target, {}),
        history=list(reversed(history)),
        current=history[-1] if history else None,
        effective=effective,
        parts=[(part, part_fields(part)) for part in PolicyPart],
        people=people,
        may_set=may_set,
        values=_form_values(_base(history, target)),
        classes=list(TemperatureClass),
        modes=list(SupervisionMode),
        copies=[*reversed(history), *others],
    )


@router.post("/policies/{scope}/{scope_id}")
def set_policy(
    scope: str,
    scope_id: int,
    user: PageUserDep,
    session: ReadSession,
    uow: Uow,
    form: Annotated[PolicyForm, Form()],
) -> Response:
    found, target, history = _scope(session, user.principal, scope, scope_id)
    supervision.set_policy(uow, user.principal, found, scope_id, _policy_in(form, history, target))
    return Response(status_code=201, headers={"HX-Refresh": "true"})
