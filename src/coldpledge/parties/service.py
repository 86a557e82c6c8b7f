"""Use cases of the parties context: sign-in, sessions, organisations and users."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from coldpledge.config import Settings
from coldpledge.errors import N_, Conflict, InvalidInput, TooManyAttempts, Unauthenticated
from coldpledge.parties import security
from coldpledge.parties.access import obtain, require, restrict
from coldpledge.parties.models import LoginThrottle, Organisation, User, WebSession
from coldpledge.parties.policy import PERMISSIONS, PartyType, Principal, role_allowed_for
from coldpledge.parties.schemas import OrganisationIn, UserIn
from coldpledge.uow import UnitOfWork


def principal_for(user: User) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        org_id=user.organisation_id,
        party_type=user.organisation.party_type,
        role=user.role,
        display_name=user.display_name,
    )


def permissions_of(principal: Principal) -> list[str]:
    return sorted(PERMISSIONS[principal.role])


# --- signing in -------------------------------------------------------------------------------


def authenticate(uow: UnitOfWork, settings: Settings, username: str, password: str) -> User:
    """Check a username and password. Failures are counted per username, existing or not, and
    after too many the name is locked for a while, so passwords cannot be guessed at speed and the
    answers never tell real usernames from invented ones."""
    now = uow.now()
    name = username.strip().lower()[:64]
    with uow:
        throttle = uow.session.get(LoginThrottle, name, with_for_update=True)
        if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
            raise TooManyAttempts(
                N_("Too many failed sign-ins; try again after {until}."),
                until=throttle.locked_until.isoformat(),
            )
        user = uow.session.scalars(select(User).where(User.username == name)).first()
        usable = user is not None and user.is_active and user.organisation.is_active
        if user is None or not usable:
            security.burn_verification(settings)
        if user is None or not usable or not security.verify_password(settings, user.password_hash, password):
            _count_failure(uow, settings, throttle, name, now)
            uow.commit()
            raise Unauthenticated(N_("Wrong username or password."))
        if security.hasher(settings).check_needs_rehash(user.password_hash):
            user.password_hash = security.hash_password(settings, password)
        if throttle is not None:
            uow.session.delete(throttle)
        user.last_login_at = now
        uow.commit()
        return user


def _count_failure(
    uow: UnitOfWork, settings: Settings, throttle: LoginThrottle | None, name: str, now: datetime
) -> None:
    window = timedelta(minutes=settings.login_lockout_minutes)
    # Forget old failures so a flood of invented usernames cannot grow the table without bound.
    uow.session.execute(
        delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now - window, LoginThrottle.username != name
        )
    )
    if throttle is None:
        throttle = LoginThrottle(username=name, failures=0, last_failure_at=now)
        uow.session.add(throttle)
    elif throttle.last_failure_at < now - window:
        throttle.failures = 0
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= settings.login_max_failures:
        throttle.locked_until = now + window
        throttle.failures = 0


def issue_token(uow: UnitOfWork, settings: Settings, username: str, password: str) -> security.AccessToken:
    user = authenticate(uow, settings, username, password)
    return security.issue_access_token(settings, user_id=user.id, now=uow.now())


def open_web_session(uow: UnitOfWork, settings: Settings, username: str, password: str) -> tuple[str, str]:
    """Sign in a browser. Returns the cookie value (shown once, stored only hashed) and the
    CSRF token its forms must carry."""
    user = authenticate(uow, settings, username, password)
    token = security.new_session_token()
    csrf = security.new_session_token()
    with uow:
        uow.session.add(
            WebSession(
                token_sha256=security.session_token_digest(token),
                user_id=user.id,
                csrf_token=csrf,
                created_at=uow.now(),
                expires_at=uow.now() + timedelta(hours=settings.session_hours),
            )
        )
        uow.commit()
    return token, csrf


def close_web_session(uow: UnitOfWork, token: str) -> None:
    with uow:
        web_session = uow.session.get(WebSession, security.session_token_digest(token))
        if web_session is not None and web_session.revoked_at is None:
            web_session.revoked_at = uow.now()
        uow.commit()


def user_from_bearer(session: Session, settings: Settings, token: str, now: datetime) -> User | None:
    user_id = security.read_access_token(settings, token, now=now)
    if user_id is None:
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.is_active and user.organisation.is_active else None


def web_session_for(session: Session, token: str, now: datetime) -> WebSession | None:
    web_session = session.get(WebSession, security.session_token_digest(token))
    if web_session is None or web_session.revoked_at is not None or web_session.expires_at <= now:
        return None
    if not web_session.user.is_active or not web_session.user.organisation.is_active:
        return None
    return web_session


# --- organisations and users ------------------------------------------------------------------


def list_organisations(session: Session, principal: Principal) -> list[Organisation]:
    return list(session.scalars(restrict(principal, "view", Organisation).order_by(Organisation.id)))


def organisation_names(session: Session, org_ids: Iterable[int]) -> dict[int, str]:
    """Names of organisations the caller already reaches through a row it may see (a facility's
    bank and borrower): a name, nothing more."""
    wanted = set(org_ids)
    if not wanted:
        return {}
    rows = session.execute(select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted)))
    return dict(rows.all())


def get_organisation(session: Session, principal: Principal, org_id: int) -> Organisation:
    return obtain(session, principal, Organisation, org_id)


def create_organisation(uow: UnitOfWork, principal: Principal, data: OrganisationIn) -> Organisation:
    with uow:
        require(principal, "organisation:create")
        taken = uow.session.scalar(select(func.count()).where(Organisation.name == data.name))
        if taken:
            raise Conflict(N_("An organisation named {name} already exists."), field="name", name=data.name)
        org = Organisation(**data.model_dump(), created_at=uow.now())
        uow.session.add(org)
        uow.record(principal, "organisation.create", org, before=None)
        uow.commit()
        return org


def list_users(session: Session, principal: Principal) -> list[User]:
    return list(session.scalars(restrict(principal, "view", User).order_by(User.id)))


def get_user(session: Session, principal: Principal, user_id: int) -> User:
    return obtain(session, principal, User, user_id)


def create_user(uow: UnitOfWork, settings: Settings, principal: Principal, data: UserIn) -> User:
    with uow:
        require(principal, "user:create")
        org = uow.session.get(Organisation, data.organisation_id)
        if org is None:
            raise InvalidInput(
                N_("Organisation {ident} does not exist."),
                field="organisation_id",
                ident=data.organisation_id,
            )
        if not role_allowed_for(org.party_type, data.role):
            raise InvalidInput(
                N_("The role {role} does not belong in an organisation of type {party_type}."),
                field="role",
                role=data.role.label,
                party_type=org.party_type.label,
            )
        if uow.session.scalar(select(func.count()).where(User.username == data.username)):
            raise Conflict(N_("The username {username} is taken."), field="username", username=data.username)
        user = User(
            username=data.username,
            display_name=data.display_name,
            email=data.email,
            organisation_id=org.id,
            role=data.role,
            password_hash=security.hash_password(settings, data.password),
            created_at=uow.now(),
        )
        uow.session.add(user)
        uow.record(principal, "user.create", user, before=None, related=[org.subject_ref])
        uow.commit()
        return user


def active_organisation(session: Session, org_id: int, party_type: PartyType, field: str) -> Organisation:
    """The active organisation ``org_id`` of ``party_type``, named by request ``field``; else 422."""
    return organisation_of_type(session, org_id, party_type, field, active=True)


def organisation_of_type(
    session: Session, org_id: int, party_type: PartyType, field: str, *, active: bool
) -> Organisation:
    """The organisation ``org_id`` of ``party_type`` (and active, when ``active``), named by
    request ``field``; else 422. Warehouses and virtual warehouses take a keeper or supervisor
    whether or not it is active; receipts and facilities only an active one."""
    org = session.get(Organisation, org_id)
    if org is None or org.party_type is not party_type or (active and not org.is_active):
        raise InvalidInput(
            N_("Organisation {ident} is not a {party_type}."),
            field=field,
            ident=org_id,
            party_type=party_type.label,
        )
    return org
