"""POST /api/v1/auth/token (the OAuth2 password flow) and /api/v1/reading-keys (keys for GIS programs)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import OAuth2PasswordRequestForm

from app.auth import keys
from app.auth.deps import CurrentPrincipal, RequireRole, SettingsDep
from app.auth.schemas import ReadingKeyCreate, ReadingKeyCreated, ReadingKeyRead, TokenRead
from app.auth.service import ALL_REPORTS_ROLES, Principal, authenticate, create_token
from app.db import RowId, SessionDep
from app.ratelimit import hit_or_raise

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenRead, summary="Log in (form fields username, password)")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()],
          session: SessionDep, settings: SettingsDep) -> TokenRead:
    """No login needed (this is the login). Rate-limited per client and username."""
    hit_or_raise(settings.login_rate_limit, "login", request, form.username)
    hit_or_raise(settings.login_client_rate_limit, "login-client", request)
    user = authenticate(session, username=form.username, password=form.password, settings=settings)
    access, lifetime = create_token(user=user, settings=settings)
    return TokenRead(access_token=access, expires_in=lifetime, role=user.role)


reading_keys = APIRouter(prefix="/api/v1/reading-keys", tags=["auth"])
GisRole = Annotated[Principal, Depends(RequireRole(ALL_REPORTS_ROLES, "have reading keys for GIS programs"))]


@reading_keys.get("", response_model=list[ReadingKeyRead], summary="Your reading keys (coordinator: all=true)")
def list_reading_keys(session: SessionDep, principal: CurrentPrincipal,
                      everyone: Annotated[bool, Query(alias="all")] = False) -> list[dict]:
    """Your keys, newest first, without the secrets; a coordinator with `all=true` sees every
    key of the municipality's users (who has one, when it was last used)."""
    return keys.list_reading_keys(session, principal=principal, everyone=everyone)


@reading_keys.post("", response_model=ReadingKeyCreated, status_code=201, summary="A new reading key")
def create_reading_key(payload: ReadingKeyCreate, session: SessionDep, principal: GisRole) -> dict:
    """est_member, coordinator, gis_reader (logged in). The key is shown once: put it in the GIS
    program as the header `X-API-Key`. It acts with your *current* role and stops working when
    it is revoked, when it expires, or when your account is deactivated."""
    return keys.create_reading_key(session, user_id=principal.user_id, label=payload.label, days=payload.days,
                                   created_by=principal.user_id)


@reading_keys.delete("/{key_id}", response_model=ReadingKeyRead, summary="Revoke a reading key")
def revoke_reading_key(key_id: RowId, session: SessionDep, principal: CurrentPrincipal) -> dict:
    """Your own key, or as coordinator any of the municipality's users' keys. The next request
    with it gets 401 (the hotspot tiles may still accept it for their cache time, 5 s)."""
    return keys.revoke_reading_key(session, key_id=key_id, principal=principal)
