"""HTTP routes of supervision policies: templates, the versions of a warehouse's, a room's or a
commodity's policy, and the policy in force in a room. A virtual warehouse's are under
``/virtual-warehouses/{vw_id}/policies`` (``warehouses.api``)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, status

from coldpledge.rules.policies import EffectivePolicy, effective_policy
from coldpledge.warehouses import supervision
from coldpledge.warehouses.models import PolicyScope
from coldpledge.warehouses.policy import templates
from coldpledge.warehouses.schemas import (
    EffectivePolicyOut,
    PolicyIn,
    PolicyOut,
    PolicyPartOut,
    PolicySourceOut,
    PolicyTemplateOut,
)
from coldpledge.warehouses.supervision import PolicyPart, part_fields, template_ref
from coldpledge.web.deps import CurrentPrincipal, ReadSession, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["supervision policies"])


@router.get("/policy-templates", response_model=list[PolicyTemplateOut], responses=errors(401))
def list_templates(principal: CurrentPrincipal) -> list[PolicyTemplateOut]:
    """The template of each temperature class, from which a scope's first policy is copied."""
    return [
        PolicyTemplateOut(
            temperature_class=temperature_class,
            ref=template_ref(temperature_class),
            parameters=parameters.model_dump(mode="json"),
        )
        for temperature_class, parameters in templates().items()
    ]


def _history(
    scope: PolicyScope, scope_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[PolicyOut]:
    return [
        PolicyOut.model_validate(policy)
        for policy in supervision.history(session, principal, scope, scope_id)
    ]


def _set(
    scope: PolicyScope, scope_id: int, data: PolicyIn, uow: Uow, principal: CurrentPrincipal
) -> PolicyOut:
    return PolicyOut.model_validate(supervision.set_policy(uow, principal, scope, scope_id, data))


@router.get("/warehouses/{warehouse_id}/policies", response_model=list[PolicyOut], responses=errors(401, 404))
def warehouse_policies(
    warehouse_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[PolicyOut]:
    return _history(PolicyScope.WAREHOUSE, warehouse_id, session, principal)


@router.post(
    "/warehouses/{warehouse_id}/policies",
    response_model=PolicyOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def set_warehouse_policy(
    warehouse_id: int, data: PolicyIn, uow: Uow, principal: CurrentPrincipal
) -> PolicyOut:
    """The next version of a warehouse's policy: its supervisor's, if it supervises it all."""
    return _set(PolicyScope.WAREHOUSE, warehouse_id, data, uow, principal)


@router.get("/rooms/{room_id}/policies", response_model=list[PolicyOut], responses=errors(401, 404))
def room_policies(room_id: int, session: ReadSession, principal: CurrentPrincipal) -> list[PolicyOut]:
    return _history(PolicyScope.ROOM, room_id, session, principal)


@router.post(
    "/rooms/{room_id}/policies",
    response_model=PolicyOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def set_room_policy(room_id: int, data: PolicyIn, uow: Uow, principal: CurrentPrincipal) -> PolicyOut:
    """The next version of a room's own policy, which comes before every other in that room."""
    return _set(PolicyScope.ROOM, room_id, data, uow, principal)


@router.get(
    "/commodities/{commodity_id}/policies", response_model=list[PolicyOut], responses=errors(401, 404)
)
def commodity_policies(
    commodity_id: int, session: ReadSession, principal: CurrentPrincipal
) -> list[PolicyOut]:
    return _history(PolicyScope.COMMODITY, commodity_id, session, principal)


@router.post(
    "/commodities/{commodity_id}/policies",
    response_model=PolicyOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 404, 422),
)
def set_commodity_policy(
    commodity_id: int, data: PolicyIn, uow: Uow, principal: CurrentPrincipal
) -> PolicyOut:
    """The next version of a commodity's policy, in force wherever its goods are pledged."""
    return _set(PolicyScope.COMMODITY, commodity_id, data, uow, principal)


@router.get(
    "/rooms/{room_id}/effective-policy", response_model=EffectivePolicyOut, responses=errors(401, 404)
)
def room_effective_policy(
    room_id: int, session: ReadSession, principal: CurrentPrincipal
) -> EffectivePolicyOut:
    """The parameters the rules judge the room by, and the policy version each part came from."""
    return _effective_out(effective_policy(session, principal, room_id))


def _effective_out(found: EffectivePolicy) -> EffectivePolicyOut:
    return EffectivePolicyOut(
        room_id=found.room_id,
        temperature_class=found.temperature_class,
        ref=found.ref,
        parameters=found.parameters.model_dump(mode="json"),
        parts=[
            PolicyPartOut(
                part=part.value,
                fields=list(part_fields(part)),
                source=PolicySourceOut(**asdict(found.sources[part])),
            )
            for part in PolicyPart
        ],
    )
