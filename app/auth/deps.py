"""Request dependencies: the current principal and small composable role checks."""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import partial
from typing import Annotated, NoReturn

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBasic, OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app import caller
from app.auth.service import (
    ALL_REPORTS_ROLES, MODERATOR_ROLES, REPORTING_ROLES, Principal, get_principal, load_principal, token_subject,
)
from app.auth.keys import (
    READING_KEY_PREFIX, authenticate_reading_key, is_reading_key, key_digest, refuse_if_old_reading_key,
)
from app.cache import TtlCache
from app.config import Settings, get_settings
from app.db import ReadSessionDep, SessionDep
from app.errors import Forbidden, Unauthenticated
from app.integrations.service import INTEGRATION_KEY_PREFIX, find_key

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="A reading key (`POST /api/v1/reading-keys`, or `make api-key`); "
                                    "it acts with its user's current role, on the read-only GIS routes only")
# ArcGIS Pro, Excel and older QGIS can send a key only as a password: HTTP Basic with the
# reading key as the password (any user name) is the same credential as X-API-Key.
BASIC_CHALLENGE = 'Basic realm="Lagesbild GIS: a reading key as the password", charset="UTF-8"'


@dataclass(frozen=True)
class Credentials:
    """What a request to a read-only GIS route brings: a login token, or a key — from
    ``X-API-Key``, from ``Authorization: Bearer`` (some programs send every key so), or as the
    password of HTTP Basic. Read once, the same way for the tiles and for the other GIS routes."""

    token: str | None = None
    key: str | None = None
    via_basic: bool = False
    sent_authorization: bool = False

    def refused(self, detail: str) -> Unauthenticated:
        """A 401; it offers Basic when the key came that way or nothing was sent (a program
        waiting for the challenge), never to a web app whose token failed (no login box)."""
        basic = self.via_basic or not self.sent_authorization
        return Unauthenticated(detail, challenges=("Bearer", BASIC_CHALLENGE) if basic else ("Bearer",))


def read_credentials(authorization: str | None, api_key: str | None) -> Credentials:
    """:class:`Credentials` from the ``Authorization`` and ``X-API-Key`` headers; 401 for Basic
    credentials that are not base64 of ``name:password``."""
    scheme, param = get_authorization_scheme_param(authorization)
    sent = bool(authorization and authorization.strip())
    if scheme.lower() == "bearer" and param:
        if is_reading_key(param) or param.startswith(INTEGRATION_KEY_PREFIX):  # some programs send keys so
            return Credentials(key=param, sent_authorization=sent)
        return Credentials(token=param, sent_authorization=sent)
    if api_key:
        return Credentials(key=api_key, sent_authorization=sent)
    if scheme.lower() != "basic":
        return Credentials(sent_authorization=sent)
    try:
        name, _, password = base64.b64decode(param, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("The Basic credentials are not base64 of 'name:password'; give a reading key as "
                              "the password (POST /api/v1/reading-keys)",
                              challenges=("Bearer", BASIC_CHALLENGE)) from None
    # The password; the user name when the password is empty, as some programs have one field only.
    return Credentials(key=(password or name).strip() or None, via_basic=True, sent_authorization=sent)


def reading_key_principal(session: Session, credentials: Credentials) -> Principal:
    """The user behind the request's reading key (``is_reading_key``); 401 when it is unknown,
    revoked or expired, or its user deactivated."""
    try:
        return authenticate_reading_key(session, key=credentials.key)
    except Unauthenticated as exc:
        raise credentials.refused(exc.detail) from None


def refuse_other_key(session: Session, credentials: Credentials) -> NoReturn:
    """A key that is not a reading key never reads: 401 with what to do, or 403 for an
    integration's (it pushes reports)."""
    key = credentials.key
    refuse_if_old_reading_key(key)
    try:
        _, _, client = find_key(session, key=key)  # an integration's? Its use is not recorded here
    except Unauthenticated as exc:
        if not credentials.via_basic:
            raise
        raise credentials.refused(f"With HTTP Basic, give a reading key as the password (it starts with "
                                  f"'{READING_KEY_PREFIX}'; POST /api/v1/reading-keys, or 'Läsnycklar för "
                                  "GIS-program' on the meeting map); an account's password is not taken here") from exc
    raise Forbidden(f"The key of integration '{client.name}' may submit reports but not read them; use a "
                    "user's reading key (POST /api/v1/reading-keys) or a bearer token")


class _AuthorizationHeader(HTTPBasic):
    """HTTP Basic as FastAPI documents it; gives the raw ``Authorization`` header, which
    :func:`read_credentials` reads (a proxy's own Basic login passed on does not hide
    ``X-API-Key``: that comes first)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


_basic = _AuthorizationHeader(auto_error=False, scheme_name="ReadingKeyBasic",
                              description="A reading key as the password, any user name (for programs that can only "
                                          "send a user name and password: ArcGIS Pro, Excel, older QGIS)")


async def settings_dependency() -> Settings:
    """The settings; async so that FastAPI does not hop to a worker thread for a cached value."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dependency)]


BearerToken = Annotated[str | None, Depends(_bearer)]
GIS_ROUTES = "/ogc, /api/v1/exports, /tiles"  # where a reading key reads


def current_principal(request: Request, session: SessionDep, settings: SettingsDep, token: BearerToken) -> Principal:
    """The logged-in caller; 401 without a valid bearer token (saying where a key sent instead
    works)."""
    if not token:
        if request.headers.get("x-api-key"):
            raise Unauthenticated(f"An X-API-Key is not a login: a user's reading key works only on the read-only GIS "
                                  f"routes ({GIS_ROUTES}) and an integration's key only submits "
                                  "(POST /api/v1/integrations/events, POST /api/v1/reports, Open311's POST "
                                  "requests.json); log in for this one "
                                  "(POST /api/v1/auth/token)")
        raise Unauthenticated("Log in first: send 'Authorization: Bearer <token>' from POST /api/v1/auth/token")
    if is_reading_key(token):
        raise Unauthenticated(f"A reading key works only on the read-only GIS routes ({GIS_ROUTES}); "
                              "log in for this one (POST /api/v1/auth/token)")
    return get_principal(session, token=token, settings=settings)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


class RequireRole:
    """Dependency that admits only the given roles (403 otherwise); async: a pure check needs no thread."""

    def __init__(self, roles: frozenset[str], what: str) -> None:
        self.roles = roles
        self.what = what

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        return self.check(principal)

    def check(self, principal: Principal) -> Principal:
        """403 unless the principal has one of the roles."""
        if principal.role not in self.roles:
            allowed = ", ".join(sorted(self.roles))
            raise Forbidden(f"Your role '{principal.role}' may not {self.what}; allowed: {allowed}")
        return principal


ApiKeyHeader = Annotated[str | None, Depends(_api_key)]
AuthorizationHeader = Annotated[str | None, Depends(_basic)]


def reading_principal(session: SessionDep, settings: SettingsDep, authorization: AuthorizationHeader,
                      api_key: ApiKeyHeader, _token: BearerToken) -> Principal:
    """The caller of a read-only GIS route (OGC API, exports, tiles): a bearer token, or a user's
    reading key (for QGIS, GDAL, FME, ArcGIS Pro, which cannot log in; :class:`Credentials`).
    ``_token`` is read again from ``authorization``; it declares the scheme in the API docs."""
    credentials = read_credentials(authorization, api_key)
    if credentials.token:
        return get_principal(session, token=credentials.token, settings=settings)
    if not credentials.key:
        raise credentials.refused(_NO_READING_CREDENTIALS)
    if is_reading_key(credentials.key):
        return reading_key_principal(session, credentials)
    refuse_other_key(session, credentials)


_NO_READING_CREDENTIALS = ("Send 'Authorization: Bearer <token>' (POST /api/v1/auth/token), or a reading key (POST "
                           "/api/v1/reading-keys, or make api-key) in 'X-API-Key' or as the password of HTTP Basic")
_GIS_READ = RequireRole(ALL_REPORTS_ROLES, "read report points and hotspot layers")


async def gis_reader(principal: Annotated[Principal, Depends(reading_principal)]) -> Principal:
    """est_member, coordinator or gis_reader, by bearer token or reading key (403 for reporters)."""
    return _GIS_READ.check(principal)


GisReader = Annotated[Principal, Depends(gis_reader)]

# Principals of the hotspot tiles by user id or reading-key digest, each for settings.tile_auth_cache_seconds.
principal_cache: TtlCache[Principal] = TtlCache(size=1024)


async def tile_reader(request: Request, session: ReadSessionDep) -> Principal:
    """:func:`gis_reader` for the hotspot vector tiles, which a map asks for by the dozen: the
    token's signature and expiry are checked on every tile (an expired token is refused at
    once), the user behind it (role, municipality, still active) is looked up at most once per
    ``tile_auth_cache_seconds`` per process, in a worker thread; in between, no thread and
    no database. A role change or a deactivation therefore reaches the tiles within that time;
    the role check itself runs on every tile (reporters get 403).

    Reads the credentials from the request itself rather than through the security
    dependencies (each dependency FastAPI solves costs a tile ~0.05 ms); the route documents
    them with :data:`READING_SECURITY`."""
    settings = get_settings()
    credentials = read_credentials(request.headers.get("authorization"), request.headers.get("x-api-key"))
    cache = settings.tile_auth_cache_seconds > 0
    if credentials.key and is_reading_key(credentials.key):
        # By the key's digest, so a revoked or expired key also stops within the cache time.
        key, load = ("key", key_digest(credentials.key)), partial(reading_key_principal, session, credentials)
    elif credentials.token:
        user_id, version = token_subject(credentials.token, settings=settings)
        key, load = ("user", user_id, version), partial(load_principal, session, user_id=user_id,
                                                         token_version=version)
    elif credentials.key:  # not a reading key: refused, with what to do (401, or 403 for an integration's)
        return await run_in_threadpool(refuse_other_key, session, credentials)  # it never returns
    else:
        raise credentials.refused(_NO_READING_CREDENTIALS)
    principal = principal_cache.peek(key) if cache else None
    if principal is None:
        principal = await run_in_threadpool(load)
        principal_cache.put(key, principal, ttl=settings.tile_auth_cache_seconds)
    caller.note(f"user:{principal.user_id}")  # (loaded: noted already, with the reading key's id)
    return _GIS_READ.check(principal)


# The OpenAPI security of a route that takes its credentials with tile_reader: any of the
# schemes _bearer, _api_key and _basic declare (the other GIS routes declare them, so all are defined).
READING_SECURITY = {"security": [{_bearer.scheme_name: []}, {_api_key.scheme_name: []}, {_basic.scheme_name: []}]}
TileReader = Annotated[Principal, Depends(tile_reader)]
REPORTING = RequireRole(REPORTING_ROLES, "submit reports").check
Moderator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "moderate reports"))]
