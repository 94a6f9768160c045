"""HTTP routes for reports, categories and photos. Thin: parse, call one service, return."""
from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response

from app import geo
from app.auth.deps import REPORTING, BearerToken, CurrentPrincipal, Moderator, SettingsDep, current_principal
from app.db import SessionDep
from app.integrations.service import authenticate_key
from app.middleware import require_json
from app.pagination import Cursor, clamp_limit
from app.reports import attachments as attachment_service
from app.responses import NOT_STORED
from app.reports import service
from app.reports.deps import ReportFilterDep, reject_unknown_query_params
from app.reports.schemas import (
    AttachmentRead, CategoryRead, ReportCollection, ReportCreate, ReportFeature, ReportHistoryEntry, ReportUpdate,
)
from app.timeutil import utcnow

router = APIRouter(prefix="/api/v1", tags=["reports"])
GEOJSON = "application/geo+json"
JsonBody = Depends(require_json)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key",
                                              description="A unique key per report (a UUID); retries with the "
                                                          "same key return the first response")]


def current_submitter(request: Request, session: SessionDep, settings: SettingsDep, token: BearerToken,
                      api_key: Annotated[str | None, Header(alias="X-API-Key")] = None) -> service.Submitter:
    """Who is submitting: a logged-in user with a reporting role, or an integration's API key."""
    if api_key:
        return service.integration_submitter(authenticate_key(session, key=api_key))
    principal = current_principal(request, session, settings, token)
    REPORTING(principal)
    return service.Submitter(municipality_id=principal.municipality_id, user_id=principal.user_id,
                             organisation_id=principal.organisation_id, organisation_name=principal.organisation_name,
                             organisation_kind=principal.organisation_kind, source="web",
                             idempotency_scope=f"user:{principal.user_id}")


@router.post("/reports", status_code=201, response_model=ReportFeature, dependencies=[JsonBody],
             summary="Submit a report (reporter, est_member, coordinator; or an integration's X-API-Key)")
def create_report(payload: ReportCreate, submitter: Annotated[service.Submitter, Depends(current_submitter)],
                  session: SessionDep, settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> JSONResponse:
    status, body, replayed = service.submit_report(session, payload=payload, by=submitter,
                                                   skew_s=settings.clock_skew_seconds,
                                                   idempotency_key=idempotency_key)
    return created_response(status, body, replayed)


def created_response(status: int, body: dict, replayed: bool) -> JSONResponse:
    headers = {"Location": f"/api/v1/reports/{body['id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=status, headers=headers)


@router.get("/reports", response_model=ReportCollection, summary="List reports as GeoJSON")
def list_reports(
    request: Request, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep, flt: ReportFilterDep,
    limit: Annotated[int | None, Query(ge=1, description="Page size; capped")] = None,
    cursor: Annotated[str | None, Query(description="From the 'next' link")] = None,
    crs: Annotated[str | None, Query(description="EPSG:4326 (default) or EPSG:3006 for the coordinates")] = None,
) -> JSONResponse:
    reject_unknown_query_params(request)  # a typo such as statuss= must not list every report
    out_crs = geo.parse_crs(crs, default=geo.WGS84)
    page_size = clamp_limit(limit, default=settings.list_default_limit, maximum=settings.list_max_limit)
    features, matched, next_cursor = service.list_reports(
        session, principal=principal, flt=flt, limit=page_size,
        cursor=Cursor.decode(cursor) if cursor else None, exact_coordinates=out_crs != geo.WGS84)
    links = [{"href": str(request.url), "rel": "self", "type": GEOJSON}]
    if next_cursor:
        links.append({"href": str(request.url.include_query_params(cursor=next_cursor.encode(), limit=page_size)),
                      "rel": "next", "type": GEOJSON})
    body = {"type": "FeatureCollection", "features": _in_crs(features, out_crs), "numberMatched": matched,
            "numberReturned": len(features), "timeStamp": utcnow().isoformat(), "links": links}
    if out_crs != geo.WGS84:
        body["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}}
    return JSONResponse(body, media_type=GEOJSON, headers={"Content-Crs": f"<{_crs_uri(out_crs)}>"})


def _crs_uri(crs: str) -> str:
    if crs == geo.SWEREF99TM:
        return "http://www.opengis.net/def/crs/EPSG/0/3006"
    return "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _in_crs(features: list[dict], crs: str) -> list[dict]:
    """Reproject feature coordinates to SWEREF 99 TM (metres, easting/northing, to the cm) when
    asked. The features must carry the stored coordinates (``exact_coordinates``): projecting
    values already rounded to 7 decimals put a point up to ~1 cm from where the exports and
    the OGC API put it."""
    if crs == geo.WGS84:
        return features
    for f in features:
        x, y = geo.wgs84_to_sweref(*f["geometry"]["coordinates"])
        f["geometry"]["coordinates"] = [round(x, 2), round(y, 2)]
    return features


@router.get("/reports/{report_id}", response_model=ReportFeature, summary="One report")
def get_report(report_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep,
               crs: str | None = None) -> JSONResponse:
    out_crs = geo.parse_crs(crs, default=geo.WGS84)
    feature = service.get_report(session, report_id=report_id, principal=principal,
                                 exact_coordinates=out_crs != geo.WGS84)
    return JSONResponse(_in_crs([feature], out_crs)[0], media_type=GEOJSON)


@router.patch("/reports/{report_id}", response_model=ReportFeature, dependencies=[JsonBody], summary="Moderate a report (coordinator)")
def update_report(report_id: uuid.UUID, changes: ReportUpdate, principal: Moderator,
                  session: SessionDep) -> JSONResponse:
    feature = service.update_report(session, report_id=report_id, changes=changes, principal=principal)
    return JSONResponse(feature, media_type=GEOJSON)


@router.delete("/reports/{report_id}/incident", response_model=ReportFeature,
               summary="Undo an incident link (coordinator): the report, or every report linked to it, "
                       "counts on its own again")
def unlink_report(report_id: uuid.UUID, principal: Moderator, session: SessionDep) -> JSONResponse:
    return JSONResponse(service.unlink_report(session, report_id=report_id, principal=principal), media_type=GEOJSON)


@router.get("/reports/{report_id}/history", response_model=list[ReportHistoryEntry],
            summary="A report's history: moderation, feed updates, incident links (coordinator)")
def report_history(report_id: uuid.UUID, principal: Moderator, session: SessionDep) -> list[dict]:
    return service.report_history(session, report_id=report_id, principal=principal)


@router.post("/reports/{report_id}/attachments", status_code=201, response_model=AttachmentRead,
             summary="Add a photo (JPEG/PNG/WebP; EXIF and GPS are removed)")
def add_attachment(report_id: uuid.UUID, file: UploadFile, principal: CurrentPrincipal, session: SessionDep,
                   settings: SettingsDep,
                   idempotency_key: Annotated[str | None, Header(
                       alias="Idempotency-Key", description="A unique key per photo; a retry with the same key "
                                                            "returns the first answer, not a second copy")] = None,
                   ) -> JSONResponse:
    raw = file.file.read(settings.attachment_max_bytes + 1)
    status, body, replayed = attachment_service.add_attachment_once(
        session, settings=settings, report_id=report_id, raw=raw, principal=principal, idempotency_key=idempotency_key)
    headers = {"Location": body["href"], **({"Idempotent-Replayed": "true"} if replayed else {})}
    return JSONResponse(body, status_code=status, headers=headers)


@router.get("/attachments/{attachment_id}", response_class=FileResponse, summary="A report photo")
def get_attachment(attachment_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep,
                   settings: SettingsDep) -> FileResponse:
    attachment, path = attachment_service.get_attachment_file(session, settings=settings,
                                                              attachment_id=attachment_id, principal=principal)
    return FileResponse(path, media_type=attachment.content_type, headers=NOT_STORED)


@router.delete("/attachments/{attachment_id}", status_code=204, summary="Remove a photo (coordinator): the file "
               "is deleted, the report's history records it")
def delete_attachment(attachment_id: uuid.UUID, principal: Moderator, session: SessionDep,
                      settings: SettingsDep) -> Response:
    attachment_service.delete_attachment(session, settings=settings, attachment_id=attachment_id, principal=principal)
    return Response(status_code=204)


@router.get("/categories", response_model=list[CategoryRead], summary="The municipality's categories")
def list_categories(principal: CurrentPrincipal, session: SessionDep) -> list[CategoryRead]:
    return [category_read(c) for c in service.list_categories(session, municipality_id=principal.municipality_id)]


def category_read(c) -> CategoryRead:
    return CategoryRead(code=c.code, label_sv=c.label_sv, label_en=c.label_en, group=c.group_code,
                        colour=c.colour, icon=c.icon)
