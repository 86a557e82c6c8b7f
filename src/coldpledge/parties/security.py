"""Passwords (argon2id), API access tokens (JWT, HS256) and browser-session tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from coldpledge.config import Settings

TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name
TOKEN_AUDIENCE = "coldpledge-api"  # noqa: S105 - an audience name


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.password_time_cost, settings.password_memory_kib)


def hash_password(settings: Settings, password: str) -> str:
    return hasher(settings).hash(password)


def verify_password(settings: Settings, password_hash: str, password: str) -> bool:
    try:
        return hasher(settings).verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# Verifying against this when the username is unknown keeps the response time the same, so
# timing does not reveal which usernames exist.
_DUMMY_PASSWORD = secrets.token_urlsafe(16)


def burn_verification(settings: Settings) -> None:
    verify_password(settings, _dummy_hash(settings.password_time_cost, settings.password_memory_kib), "x")


@lru_cache(maxsize=4)
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(_DUMMY_PASSWORD)


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


def issue_access_token(settings: Settings, *, user_id: int, now: datetime) -> AccessToken:
    expires_at = now + timedelta(minutes=settings.access_token_minutes)
    claims = {
        "sub": str(user_id),
        "aud": TOKEN_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_hex(12),
    }
    token = jwt.encode(claims, settings.secret_key.get_secret_value(), algorithm=TOKEN_ALGORITHM)
    return AccessToken(token=token, expires_at=expires_at)


ISSUED_AT_LEEWAY_SECONDS = 30


def read_access_token(settings: Settings, token: str, *, now: datetime) -> int | None:
    """The user id a valid token was issued to, if it is live at ``now``, or None.

    Expiry is judged on the app's clock (``now``), the same clock that issued the token, rather
    than on PyJWT's wall clock, so issuing and checking can never disagree about the time.
    """
    try:
        claims = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[TOKEN_ALGORITHM],
            audience=TOKEN_AUDIENCE,
            options={"require": ["sub", "exp", "iat", "aud"], "verify_exp": False, "verify_iat": False},
        )
        # A token from a replica whose clock runs a little ahead is still good; one "issued" far
        # in the future is not.
        if not int(claims["iat"]) - ISSUED_AT_LEEWAY_SECONDS <= now.timestamp() < int(claims["exp"]):
            return None
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        return None


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


def session_token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
