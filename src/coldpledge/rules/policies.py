"""The supervision policy in force in each room, put together from the policies attached to it.

A room's parameters come in three parts (``warehouses.supervision.PolicyPart``), each taken from
the first of its chain that has a policy:

- temperature line: the room's policy (a zone without one: its parent room's) > the commodity
  policy of the goods pledged in the room > the virtual warehouse's policy > the warehouse's
  policy > the template of the room's temperature class. A virtual warehouse's or a warehouse's
  line counts only for rooms of the class it was written for (``SupervisionPolicy
  .temperature_class``): a virtual warehouse mixing frozen and deep-frozen rooms judges each room
  by a line for its own class. A room's or a commodity's line counts whatever the room's class:
  deep-frozen goods in a frozen room must be judged as deep-frozen goods.
- monitoring parameters (door, offline, sensor faults, tolerances, expiry, hygiene): the same
  chain, without the class condition.
- pledge terms (mode, stock floor, LTV lines, price staleness): the virtual warehouse's policy >
  the warehouse's > the template. They belong to the supervision agreement, not to a room or a
  commodity.

The goods pledged in a room are its lots in stock or on hold whose receipt has a live pledge
(requested or active). When their commodities carry different policies, the strictest
temperature line wins, and its policy gives the monitoring parameters too. Strictest: the line
that warns at the lowest temperature on the way up; on a tie the lower critical line, then the
higher lines on the way down (chilled goods that must not freeze), then the shorter warning and
critical durations, and finally the oldest policy, so the answer never depends on query order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from coldpledge.inventory.models import Lot, LotStatus
from coldpledge.parties.access import obtain
from coldpledge.parties.policy import Principal
from coldpledge.receipts.models import LIVE_PLEDGE, Pledge, Receipt
from coldpledge.warehouses.models import PolicyScope, Room, SupervisionPolicy, TemperatureClass, policy_ref
from coldpledge.warehouses.policy import PolicyParameters, TemperatureRule, default_parameters
from coldpledge.warehouses.supervision import PLEDGE_FIELDS, PolicyPart, template_ref

TEMPLATE = "template"
_STORED = (LotStatus.IN_STOCK, LotStatus.ON_HOLD)
_UNBOUNDED = 10**9


@dataclass(frozen=True)
class PolicySource:
    """Where one part of a room's parameters came from: a policy version, or a template."""

    scope: str  # a PolicyScope value, or "template"
    ref: str  # "supervision_policy:room:12:v3" or "policy_template:frozen"
    temperature_class: TemperatureClass
    scope_id: int | None = None
    policy_id: int | None = None
    version: int | None = None


@dataclass(frozen=True)
class EffectivePolicy:
    room_id: int
    temperature_class: TemperatureClass
    parameters: PolicyParameters
    sources: dict[PolicyPart, PolicySource]
    virtual_warehouse_id: int | None = None

    @property
    def ref(self) -> str:
        """The one version every part came from, or ``temperature=…;monitoring=…;pledge=…``."""
        refs = {source.ref for source in self.sources.values()}
        if len(refs) == 1:
            return refs.pop()
        return ";".join(f"{part.value}={self.sources[part].ref}" for part in PolicyPart)


@dataclass(frozen=True)
class _Version:
    source: PolicySource
    parameters: PolicyParameters


def parameters_for_rooms(
    session: Session, room_ids: Iterable[int]
) -> dict[int, tuple[PolicyParameters, str]]:
    """For each room (rooms that do not exist are left out): the parameters in force and a ref
    naming the policy versions they came from, for an alert to say which version fired. Three
    queries whatever the number of rooms."""
    return {
        room: (found.parameters, found.ref) for room, found in effective_policies(session, room_ids).items()
    }


def effective_policies(session: Session, room_ids: Iterable[int]) -> dict[int, EffectivePolicy]:
    """As ``parameters_for_rooms``, with where each part came from."""
    wanted = sorted(set(room_ids))
    if not wanted:
        return {}
    rooms = session.execute(
        select(
            Room.id, Room.parent_room_id, Room.virtual_warehouse_id, Room.warehouse_id, Room.temperature_class
        )
        .where(Room.id.in_(wanted))
        .order_by(Room.id)
    ).all()
    pledged: dict[int, set[int]] = defaultdict(set)
    for room_id, commodity_id in session.execute(
        select(Lot.room_id, Lot.commodity_id)
        .distinct()
        .join(Receipt, Receipt.lot_id == Lot.id)
        .join(Pledge, Pledge.receipt_id == Receipt.id)
        .where(Lot.room_id.in_(wanted), Lot.status.in_(_STORED), Pledge.status.in_(LIVE_PLEDGE))
    ):
        pledged[room_id].add(commodity_id)
    parents = {room.parent_room_id for room in rooms if room.parent_room_id is not None}
    versions = _latest_versions(
        session,
        {
            PolicyScope.ROOM: {room.id for room in rooms} | parents,
            PolicyScope.COMMODITY: set().union(*pledged.values()),
            PolicyScope.VIRTUAL_WAREHOUSE: {
                room.virtual_warehouse_id for room in rooms if room.virtual_warehouse_id is not None
            },
            PolicyScope.WAREHOUSE: {room.warehouse_id for room in rooms},
        },
    )
    templates: dict[TemperatureClass, _Version] = {}
    found = {}
    for room in rooms:
        own = versions.get((PolicyScope.ROOM, room.id)) or versions.get(
            (PolicyScope.ROOM, room.parent_room_id)
        )
        commodities = [(PolicyScope.COMMODITY, commodity) for commodity in pledged[room.id]]
        goods = _strictest([versions[key] for key in commodities if key in versions])
        supervised = versions.get((PolicyScope.VIRTUAL_WAREHOUSE, room.virtual_warehouse_id))
        building = versions.get((PolicyScope.WAREHOUSE, room.warehouse_id))
        if room.temperature_class not in templates:
            templates[room.temperature_class] = _template(room.temperature_class)
        template = templates[room.temperature_class]
        for_class = [
            v for v in (supervised, building) if v and v.source.temperature_class is room.temperature_class
        ]
        chosen = {
            PolicyPart.TEMPERATURE: _first(own, goods, *for_class) or template,
            PolicyPart.MONITORING: _first(own, goods, supervised, building) or template,
            PolicyPart.PLEDGE: _first(supervised, building) or template,
        }
        found[room.id] = EffectivePolicy(
            room_id=room.id,
            temperature_class=room.temperature_class,
            parameters=_assemble(chosen),
            sources={part: version.source for part, version in chosen.items()},
            virtual_warehouse_id=room.virtual_warehouse_id,
        )
    return found


def effective_policy(session: Session, principal: Principal, room_id: int) -> EffectivePolicy:
    """A room's policy in force, for whoever sees the room (404 for anyone else)."""
    room = obtain(session, principal, Room, room_id)
    return effective_policies(session, [room.id])[room.id]


def strictness(rule: TemperatureRule) -> tuple[int, ...]:
    """Sorts the strictest temperature line first (see the module's docstring)."""
    return (
        rule.warning_above_mc if rule.warning_above_mc is not None else _UNBOUNDED,
        rule.critical_above_mc if rule.critical_above_mc is not None else _UNBOUNDED,
        -rule.warning_below_mc if rule.warning_below_mc is not None else _UNBOUNDED,
        -rule.critical_below_mc if rule.critical_below_mc is not None else _UNBOUNDED,
        rule.warning_minutes,
        rule.critical_minutes,
    )


def _latest_versions(
    session: Session, wanted: dict[PolicyScope, set[int]]
) -> dict[tuple[PolicyScope, int], _Version]:
    """The latest version of each wanted scope's policy, in one query. A row read before (the
    same id, scope, class, version and parameters' text) is not validated again: the ingest asks
    for every chunk, and validating the parameters was most of the cost."""
    columns = {
        PolicyScope.ROOM: SupervisionPolicy.room_id,
        PolicyScope.COMMODITY: SupervisionPolicy.commodity_id,
        PolicyScope.VIRTUAL_WAREHOUSE: SupervisionPolicy.virtual_warehouse_id,
        PolicyScope.WAREHOUSE: SupervisionPolicy.warehouse_id,
    }
    conditions = [columns[scope].in_(sorted(ids)) for scope, ids in wanted.items() if ids]
    if not conditions:
        return {}
    # Exactly one scope column is set in each row, so the four together partition by scope.
    ranked = (
        select(
            SupervisionPolicy.id,
            *columns.values(),
            SupervisionPolicy.temperature_class,
            SupervisionPolicy.version,
            cast(SupervisionPolicy.parameters, Text).label("parameters"),
            func.row_number()
            .over(partition_by=tuple(columns.values()), order_by=SupervisionPolicy.version.desc())
            .label("rank"),
        )
        .where(or_(*conditions))
        .subquery()
    )
    versions = {}
    for row in session.execute(select(*(c for c in ranked.c if c.name != "rank")).where(ranked.c.rank == 1)):
        key = tuple(row)
        found = _VERSIONS.get(key)
        if found is None:
            policy_id, *scope_ids, temperature_class, version, parameters = key
            scope, scope_id = next(
                (scope, ident) for scope, ident in zip(columns, scope_ids, strict=True) if ident is not None
            )
            source = PolicySource(
                scope=scope.value,
                ref=policy_ref(scope, scope_id, version),
                temperature_class=TemperatureClass(temperature_class),
                scope_id=scope_id,
                policy_id=policy_id,
                version=version,
            )
            if len(_VERSIONS) > 10_000:
                _VERSIONS.clear()
            parsed = PolicyParameters.model_validate(json.loads(parameters))
            found = _VERSIONS[key] = (scope, scope_id, _Version(source, parsed))
        versions[(found[0], found[1])] = found[2]
    return versions


# Policy rows read so far, by all their columns (the parameters as text): no stale answer is
# possible, even from another database or a rolled-back row whose id came again. Shared by the
# threads of a process: a dictionary's get and set are atomic.
_VERSIONS: dict[tuple[Any, ...], tuple[PolicyScope, int, _Version]] = {}


def _template(temperature_class: TemperatureClass) -> _Version:
    found = _TEMPLATES.get(temperature_class)
    if found is None:
        source = PolicySource(
            scope=TEMPLATE, ref=template_ref(temperature_class), temperature_class=temperature_class
        )
        found = _TEMPLATES[temperature_class] = _Version(source, default_parameters(temperature_class))
    return found


_TEMPLATES: dict[TemperatureClass, _Version] = {}


def _strictest(candidates: list[_Version]) -> _Version | None:
    if not candidates:
        return None
    return min(candidates, key=lambda v: (strictness(v.parameters.temperature), v.source.policy_id or 0))


def _first(*candidates: _Version | None) -> _Version | None:
    return next((candidate for candidate in candidates if candidate is not None), None)


def _assemble(chosen: dict[PolicyPart, _Version]) -> PolicyParameters:
    base = chosen[PolicyPart.MONITORING].parameters
    update: dict[str, object] = {}
    if chosen[PolicyPart.TEMPERATURE] is not chosen[PolicyPart.MONITORING]:
        update["temperature"] = chosen[PolicyPart.TEMPERATURE].parameters.temperature
    if chosen[PolicyPart.PLEDGE] is not chosen[PolicyPart.MONITORING]:
        pledge = chosen[PolicyPart.PLEDGE].parameters
        update.update({name: getattr(pledge, name) for name in PLEDGE_FIELDS})
    return base.model_copy(update=update) if update else base
