"""Organisations, users and browser sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coldpledge.db import Base, UTCDateTime, choice_column, utcnow
from coldpledge.errors import N_
from coldpledge.parties.policy import PartyType, Role


class Organisation(Base):
    __tablename__ = "organisations"
    __permission__ = "organisation"
    __label__ = N_("organisation")
    __subject_type__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    name_en: Mapped[str | None] = mapped_column(String(200))
    party_type: Mapped[PartyType] = mapped_column(choice_column(PartyType, "party_type"), index=True)
    # 统一社会信用代码, the 18-character unified social credit code of a Chinese legal person.
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    address: Mapped[str | None] = mapped_column(String(300))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="organisation")

    @property
    def subject_ref(self) -> str:
        return f"org:{self.id}"


class User(Base):
    __tablename__ = "users"
    __permission__ = "user"
    __label__ = N_("user")
    __subject_type__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    # Where notifications are e-mailed; without one the user gets them in the inbox only.
    email: Mapped[str | None] = mapped_column(String(254))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    role: Mapped[Role] = mapped_column(choice_column(Role, "user_role"))
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organisation: Mapped[Organisation] = relationship(back_populates="users", lazy="joined")

    @property
    def subject_ref(self) -> str:
        return f"user:{self.id}"


class WebSession(Base):
    """A browser login. Only the SHA-256 of the cookie value is stored, so a database leak
    does not hand out live sessions."""

    __tablename__ = "web_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class LoginThrottle(Base):
    """Failed sign-ins per username, whether or not the username exists, so that locking out a
    guesser does not also tell them which usernames are real."""

    __tablename__ = "login_throttles"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
