"""Supervision policies attached to a warehouse, a virtual warehouse, a room or a commodity.

Each scope keeps its own numbered versions; a change adds the next version with a reason, and its
audit event carries the previous version as ``before``, so the trail shows the old and the new
values side by side. A scope's first version starts as a copy of the template of a temperature
class or of another policy version (or from parameters given in full).

A policy's parameters fall into three parts (``PolicyPart``), which ``rules.policies`` resolves
for a room each from its own chain:

- the temperature line (``temperature``): the band, durations, rate of rise, MKT;
- the pledge terms (``PLEDGE_FIELDS``): mode, stock floor, LTV lines, price staleness. They belong
  to the supervision agreement, so copying a template or another policy into a scope that has a
  policy already keeps the scope's pledge terms;
- the monitoring parameters: everything else (door, offline, sensor faults, tolerances, expiry,
  recipients, condition hygiene), including any parameter added later.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldpledge.audit.snapshot import snapshot
from coldpledge.choices import Choice, present
from coldpledge.errors import N_, InvalidInput, PermissionDenied
from coldpledge.inventory.models import Commodity
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.uow import UnitOfWork
from coldpledge.warehouses.models import (
    POLICY_SCOPE_COLUMNS,
    PolicyScope,
    Room,
    SupervisionPolicy,
    TemperatureClass,
    VirtualWarehouse,
    Warehouse,
)
from coldpledge.warehouses.policy import PolicyParameters, default_parameters
from coldpledge.warehouses.schemas import PolicyIn


@present(
    {
        "temperature": N_("Temperature line"),
        "monitoring": N_("Monitoring parameters"),
        "pledge": N_("Pledge terms"),
    }
)
class PolicyPart(Choice):
    TEMPERATURE = "temperature"
    MONITORING = "monitoring"
    PLEDGE = "pledge"


PLEDGE_FIELDS = (
    "mode",
    "min_control_value_fen",
    "min_control_quantity_g",
    "ltv_warning_bp",
    "ltv_liquidation_bp",
    "price_stale_business_days",
)


def part_fields(part: PolicyPart) -> tuple[str, ...]:
    """The parameter names of one part; a parameter nobody placed is a monitoring parameter."""
    if part is PolicyPart.TEMPERATURE:
        return ("temperature",)
    if part is PolicyPart.PLEDGE:
        return PLEDGE_FIELDS
    placed = {"temperature", *PLEDGE_FIELDS}
    return tuple(name for name in PolicyParameters.model_fields if name not in placed)


def template_ref(temperature_class: TemperatureClass) -> str:
    return f"policy_template:{temperature_class.value}"


Target = Warehouse | VirtualWarehouse | Room | Commodity
_MODELS: dict[PolicyScope, type[Any]] = {
    PolicyScope.WAREHOUSE: Warehouse,
    PolicyScope.VIRTUAL_WAREHOUSE: VirtualWarehouse,
    PolicyScope.ROOM: Room,
    PolicyScope.COMMODITY: Commodity,
}


# --- reading ----------------------------------------------------------------------------------


def latest(session: Session, scope: PolicyScope, scope_id: int) -> SupervisionPolicy | None:
    column = getattr(SupervisionPolicy, POLICY_SCOPE_COLUMNS[scope])
    return session.scalars(
        select(SupervisionPolicy)
        .where(column == scope_id)
        .order_by(SupervisionPolicy.version.desc())
        .limit(1)
    ).first()


def history(
    session: Session, principal: Principal, scope: PolicyScope, scope_id: int
) -> list[SupervisionPolicy]:
    """Every version of a scope's policy, oldest first; 404 for a scope the caller cannot see."""
    obtain(session, principal, _MODELS[scope], scope_id)
    column = getattr(SupervisionPolicy, POLICY_SCOPE_COLUMNS[scope])
    return list(
        session.scalars(
            select(SupervisionPolicy).where(column == scope_id).order_by(SupervisionPolicy.version)
        )
    )


# --- changing ---------------------------------------------------------------------------------


def set_policy(
    uow: UnitOfWork, principal: Principal, scope: PolicyScope, scope_id: int, data: PolicyIn
) -> SupervisionPolicy:
    """Add the next version of a scope's policy. Who may: the supervision manager of the virtual
    warehouse a room is in (or of every virtual warehouse in a warehouse), the platform operator
    for a commodity, whose policy applies wherever its goods are pledged."""
    with uow:
        target = obtain(uow.session, principal, _MODELS[scope], scope_id, "set_policy", for_update=True)
        if isinstance(target, Warehouse):
            _supervises_the_whole_warehouse(uow.session, principal, target)
        policy = add_version(uow, principal, target, data)
        if isinstance(target, VirtualWarehouse):
            _follow_mode(uow, principal, target, policy, data.reason)
        uow.commit()
        return policy


def _follow_mode(
    uow: UnitOfWork, principal: Principal, vw: VirtualWarehouse, policy: SupervisionPolicy, reason: str
) -> None:
    """A virtual warehouse's own row carries the mode of its policy; its evidence must say so."""
    mode = PolicyParameters.model_validate(policy.parameters).mode
    if vw.mode != mode:
        before = snapshot(vw)
        vw.mode = mode
        uow.record(
            principal,
            "virtual_warehouse.set_mode",
            vw,
            before=before,
            reason=reason,
            related=[policy.subject_ref],
        )


def add_version(
    uow: UnitOfWork,
    principal: Principal,
    target: Target,
    data: PolicyIn,
    *,
    temperature_class: TemperatureClass | None = None,
) -> SupervisionPolicy:
    """The next version of ``target``'s policy from ``data``, recorded; inside the caller's unit.
    ``temperature_class`` is the class to assume when neither the body nor an earlier version
    names one."""
    scope = _scope_of(target)
    previous = latest(uow.session, scope, target.id)
    parameters, written_for, source = _parameters_of(uow.session, principal, data)
    if source is not None and previous is not None:
        # Pledge terms are the agreement's: a template or a copy carries none of its own.
        kept = PolicyParameters.model_validate(previous.parameters)
        parameters = parameters.model_copy(update={name: getattr(kept, name) for name in PLEDGE_FIELDS})
    written_for = (
        written_for
        or temperature_class
        or (previous.temperature_class if previous is not None else None)
        or _class_of(target)
    )
    if written_for is None:
        raise InvalidInput(
            N_("Name the temperature class this policy's temperature line is for."),
            field="temperature_class",
        )
    policy = SupervisionPolicy(
        version=(previous.version + 1) if previous is not None else 1,
        temperature_class=written_for,
        parameters=parameters.model_dump(mode="json"),
        reason=data.reason,
        created_by_user_id=principal.user_id,
        created_at=uow.now(),
    )
    setattr(policy, POLICY_SCOPE_COLUMNS[scope], target.id)
    uow.session.add(policy)
    uow.record(
        principal,
        "supervision_policy.set",
        policy,
        before=snapshot(previous) if previous is not None else None,
        reason=data.reason,
        related=[target.subject_ref, *([source] if source else [])],
        data={"copied_from": source} if source else None,
    )
    return policy


def _parameters_of(
    session: Session, principal: Principal, data: PolicyIn
) -> tuple[PolicyParameters, TemperatureClass | None, str | None]:
    """The parameters a body asks for, the class they were written for (if it says) and the ref
    of what they were copied from (if they were)."""
    if data.template is not None:
        return default_parameters(data.template), data.template, template_ref(data.template)
    if data.copy_from_policy_id is not None:
        source = obtain(
            session, principal, SupervisionPolicy, data.copy_from_policy_id, field="copy_from_policy_id"
        )
        copied = PolicyParameters.model_validate(source.parameters)
        return copied, source.temperature_class, source.subject_ref
    assert data.parameters is not None  # the schema asks for exactly one of the three
    return data.parameters, data.temperature_class, None


def _supervises_the_whole_warehouse(session: Session, principal: Principal, warehouse: Warehouse) -> None:
    """A warehouse's policy reaches every room in it, so only an organisation supervising every
    virtual warehouse there may set it; where two supervisors share a warehouse, each sets the
    policies of its own virtual warehouses and rooms."""
    others = session.scalar(
        select(func.count()).where(
            VirtualWarehouse.warehouse_id == warehouse.id,
            VirtualWarehouse.supervisor_org_id != principal.org_id,
        )
    )
    if others:
        raise PermissionDenied(
            N_(
                "Another organisation supervises part of this warehouse: set the policy of your "
                "virtual warehouses or rooms instead."
            )
        )


def _scope_of(target: Target) -> PolicyScope:
    for scope, model in _MODELS.items():
        if isinstance(target, model):
            return scope
    raise TypeError(f"no supervision policy attaches to {type(target).__name__}")


def _class_of(target: Target) -> TemperatureClass | None:
    """A room's or a commodity's own class; a warehouse or virtual warehouse has none."""
    if isinstance(target, Room | Commodity):
        return target.temperature_class
    return None
