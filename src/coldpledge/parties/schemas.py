"""Request and response bodies of the parties API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from coldpledge.db import MAX_ID
from coldpledge.parties.policy import PartyType, Role

USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{2,63}$"
CREDIT_CODE_PATTERN = r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$"


class OrganisationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    party_type: PartyType
    credit_code: str | None = Field(default=None, pattern=CREDIT_CODE_PATTERN, description="统一社会信用代码")
    address: str | None = Field(default=None, max_length=300)


class OrganisationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    name_en: str | None
    party_type: PartyType
    credit_code: str | None
    is_active: bool


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(pattern=USERNAME_PATTERN)
    display_name: str = Field(min_length=1, max_length=100)
    organisation_id: int = Field(strict=True, gt=0, le=MAX_ID)
    role: Role
    password: str = Field(min_length=10, max_length=200)
    # Where notifications are e-mailed (optional); not shown in the user directory.
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    organisation_id: int
    role: Role
    is_active: bool
    last_login_at: datetime | None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(strict=True, description="Seconds until the token expires")


class MeOut(BaseModel):
    user_id: int | None
    username: str
    display_name: str
    organisation_id: int | None
    party_type: PartyType
    role: Role
    permissions: list[str]
