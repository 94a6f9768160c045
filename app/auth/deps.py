"""Request dependencies: the current principal and small composable role checks."""
from __future__ import annotations

import base64
import binascii
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPBasic, OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

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
from app.integrations.service import find_key

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="A reading key (`POST /api/v1/reading-keys`, or `make api-key`); "
                                    "it acts with its user's current role, on the read-only GIS routes only")
# ArcGIS Pro, Excel and older QGIS can send a key only as a password: HTTP Basic with the
# reading key as the password (any user name) is the same credential as X-API-Key.
BASIC_CHALLENGE = 'Basic realm="Lagesbild GIS: a reading key as the password", charset="UTF-8"'


def basic_key(authorization: str | None) -> str | None:
    """The reading key in ``Authorization: Basic`` (its password; its user name when the
    password is empty, as some programs have one field only); None for another scheme. 401 when
    the credentials are not base64 of ``name:password`` or the password is not a reading key."""
    scheme, param = get_authorization_scheme_param(authorization)
    if scheme.lower() != "basic":
        return None
    try:
        name, _, password = base64.b64decode(param, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("The Basic credentials are not base64 of 'name:password'; give a reading key as "
                              "the password (POST /api/v1/reading-keys)") from None
    key = (password or name).strip()
    if key and not is_reading_key(key):
        raise Unauthenticated(f"With HTTP Basic, give a reading key as the password (it starts with "
                              f"'{READING_KEY_PREFIX}'; POST /api/v1/reading-keys, or 'Läsnycklar för GIS-program' "
                              "on the meeting map); an account's password is not taken here",
                              challenges=("Bearer", BASIC_CHALLENGE))
    return key or None


class _ReadingKeyBasic(HTTPBasic):
    """HTTP Basic as FastAPI documents it; gives the ``Authorization`` header, which
    :func:`basic_key` reads only when no ``X-API-Key`` came (a proxy's own Basic login, passed
    on, then does not get in the way)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


_basic = _ReadingKeyBasic(auto_error=False, scheme_name="ReadingKeyBasic",
                          description="A reading key as the password, any user name (for programs that can only "
                                      "send a user name and password: ArcGIS Pro, Excel, older QGIS)")


async def settings_dependency() -> Settings:
    """The settings; async so that FastAPI does not hop to a worker thread for a cached value."""
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dependency)]


BearerToken = Annotated[str | None, Depends(_bearer)]


def current_principal(session: SessionDep, settings: SettingsDep, token: BearerToken) -> Principal:
    """The logged-in caller; 401 without a valid bearer token."""
    if not token:
        raise Unauthenticated("Log in first: send 'Authorization: Bearer <token>' from POST /api/v1/auth/token")
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
BasicAuthorization = Annotated[str | None, Depends(_basic)]


def _no_reading_credentials() -> Unauthenticated:
    return Unauthenticated("Send 'Authorization: Bearer <token>' (POST /api/v1/auth/token), or a reading key "
                           "(POST /api/v1/reading-keys, or make api-key) in 'X-API-Key' or as the password of "
                           "HTTP Basic", challenges=("Bearer", BASIC_CHALLENGE))


def reading_principal(session: SessionDep, settings: SettingsDep, token: BearerToken, api_key: ApiKeyHeader,
                      authorization: BasicAuthorization) -> Principal:
    """The caller of a read-only GIS route (OGC API, exports, tiles): a bearer token, or a user's
    reading key in ``X-API-Key`` or as the password of HTTP Basic (for QGIS, GDAL, FME, ArcGIS
    Pro, which cannot log in). An integration's key pushes reports and never reads them: 403."""
    if token and is_reading_key(token):  # some programs send every key as a bearer token
        return authenticate_reading_key(session, key=token)
    if token:
        return get_principal(session, token=token, settings=settings)
    api_key = api_key or basic_key(authorization)
    if not api_key:
        raise _no_reading_credentials()
    if is_reading_key(api_key):
        return authenticate_reading_key(session, key=api_key)
    refuse_if_old_reading_key(api_key)
    _, _, client = find_key(session, key=api_key)  # 401 unless an integration's; its use is not recorded here
    raise _integration_key_reads(client.name)


def _integration_key_reads(name: str) -> Forbidden:
    return Forbidden(f"The key of integration '{name}' may submit reports but not read them; use a "
                     "user's reading key (POST /api/v1/reading-keys) or a bearer token")


_GIS_READ = RequireRole(ALL_REPORTS_ROLES, "read report points and hotspot layers")


async def gis_reader(principal: Annotated[Principal, Depends(reading_principal)]) -> Principal:
    """est_member, coordinator or gis_reader, by bearer token or reading key (403 for reporters)."""
    return _GIS_READ.check(principal)


GisReader = Annotated[Principal, Depends(gis_reader)]

# Principals of the hotspot tiles by user id or reading-key digest, each for settings.tile_auth_cache_seconds.
principal_cache: TtlCache[Principal] = TtlCache(size=1024)


def request_credentials(request: Request) -> tuple[str | None, str | None]:
    """The bearer token and the key (``X-API-Key``, else the password of HTTP Basic) of a
    request, read as ``_bearer``, ``_api_key`` and ``_basic`` read them (for a route that takes
    them without those dependencies)."""
    authorization = request.headers.get("authorization")
    scheme, token = get_authorization_scheme_param(authorization)
    bearer = (token or None) if scheme.lower() == "bearer" else None
    return bearer, request.headers.get("x-api-key") or basic_key(authorization)


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
    token, api_key = request_credentials(request)
    cache = settings.tile_auth_cache_seconds > 0
    credential = token or api_key  # the bearer token first, as on the other GIS routes
    if credential and is_reading_key(credential):
        # By the key's digest, so a revoked or expired key also stops within the cache time.
        key, load = ("key", key_digest(credential)), partial(authenticate_reading_key, session, key=credential)
    elif token:
        user_id, version = token_subject(token, settings=settings)
        key, load = ("user", user_id, version), partial(load_principal, session, user_id=user_id,
                                                         token_version=version)
    elif api_key:
        refuse_if_old_reading_key(api_key)
        _, _, client = await run_in_threadpool(find_key, session, key=api_key)  # 401 unless an integration's
        raise _integration_key_reads(client.name)
    else:
        raise _no_reading_credentials()
    principal = principal_cache.peek(key) if cache else None
    if principal is None:
        principal = await run_in_threadpool(load)
        principal_cache.put(key, principal, ttl=settings.tile_auth_cache_seconds)
    return _GIS_READ.check(principal)


# The OpenAPI security of a route that takes its credentials with tile_reader: any of the
# schemes _bearer, _api_key and _basic declare (the other GIS routes declare them, so all are defined).
READING_SECURITY = {"security": [{_bearer.scheme_name: []}, {_api_key.scheme_name: []}, {_basic.scheme_name: []}]}
TileReader = Annotated[Principal, Depends(tile_reader)]
REPORTING = RequireRole(REPORTING_ROLES, "submit reports").check
Moderator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "moderate reports"))]
