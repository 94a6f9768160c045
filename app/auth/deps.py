"""Request dependencies: the current principal and small composable role checks."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import OAuth2PasswordBearer

from app.auth.service import MODERATOR_ROLES, REPORTING_ROLES, Principal, get_principal
from app.config import Settings, get_settings
from app.db import SessionDep
from app.errors import Forbidden, Unauthenticated

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


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


REPORTING = RequireRole(REPORTING_ROLES, "submit reports").check
Moderator = Annotated[Principal, Depends(RequireRole(MODERATOR_ROLES, "moderate reports"))]
