"""HTTP routes of Open311 GeoReport v2 (JSON) at ``/open311/v2``; errors in the spec's own format."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile  # what a form's file part is (FastAPI's UploadFile subclasses it)

from app.auth.deps import SettingsDep
from app.db import SessionDep
from app.errors import NotFound, UnsupportedMediaType
from app.integrations import open311
from app.integrations.open311_schemas import Open311RequestForm
from app.ratelimit import hit_or_raise
from app.reports.deps import csv_values
from app.reports.router import IdempotencyKey
from app.reports.schemas import When


class Open311JSON(JSONResponse):
    """JSON as the spec serves it: ``application/json; charset=utf-8`` (answers and errors)."""

    media_type = "application/json; charset=utf-8"


router = APIRouter(prefix=open311.PREFIX, tags=["Open311 GeoReport v2"])
Jurisdiction = Annotated[str | None, Query(description="the municipality's kommunkod, e.g. 0484; may be left out "
                                                       "while the service runs one municipality")]
_ERROR_STATUS = {401: 403, 409: 400, 415: 400, 422: 400}  # the spec: 403 for api_key, 404 missing, else 400


def api_key(api_key: Annotated[str | None, Query(description="an integration's key (an app's): its own requests "
                                                             "in full")] = None,
            x_api_key: Annotated[str | None, Header(alias="X-API-Key", description="the same key as a header, as on "
                                                                                  "the rest of the API")] = None,
            ) -> str | None:
    """The caller's key: the spec's ``api_key`` parameter, or the ``X-API-Key`` header, without
    the spaces a pasted key brings along (none when both are empty)."""
    return next((k.strip() for k in (api_key, x_api_key) if k and k.strip()), None)


ApiKey = Annotated[str | None, Depends(api_key)]


def error_response(status: int, detail: str, errors: list[dict[str, Any]] | None,
                   headers: dict[str, str] | None) -> JSONResponse:
    """An error in the spec's own format: ``[{"code": ..., "description": ...}]`` with its HTTP
    status (403 for api_key problems, 400 for bad input; one entry per field when several)."""
    status = _ERROR_STATUS.get(status, status)
    items = ([{"code": status, "description": f"{e['field']}: {e['message']}"} for e in errors]
             if errors and len(errors) > 1 else [{"code": status, "description": detail}])
    headers = {k: v for k, v in (headers or {}).items() if k.lower() != "www-authenticate"}
    return Open311JSON(items, status_code=status, headers=headers or None)


async def require_form(request: Request) -> None:
    """The spec sends a new request as a form; anything else is refused before it is parsed."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("POST requests.json takes form fields (Content-Type: "
                                   f"application/x-www-form-urlencoded, or multipart/form-data with a photo as its "
                                   f"media part), as GeoReport v2 says; got {ctype or 'none'}")


def photo_of(media: UploadFile | str | None) -> bytes | None:
    """The bytes of a request's ``media`` file part; ``b""`` (no photo that can be kept) for a
    ``media`` field that is no file, None without one."""
    if not isinstance(media, UploadFile):
        return None if media is None else b""
    return media.file.read()


@router.get("/discovery.json", summary="Service discovery")
def discovery(request: Request, settings: SettingsDep) -> JSONResponse:
    endpoint = f"{str(request.base_url).rstrip('/')}{open311.PREFIX}"
    return Open311JSON(open311.discovery(endpoint_url=endpoint, contact=settings.open311_contact,
                                          key_service=settings.open311_key_service))


@router.get("/services.json", summary="The service list: the municipality's EST categories")
def services(session: SessionDep, jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    caller = open311.resolve_caller(session, api_key=None, jurisdiction_id=jurisdiction_id)
    return Open311JSON(open311.list_services(session, caller))


@router.get("/services/{service_code}.json", summary="A service definition (its attributes)")
def service_definition(service_code: str, session: SessionDep, jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    caller = open311.resolve_caller(session, api_key=None, jurisdiction_id=jurisdiction_id)
    return Open311JSON(open311.get_service_definition(session, caller, service_code=service_code))


@router.post("/requests.json", dependencies=[Depends(require_form)],
             summary="Create a service request: with api_key (or X-API-Key) as a citizen report through that app, "
                     "without as an anonymous citizen (rate-limited); a photo as the multipart part media")
def create_request(form: Annotated[Open311RequestForm, Form()], request: Request, session: SessionDep,
                   settings: SettingsDep, key: ApiKey, jurisdiction_id: Jurisdiction = None,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    key = form.api_key or key
    if not key:  # one allowance per client with POST /api/v1/public/reports
        hit_or_raise(settings.public_rate_limit, "public-report", request)
    caller = open311.resolve_caller(session, api_key=key, jurisdiction_id=form.jurisdiction_id or jurisdiction_id)
    # 200, not 201: the spec's examples, and the Bloomington GeoReporter app takes no other as success
    return Open311JSON(open311.create_request(session, caller, form=form, photo=photo_of(form.media),
                                              settings=settings, idempotency_key=idempotency_key))


@router.get("/requests.json", summary="Service requests: citizens' by id for anyone, an app's own with its api_key")
def list_requests(
    session: SessionDep, key: ApiKey, jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[list[str], Query(description="ids, comma-separated or repeated; overrides the "
                                                               "rest")] = [],
    service_code: Annotated[list[str], Query(description="service codes, comma-separated or repeated")] = [],
    start_date: Annotated[When | None, Query(description="requested at or after (ISO 8601)")] = None,
    end_date: Annotated[When | None, Query(description="requested before (ISO 8601); at most 90 days")] = None,
    status: Annotated[list[str], Query(description="open, closed (comma-separated or repeated)")] = [],
) -> JSONResponse:
    caller = open311.resolve_caller(session, api_key=key, jurisdiction_id=jurisdiction_id)
    return Open311JSON(open311.list_requests(session, caller, ids=list(csv_values(service_request_id, field="service_request_id")),
                                              service_codes=list(csv_values(service_code, field="service_code")), start=start_date, end=end_date,
                                              statuses=list(csv_values(status, field="status"))))


@router.get("/requests/{service_request_id}.json", summary="One service request (a list of one, as the spec has it)")
def get_request(service_request_id: str, session: SessionDep, key: ApiKey,
                jurisdiction_id: Jurisdiction = None) -> JSONResponse:
    caller = open311.resolve_caller(session, api_key=key, jurisdiction_id=jurisdiction_id)
    return Open311JSON(open311.get_request(session, caller, request_id=service_request_id))


@router.api_route("/{name:path}.xml", methods=["GET", "POST"], include_in_schema=False)
def xml_format(name: str) -> None:
    """GeoReport v2's XML format is not served: say so in the spec's error format."""
    raise NotFound(f"this server speaks JSON only; use .json ({open311.PREFIX}/{name}.json)")
