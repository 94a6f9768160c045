"""Anonymous citizen reporting: no login, rate-limited per client, excluded from analysis
until a coordinator verifies the report."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from app.auth.deps import SettingsDep
from app.db import SessionDep
from app.municipalities.service import resolve_public_municipality
from app.ratelimit import hit_or_raise
from app.reports import service
from app.reports.router import IdempotencyKey, JsonBody, category_read, created_response
from app.reports.schemas import CategoryRead, PublicReportCreate, PublicReportFeature, ReportCreate

router = APIRouter(prefix="/api/v1/public", tags=["public"])


@router.post("/reports", status_code=201, response_model=PublicReportFeature, dependencies=[JsonBody],
             summary="Anonymous citizen report (no login; rate-limited)")
def create_public_report(payload: PublicReportCreate, request: Request, session: SessionDep,
                         settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    hit_or_raise(settings.public_rate_limit, "public-report", request)
    muni = resolve_public_municipality(session, code=payload.municipality)
    submitter = service.citizen_submitter(session, municipality_id=muni.id)
    report = ReportCreate.model_validate(payload.model_dump(exclude={"municipality", "external_id"},
                                                            exclude_unset=True))
    status, body, replayed = service.submit_report(session, payload=report, by=submitter,
                                                   skew_s=settings.clock_skew_seconds,
                                                   idempotency_key=idempotency_key)
    return created_response(status, service.citizen_feature(body), replayed)


@router.get("/categories", response_model=list[CategoryRead], summary="Categories (no login)")
def public_categories(session: SessionDep,
                      municipality: Annotated[str | None, Query(pattern=r"^[0-9]{4}$")] = None) -> list[CategoryRead]:
    muni = resolve_public_municipality(session, code=municipality)
    return [category_read(c) for c in service.list_categories(session, municipality_id=muni.id)]
