"""Accounts, as the operator sets them up (app/manage.py): a user in an organisation with a
role, a new password (its tokens stop working, its reading keys are revoked), and switching a
user off (its tokens and reading keys stop working)."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.keys import revoke_users_reading_keys
from app.auth.models import ROLES, User
from app.auth.service import hash_password
from app.errors import Conflict, InvalidInput, NotFound

MIN_PASSWORD_CHARS = 10


def new_password() -> str:
    """A generated password: 16 URL-safe characters (96 random bits), shown once."""
    return secrets.token_urlsafe(12)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"A password must be at least {MIN_PASSWORD_CHARS} characters")


def create_user(session: Session, *, organisation_id: int, username: str, role: str, password: str,
                display_name: str = "") -> User:
    """A new active user of the organisation (and through it, its municipality). Usernames are
    unique across the installation: Conflict when taken, also by a deactivated user."""
    username, display_name = username.strip(), display_name.strip()
    if role not in ROLES:
        raise InvalidInput(f"Unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not username or len(username) > 100 or any(c.isspace() for c in username):
        raise InvalidInput("A username is 1-100 characters without spaces")
    if len(display_name) > 200:
        raise InvalidInput("A display name is at most 200 characters")
    _check_password(password)
    existing = session.scalar(select(User).where(User.username == username))
    if existing is not None:
        raise Conflict(f"The username {username!r} is taken" + ("" if existing.active else " (by a deactivated user)"))
    user = User(organisation_id=organisation_id, username=username, display_name=display_name,
                password_hash=hash_password(password), role=role)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, *, username: str) -> User:
    """The user with this username, active or not; NotFound otherwise."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user {username!r}")
    return user


def set_password(session: Session, *, username: str, password: str) -> tuple[User, int]:
    """Replace the user's password: logins with the old one fail from now on, and so do the
    bearer tokens issued before (their version is counted up; the hotspot tiles within
    LAGESBILD_TILE_AUTH_CACHE_SECONDS) and the user's reading keys, which are revoked now (a
    stolen token could have made one). Returns the user and how many active keys were revoked."""
    _check_password(password)
    user = get_user(session, username=username)
    user.password_hash = hash_password(password)
    user.token_version += 1
    revoked = revoke_users_reading_keys(session, user_id=user.id)
    session.flush()
    return user, revoked


def set_active(session: Session, *, username: str, active: bool) -> User:
    """Switch a user off (its logins, tokens and reading keys are refused from the next request;
    the hotspot tiles within LAGESBILD_TILE_AUTH_CACHE_SECONDS) or on again. Users are never
    deleted: reports and the audit log name them."""
    user = get_user(session, username=username)
    user.active = active
    session.flush()
    return user
