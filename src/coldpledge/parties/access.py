"""``restrict(principal, action, Model)``: the one gate every query goes through.

A role without the permission sees nothing; otherwise the model's row-scope rule (``scopes``) is
applied, and the platform operator sees everything. ``obtain`` fetches one object: out of scope is
404 (its existence is not revealed), in scope but not permitted is 403.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.orm import Session

from coldpledge.errors import N_, InvalidInput, NotFound, PermissionDenied
from coldpledge.parties.policy import Principal
from coldpledge.parties.scopes import RULES

M = TypeVar("M")


def permission_of(model: type[Any], action: str) -> str:
    return f"{model.__permission__}:{action}"


def label_of(model: type[Any]) -> str:
    return str(getattr(model, "__label__", model.__name__))


def visible(principal: Principal, action: str, model: type[Any]) -> ColumnElement[bool]:
    if not principal.can(permission_of(model, action)):
        return false()
    if principal.is_operator:
        return true()
    return RULES[model](principal)


def restrict(principal: Principal, action: str, model: type[M]) -> Select[M]:
    """``SELECT model`` limited to the rows ``principal`` may ``action``."""
    return select(model).where(visible(principal, action, model))


def require(principal: Principal, permission: str) -> None:
    """Refuse (403) an action the principal's role never allows, before looking at any row."""
    if not principal.can(permission):
        raise PermissionDenied(N_("Your role may not do this."))


def obtain(
    session: Session,
    principal: Principal,
    model: type[M],
    ident: Any,
    action: str = "view",
    *,
    for_update: bool = False,
    key: Any = None,
    field: str | None = None,
) -> M:
    """The object with primary key (or ``key`` column value) ``ident``, if the principal may see it
    and may ``action`` it. ``field`` names the request-body field that referred to it: then a
    missing object is the request's fault (422 on that field) rather than a missing page (404)."""
    column = key if key is not None else model.id  # type: ignore[attr-defined]
    query = restrict(principal, "view", model).where(column == ident)
    if for_update:
        # The row may already sit in the session from an unlocked read made before waiting for
        # the lock; without populate_existing the ORM would keep those stale values and every
        # check after the lock would judge a state that another transaction has since changed.
        query = query.with_for_update(of=model).execution_options(populate_existing=True)
    found = session.scalars(query).first()
    if found is None:
        error = NotFound if field is None else InvalidInput
        raise error(N_("The {thing} {ident} was not found."), field=field, thing=label_of(model), ident=ident)
    if action != "view" and not principal.can(permission_of(model, action)):
        raise PermissionDenied(N_("Your role may not do this to a {thing}."), thing=label_of(model))
    return found
