"""Request dependencies: the current principal and small composable role checks."""
from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from fastapi.security.utils import get_authorization_scheme_param
from starlette.concurrency import run_in_threadpool

from app.auth.service import (
    ALL_REPORTS_ROLES, MODERATOR_ROLES, REPORTING_ROLES, Principal, get_principal, load_principal, token_subject,
)
from app.auth.keys import authenticate_reading_key, is_reading_key, key_digest, refuse_if_old_reading_key
from app.cache import TtlCache
from app.config import Settings, get_settings
from app.db import ReadSessionDep, SessionDep
from app.errors import Forbidden, Unauthenticated
from app.integrations.service import find_key

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="A reading key (`POST /api/v1/reading-keys`, or `make api-key`); "
                                    "it acts with its user's current role, on the read-only GIS routes only")


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


_NO_READING_CREDENTIALS = ("Send 'Authorization: Bearer <token>' (POST /api/v1/auth/token) or a reading key in "
                           "'X-API-Key' (POST /api/v1/reading-keys, or make api-key)")


def reading_principal(session: SessionDep, settings: SettingsDep, token: BearerToken,
                      api_key: ApiKeyHeader) -> Principal:
    """The caller of a read-only GIS route (OGC API, exports, tiles): a bearer token, or a user's
    reading key in ``X-API-Key`` (for QGIS, GDAL, FME, which cannot log in). An integration's
    key pushes reports and never reads them: 403."""
    if token and is_reading_key(token):  # some programs send every key as a bearer token
        return authenticate_reading_key(session, key=token)
    if token:
        return get_principal(session, token=token, settings=settings)
    if not api_key:
        raise Unauthenticated(_NO_READING_CREDENTIALS)
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
    """The bearer token and the ``X-API-Key`` of a request, read as ``_bearer`` and ``_api_key``
    read them (for a route that takes them without those two dependencies)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    return (token or None) if scheme.lower() == "bearer" else None, request.headers.get("x-api-key") or None


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
        raise Unauthenticated(_NO_READING_CREDENTIALS)
    principal = principal_cache.peek(key) if cache else None
    if principal is None:
        principal = await run_in_threadpool(load)
        principal_cache.put(key, principal, ttl=settings.tile_auth_cache_seconds)
    return _GIS_READ.check(principal)


# The OpenAPI security of a route that takes its credentials with tile_reader: either of the
# schemes _bearer and _api_key declare (the other GIS routes declare them, so both are defined).
READING_SECURITY = {"security": [{_bearer.scheme_name: []}, {_api_key.scheme_name: []}]}
TileReader = Annotated[Principal, Depends(tile_reader)]
REPORTING = RequireRole(REPORTING_ROLES, "submit reports").check
Moderator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "moderate reports"))]
