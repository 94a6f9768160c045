"""Request dependencies: the current principal and small composable role checks."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from starlette.concurrency import run_in_threadpool

from app.auth.service import (
    ALL_REPORTS_ROLES, MODERATOR_ROLES, REPORTING_ROLES, Principal, get_principal, load_principal, looks_like_user_key,
    token_user_id,
)
from app.cache import TtlCache
from app.config import Settings, get_settings
from app.db import ReadSessionDep, SessionDep
from app.errors import Forbidden, Unauthenticated
from app.integrations.service import authenticate_key, find_key

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False,
                        description="A reading key (`python -m app.manage api-key --user <name>`); "
                                    "it acts with that user's role")


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
                           "'X-API-Key' (python -m app.manage api-key --user <name>)")


def reading_principal(session: SessionDep, settings: SettingsDep, token: BearerToken,
                      api_key: ApiKeyHeader) -> Principal:
    """The caller of a read-only GIS route (OGC API, exports, tiles): a bearer token, or a user's
    reading key in ``X-API-Key`` (for QGIS, GDAL, FME, which cannot log in). An integration's
    key pushes reports and never reads them: 403."""
    if token:
        return get_principal(session, token=token, settings=settings, reading_key_ok=True)
    if not api_key:
        raise Unauthenticated(_NO_READING_CREDENTIALS)
    if looks_like_user_key(api_key):
        return get_principal(session, token=api_key, settings=settings, reading_key_ok=True)
    client = authenticate_key(session, key=api_key)
    raise _integration_key_reads(client.name)


def _integration_key_reads(name: str) -> Forbidden:
    return Forbidden(f"The key of integration '{name}' may submit reports but not read them; use a "
                     "user's reading key (python -m app.manage api-key --user <name>) or a bearer token")


_GIS_READ = RequireRole(ALL_REPORTS_ROLES, "read report points and hotspot layers")


async def gis_reader(principal: Annotated[Principal, Depends(reading_principal)]) -> Principal:
    """est_member, coordinator or gis_reader, by bearer token or reading key (403 for reporters)."""
    return _GIS_READ.check(principal)


GisReader = Annotated[Principal, Depends(gis_reader)]

# Principals of the hotspot tiles by user id, each for settings.tile_auth_cache_seconds.
principal_cache: TtlCache[Principal] = TtlCache(size=1024)


async def tile_reader(session: ReadSessionDep, settings: SettingsDep, token: BearerToken,
                      api_key: ApiKeyHeader) -> Principal:
    """:func:`gis_reader` for the hotspot vector tiles, which a map asks for by the dozen: the
    token's signature and expiry are checked on every tile (an expired token is refused at
    once), the user behind it (role, municipality, still active) is looked up at most once per
    ``tile_auth_cache_seconds`` per process, in a worker thread; in between, no thread and
    no database. A role change or a deactivation therefore reaches the tiles within that time;
    the role check itself runs on every tile (reporters get 403)."""
    credential = token or (api_key if api_key and looks_like_user_key(api_key) else None)
    if credential is None:
        if not api_key:
            raise Unauthenticated(_NO_READING_CREDENTIALS)
        _, _, client = await run_in_threadpool(find_key, session, key=api_key)  # 401 unless an integration's
        raise _integration_key_reads(client.name)
    user_id = token_user_id(credential, settings=settings, reading_key_ok=True)
    principal = principal_cache.peek(user_id) if settings.tile_auth_cache_seconds > 0 else None
    if principal is None:
        principal = await run_in_threadpool(load_principal, session, user_id=user_id)
        principal_cache.put(user_id, principal, ttl=settings.tile_auth_cache_seconds)
    return _GIS_READ.check(principal)


TileReader = Annotated[Principal, Depends(tile_reader)]
REPORTING = RequireRole(REPORTING_ROLES, "submit reports").check
Moderator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "moderate reports"))]
