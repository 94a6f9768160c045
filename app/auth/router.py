"""POST /api/v1/auth/token: the OAuth2 password flow."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from app.auth.deps import SettingsDep
from app.auth.schemas import TokenRead
from app.auth.service import authenticate, create_token
from app.db import SessionDep
from app.ratelimit import hit_or_raise

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post("/token", response_model=TokenRead, summary="Log in (form fields username, password)")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()],
          session: SessionDep, settings: SettingsDep) -> TokenRead:
    """No login needed (this is the login). Rate-limited per client and username."""
    hit_or_raise(settings.login_rate_limit, "login", request, form.username)
    hit_or_raise(settings.login_client_rate_limit, "login-client", request)
    user = authenticate(session, username=form.username, password=form.password)
    access, lifetime = create_token(user=user, settings=settings)
    return TokenRead(access_token=access, expires_in=lifetime, role=user.role)
