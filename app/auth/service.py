"""Passwords (argon2), bearer tokens (JWT, HS256) and who the caller is."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.models import User
from app.config import Settings
from app.errors import Unauthenticated
from app.municipalities.models import Organisation

_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps login time independent of
# whether a username is known.
_DUMMY_HASH = _hasher.hash("not-a-password")

REPORTING_ROLES = frozenset({"reporter", "est_member", "coordinator"})
ALL_REPORTS_ROLES = frozenset({"est_member", "coordinator", "gis_reader"})
MODERATOR_ROLES = frozenset({"coordinator"})


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


def authenticate(session: Session, *, username: str, password: str) -> User:
    """The active user with this username and password, or :class:`Unauthenticated`."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthenticated("Wrong username or password")
    return user


def create_token(*, user: User, settings: Settings) -> tuple[str, int]:
    """A signed bearer token for ``user`` and its lifetime in seconds."""
    lifetime = settings.token_minutes * 60
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user.id), "role": user.role, "iat": now,
              "exp": now + dt.timedelta(seconds=lifetime)}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256"), lifetime


def create_api_key(*, user: User, settings: Settings, days: int) -> str:
    """A long-lived reading key for a program that works on ``user``'s behalf (QGIS, GDAL, FME).

    It is a signed token like a login's, only longer-lived (``days``) and marked as a key, so
    no table is needed and it is accepted only on the read-only GIS routes. Every request
    re-reads the user, so the key always carries the user's *current* role and stops working
    when the user is deactivated (or the secret key is changed). One service account per
    client program (``gis-qgis``, ``gis-fme``) lets each be revoked alone."""
    now = dt.datetime.now(dt.UTC)
    claims = {"sub": str(user.id), "typ": "api_key", "iat": now, "exp": now + dt.timedelta(days=days)}
    return jwt.encode(claims, settings.secret_key, algorithm="HS256")


def looks_like_user_key(key: str) -> bool:
    """A user's key (a signed token: three dot-separated parts), not an integration's random key."""
    return key.count(".") == 2


def get_principal(session: Session, *, token: str, settings: Settings, reading_key_ok: bool = False) -> Principal:
    """Verify a bearer token and load the (still active) user behind it. A long-lived reading
    key (:func:`create_api_key`) is accepted only where ``reading_key_ok`` (the read-only GIS
    routes): a year-long key of a coordinator must not moderate reports."""
    return load_principal(session, user_id=token_user_id(token, settings=settings, reading_key_ok=reading_key_ok))


def token_user_id(token: str, *, settings: Settings, reading_key_ok: bool = False) -> int:
    """The user id in a bearer token or reading key whose signature and expiry hold (no
    database): 401 otherwise, or for a reading key where ``reading_key_ok`` is false."""
    try:
        claims = jwt.decode(token, settings.secret_key, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        user_id = int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("The token has expired; log in again") from None
    except (jwt.PyJWTError, ValueError):
        raise Unauthenticated("The token is not valid") from None
    if claims.get("typ") == "api_key" and not reading_key_ok:
        raise Unauthenticated("A reading key works only for the read-only GIS routes (/ogc, /api/v1/exports, "
                              "/tiles); log in for this one (POST /api/v1/auth/token)")
    return user_id


def load_principal(session: Session, *, user_id: int) -> Principal:
    """The active user ``user_id`` with the organisation and municipality permission checks
    need; 401 when the user no longer exists or was deactivated."""
    row = session.execute(
        select(User.id, User.username, User.role, User.active, Organisation.id, Organisation.kind,
               Organisation.municipality_id, Organisation.name)
        .join(Organisation, Organisation.id == User.organisation_id)
        .where(User.id == user_id)
    ).first()
    if row is None or not row[3]:
        raise Unauthenticated("The user behind this token no longer exists or is deactivated")
    return Principal(user_id=row[0], username=row[1], role=row[2], organisation_id=row[4],
                     organisation_kind=row[5], municipality_id=row[6], organisation_name=row[7])
