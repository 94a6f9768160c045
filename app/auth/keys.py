"""Keys for programs: random secrets stored as SHA-256, shown once. Users' reading keys live
here; integrations' keys (app.integrations) are made and looked up the same way."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import jwt
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app import caller
from app.auth.models import ReadingKey, User
from app.auth.service import MODERATOR_ROLES, OLD_READING_KEY, Principal, load_principal
from app.errors import Conflict, Forbidden, NotFound, Unauthenticated
from app.municipalities.models import Organisation
from app.timeutil import local_iso, utcnow

READING_KEY_PREFIX = "lbr_"  # integrations' keys start "lgb_"; login tokens have no prefix
PREFIX_CHARS = 8  # shown in lists: enough to tell keys apart, far too little to guess one
# last_used_at is written at most once per this long per key: GIS clients send a request per
# page or tile, and "used in the last minute" is what an administrator needs to know.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def key_digest(key: str) -> str:
    """How keys are stored and looked up: SHA-256 hex of the key."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_secret(prefix: str) -> str:
    """A new key: ``prefix`` + 256 random bits, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def is_reading_key(key: str) -> bool:
    """Whether an ``X-API-Key`` is a user's reading key (rather than an integration's)."""
    return key.startswith(READING_KEY_PREFIX)


def refuse_if_old_reading_key(key: str) -> None:
    """401 with what to do for a token sent as a key (three dot-separated parts; integration
    keys have no dots): a signed reading key of before migration 0005, which QGIS sends as
    X-API-Key, or a login token in the wrong header (which it is decides only the message)."""
    if key.count(".") != 2:
        return
    try:
        kind = jwt.decode(key, options={"verify_signature": False}).get("typ")
    except jwt.PyJWTError:
        kind = None
    if kind == "api_key":
        raise Unauthenticated(OLD_READING_KEY)
    raise Unauthenticated("This looks like a login token: send it as 'Authorization: Bearer <token>'. A key for "
                          f"GIS programs is a reading key, starting with '{READING_KEY_PREFIX}' "
                          "(POST /api/v1/reading-keys)")


def record_use(session: Session, table, key_id: int, last_used_at: dt.datetime | None) -> None:
    """Note that a key was used now, at most once per :data:`LAST_USED_RESOLUTION`. SKIP LOCKED:
    when another request is noting it right now (and holds the row until its transaction ends,
    a long export perhaps), this one does not wait for it."""
    now = utcnow()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    free = select(table.id).where(table.id == key_id).with_for_update(skip_locked=True).scalar_subquery()
    session.execute(update(table).where(table.id == free).values(last_used_at=now))


def create_reading_key(session: Session, *, user_id: int, label: str, days: int, created_by: int | None) -> dict:
    """A new reading key for ``user_id`` valid for ``days``: returned once, stored as its digest."""
    secret = new_secret(READING_KEY_PREFIX)
    now = utcnow()
    key = ReadingKey(user_id=user_id, key_sha256=key_digest(secret), prefix=secret[:PREFIX_CHARS], label=label,
                     created_at=now, created_by=created_by, expires_at=now + dt.timedelta(days=days))
    session.add(key)
    session.flush()
    username = session.scalar(select(User.username).where(User.id == user_id))
    return {**_read(key, username), "key": secret}


def authenticate_reading_key(session: Session, *, key: str) -> Principal:
    """The user behind a valid reading key, as a principal with the user's current role; 401
    when the key is unknown, revoked or expired, or its user deactivated. Records the use."""
    row = session.execute(select(ReadingKey.id, ReadingKey.user_id, ReadingKey.expires_at, ReadingKey.revoked_at,
                                 ReadingKey.last_used_at)
                          .where(ReadingKey.key_sha256 == key_digest(key))).first()
    if row is None:
        raise Unauthenticated("The reading key is not valid; make one with POST /api/v1/reading-keys")
    key_id, user_id, expires_at, revoked_at, last_used_at = row
    if revoked_at is not None:
        raise Unauthenticated(f"The reading key was revoked at {local_iso(revoked_at)}; make a new one "
                              "with POST /api/v1/reading-keys")
    now = utcnow()
    if expires_at <= now:
        raise Unauthenticated(f"The reading key expired at {local_iso(expires_at)}; make a new one "
                              "with POST /api/v1/reading-keys")
    caller.note(f"user:{user_id}:key:{key_id}")
    principal = load_principal(session, user_id=user_id)
    record_use(session, ReadingKey, key_id, last_used_at)
    return principal


def list_reading_keys(session: Session, *, principal: Principal, everyone: bool) -> list[dict]:
    """The caller's keys, newest first; with ``everyone`` (coordinators only) every key of the
    municipality's users. Never the secrets."""
    query = (select(ReadingKey, User.username).join(User, User.id == ReadingKey.user_id)
             .order_by(ReadingKey.created_at.desc(), ReadingKey.id.desc()))
    if everyone:
        if principal.role not in MODERATOR_ROLES:
            raise Forbidden("Only a coordinator may list other users' reading keys")
        query = query.join(Organisation, Organisation.id == User.organisation_id).where(
            Organisation.municipality_id == principal.municipality_id)
    else:
        query = query.where(ReadingKey.user_id == principal.user_id)
    return [_read(key, username) for key, username in session.execute(query)]


def revoke_reading_key(session: Session, *, key_id: int, principal: Principal) -> dict:
    """Revoke a key now (its next request gets 401): the caller's own, or as coordinator any of
    the municipality's. 404 for keys the caller may not see; 409 when already revoked."""
    row = session.execute(select(ReadingKey, User.username, Organisation.municipality_id)
                          .join(User, User.id == ReadingKey.user_id)
                          .join(Organisation, Organisation.id == User.organisation_id)
                          .where(ReadingKey.id == key_id)).first()
    own = row is not None and row[0].user_id == principal.user_id
    coordinates = row is not None and principal.role in MODERATOR_ROLES and row[2] == principal.municipality_id
    if not (own or coordinates):
        raise NotFound(f"No reading key {key_id} of yours" +
                       (" or of your municipality's users" if principal.role in MODERATOR_ROLES else ""))
    key, username = row[0], row[1]
    if key.revoked_at is not None:
        raise Conflict(f"Reading key {key_id} was already revoked at {local_iso(key.revoked_at)}")
    key.revoked_at, key.revoked_by = utcnow(), principal.user_id
    session.flush()
    return _read(key, username)


def revoke_users_reading_keys(session: Session, *, user_id: int) -> int:
    """Revoke every active (neither revoked nor expired) reading key of ``user_id`` now, as when
    its password is set anew; their next request gets 401 saying when. Returns how many."""
    now = utcnow()
    result = session.execute(update(ReadingKey)
                             .where(ReadingKey.user_id == user_id, ReadingKey.revoked_at.is_(None),
                                    ReadingKey.expires_at > now)
                             .values(revoked_at=now, revoked_by=None))
    return result.rowcount


def _read(key: ReadingKey, username: str | None) -> dict[str, Any]:
    now = utcnow()
    return {"id": key.id, "user": username, "prefix": key.prefix, "label": key.label,
            "created_at": local_iso(key.created_at), "expires_at": local_iso(key.expires_at),
            "last_used_at": local_iso(key.last_used_at), "revoked_at": local_iso(key.revoked_at),
            "active": key.revoked_at is None and key.expires_at > now}
