"""HTTP routes of the parties context: tokens, the caller, organisations and users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from fastapi.security import OAuth2PasswordRequestForm

from coldpledge.parties import service
from coldpledge.parties.schemas import MeOut, OrganisationIn, OrganisationOut, TokenOut, UserIn, UserOut
from coldpledge.web.deps import CurrentPrincipal, ReadSession, RuntimeDep, Uow
from coldpledge.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["parties"])


@router.post("/auth/token", response_model=TokenOut, responses=errors(401, 422, 429))
def issue_token(form: Annotated[OAuth2PasswordRequestForm, Depends()], uow: Uow, rt: RuntimeDep) -> TokenOut:
    """OAuth2 password flow: exchange a username and password for a bearer token."""
    token = service.issue_token(uow, rt.settings, form.username, form.password)
    return TokenOut(access_token=token.token, expires_in=rt.settings.access_token_minutes * 60)


@router.get("/me", response_model=MeOut, responses=errors(401))
def me(principal: CurrentPrincipal) -> MeOut:
    return MeOut(
        user_id=principal.user_id,
        username=principal.username,
        display_name=principal.display_name,
        organisation_id=principal.org_id,
        party_type=principal.party_type,
        role=principal.role,
        permissions=service.permissions_of(principal),
    )


@router.get("/organisations", response_model=list[OrganisationOut], responses=errors(401))
def list_organisations(session: ReadSession, principal: CurrentPrincipal) -> list[OrganisationOut]:
    return [OrganisationOut.model_validate(org) for org in service.list_organisations(session, principal)]


@router.post(
    "/organisations",
    response_model=OrganisationOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
def create_organisation(data: OrganisationIn, uow: Uow, principal: CurrentPrincipal) -> OrganisationOut:
    return OrganisationOut.model_validate(service.create_organisation(uow, principal, data))


@router.get("/organisations/{org_id}", response_model=OrganisationOut, responses=errors(401, 404))
def get_organisation(org_id: int, session: ReadSession, principal: CurrentPrincipal) -> OrganisationOut:
    return OrganisationOut.model_validate(service.get_organisation(session, principal, org_id))


@router.get("/users", response_model=list[UserOut], responses=errors(401))
def list_users(session: ReadSession, principal: CurrentPrincipal) -> list[UserOut]:
    return [UserOut.model_validate(user) for user in service.list_users(session, principal)]


@router.post(
    "/users",
    response_model=UserOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(401, 403, 409, 422),
)
def create_user(data: UserIn, uow: Uow, principal: CurrentPrincipal, rt: RuntimeDep) -> UserOut:
    return UserOut.model_validate(service.create_user(uow, rt.settings, principal, data))


@router.get("/users/{user_id}", response_model=UserOut, responses=errors(401, 404))
def get_user(user_id: int, session: ReadSession, principal: CurrentPrincipal) -> UserOut:
    return UserOut.model_validate(service.get_user(session, principal, user_id))
