"""Passwords (argon2), bearer tokens (JWT, HS256) and who the caller is."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import caller
from app.auth.models import User
from app.config import DEMO_PASSWORD, Settings
from app.errors import Unauthenticated
from app.municipalities.models import Organisation

log = logging.getLogger("lagesbild.auth")
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps login time independent of
# whether a username is known.
_DUMMY_HASH = _hasher.hash("not-a-password")

REPORTING_ROLES = frozenset({"reporter", "est_member", "coordinator"})
ALL_REPORTS_ROLES = frozenset({"est_member", "coordinator", "gis_reader"})
MODERATOR_ROLES = frozenset({"coordinator"})
TOKEN_LIFETIME_MARGIN_SECONDS = 60  # a token's exp - iat may exceed LAGESBILD_TOKEN_MINUTES by this (rounding)
OLD_READING_KEY = ("Reading keys of this older kind are no longer accepted: they could not be revoked one by one. "
                   "Make a new one with POST /api/v1/reading-keys (or make api-key)")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, with what every permission check needs."""

    user_id: int
    username: str
    role: str
    organisation_id: int
    organisation_name: str
    organisation_kind: str
    municipality_id: int

    @property
    def sees_all_reports(self) -> bool:
        """est_member and above (and the GIS unit) see every report of their municipality."""
        return self.role in ALL_REPORTS_ROLES


def hash_password(password: str) -> str:
    """An argon2id hash (with its own salt and parameters) for storing."""
    return _hasher.hash(password)


def authenticate(session: Session, *, username: str, password: str, settings: Settings) -> User:
    """The active user with this username and password, or :class:`Unauthenticated`. Outside
    demo mode the demo data's password is refused like a wrong one (an installation that was
    a demo once), and the operator is told in the log which user still has it."""
    # (no username holds a NUL, and PostgreSQL cannot compare text with one: simply no such user)
    user = session.scalar(select(User).where(User.username == username)) if "\x00" not in username else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is not None and not settings.demo_mode and password == DEMO_PASSWORD:
        log.warning("Login refused: user:%s still has the demo data's password, which is not accepted outside demo "
                    "mode. Set a new one: python -m app.manage user --username <the username of user:%s, see "
                    "python -m app.manage list> --reset-password", user.id, user.id)
        user = None
    if user is None or not user.active:
        raise Unauthenticated("Wrong username or password")
    return user


def create_token(*, user: User, settings: Settings) -> tuple[str, int]:
    """A signed bearer token for ``user`` and its lifetime in seconds."""
    lifetime = settings.token_minutes * 60
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user.id), "role": user.role, "iat": now,
              "exp": now + dt.timedelta(seconds=lifetime), "ver": user.token_version}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256"), lifetime


def get_principal(session: Session, *, token: str, settings: Settings) -> Principal:
    """Verify a bearer token and load the (still active) user behind it."""
    user_id, version = token_subject(token, settings=settings)
    return load_principal(session, user_id=user_id, token_version=version)


NOT_A_TOKEN = ("This is not a token from POST /api/v1/auth/token (nor a user's reading key, which the GIS routes "
               "also take as a bearer); an integration's API key goes in the X-API-Key header of "
               "POST /api/v1/integrations/events")


def token_subject(token: str, *, settings: Settings) -> tuple[int, int]:
    """The user id and token version in a bearer token whose signature, expiry and lifetime
    (at most LAGESBILD_TOKEN_MINUTES) hold (no database); 401 otherwise. Tokens from before
    versions were counted are version 0."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        user_id, version = int(claims["sub"]), int(claims.get("ver", 0))
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired; log in again") from None
    except (jwt.PyJWTError, ValueError, TypeError):
        if token.count(".") != 2:  # not a token at all: most often a key sent the wrong way
            raise Unauthenticated(NOT_A_TOKEN) from None
        raise Unauthenticated("The token is not valid") from None
    if claims.get("typ") == "api_key":  # the signed reading keys of before migration 0005
        raise Unauthenticated(OLD_READING_KEY)
    # Every token create_token issues says when it was issued and lives token_minutes: one that
    # claims a longer life was not made here (or under a longer LAGESBILD_TOKEN_MINUTES than now).
    try:  # (PyJWT has checked that both, when present, are whole numbers)
        lifetime = int(claims["exp"]) - int(claims["iat"])
    except (KeyError, TypeError, ValueError):
        raise Unauthenticated("The token is not valid") from None
    if lifetime > settings.token_minutes * 60 + TOKEN_LIFETIME_MARGIN_SECONDS:
        raise Unauthenticated("The token is not valid: it lives longer than this service's login tokens; log in again")
    return user_id, version


def load_principal(session: Session, *, user_id: int, token_version: int | None = None) -> Principal:
    """The active user ``user_id`` with the organisation and municipality permission checks
    need; 401 when the user no longer exists or was deactivated, or — for a bearer token of
    ``token_version`` — when the user's password was set anew after the token was issued."""
    row = session.execute(
        select(User.id, User.username, User.role, User.active, Organisation.id, Organisation.kind,
               Organisation.municipality_id, Organisation.name, User.token_version)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.id == user_id)
    ).first()
    if row is None or not row[3]:
        raise Unauthenticated("The user behind this token or key no longer exists or is deactivated (the "
                              "operator switches users on again: python -m app.manage user --activate)")
    if token_version is not None and token_version != row[8]:
        raise Unauthenticated("The password was changed after this token was issued; log in again")
    caller.note(f"user:{row[0]}")
    return Principal(user_id=row[0], username=row[1], role=row[2], organisation_id=row[4],
                     organisation_kind=row[5], municipality_id=row[6], organisation_name=row[7])
