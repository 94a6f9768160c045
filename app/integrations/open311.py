"""Open311 GeoReport v2 (JSON) over the report intake, so that existing reporting apps can send reports in.

- Jurisdiction: ``jurisdiction_id`` is the municipality's kommunkod (``0484``); it may be left
  out while the service runs one municipality. An ``api_key`` (the form field or query
  parameter, or the ``X-API-Key`` header) belongs to one integration and so to its municipality.
- Services are the municipality's active EST categories (``service_code`` = category code).
- ``POST requests.json`` without an ``api_key`` is an anonymous citizen report, exactly as
  ``POST /api/v1/public/reports`` (rate-limited, status new until verified). With one it is a
  citizen report through that app: under the integration's organisation and initial status,
  with source ``open311:<name>`` — a person's report, never a call-out: incident linking puts
  it on the people's side (as it does every source that is not ``integration:``), so a fire
  reported through an app is linked with the rescue service's call-out like any citizen's.
  A ``media`` file part (multipart/form-data) is kept as the report's photo, EXIF removed; a
  file that is no image we can keep costs the photo, never the report.
- Status: ``open`` = new or verified (received; counted in the situation picture once
  verified), ``closed`` = rejected or duplicate.
- Privacy: descriptions and place names may name people, and exact points can identify a
  home, and where the rescue service was called out is nobody's business. Requests are
  citizens' reports only (anonymous, or through any Open311 app): anyone follows one by its id
  (``requests/{id}.json`` or ``service_request_id=``) and sees category, status, times and the
  centre of its H3 res-8 cell (~0.7 km², edge ~460 m); no description, no address. Full detail
  (description, address, exact position) only goes to the integration that filed it. Any other
  report (staff, police, guards, call-outs) is not found. Listing without ids needs an
  ``api_key`` and lists the requests that key's integration filed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import h3
from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.config import Settings
from app.errors import (
    Forbidden, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType, field_errors, summarise,
)
from app.hotspots.queries import CELL_COLUMNS
from app.integrations.open311_schemas import Open311ReportCreate, Open311RequestForm
from app.integrations.service import IntegrationClient, authenticate_key
from app.municipalities.models import Municipality
from app.reports import service as reports
from app.reports.attachments import add_attachment, clean_photo
from app.reports.images import CleanImage, DecodersBusy
from app.reports.models import Category, Report
from app.reports.taxonomy import DESCRIPTION_SV, group_label
from app.timeutil import local_iso, to_utc, utcnow

PREFIX = "/open311/v2"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-22T00:00:00+01:00"  # when this endpoint's services or definitions last changed shape
STATUS = {"new": "open", "verified": "open", "rejected": "closed", "duplicate": "closed"}
OUR_STATUSES = {"open": ("new", "verified"), "closed": ("rejected", "duplicate")}
STATUS_NOTES = {  # shown to the person who reported, so in Swedish
    "new": "Mottagen; kommunen granskar rapporten.",
    "verified": "Granskad och med i lägesbilden som EST-gruppen går igenom varannan vecka.",
    "rejected": "Inte godkänd som rapport.",
    "duplicate": "Dubblett av en annan rapport om samma händelse.",
}
_NO_PERSONAL_DATA = "Namn, e-post och telefon sparas inte; skriv inga personuppgifter i beskrivningen."
SERVICE_NOTICE = {  # by the status the report starts with (an integration's may start verified)
    "new": "Tack! Rapporten är mottagen och granskas av kommunen. " + _NO_PERSONAL_DATA,
    "verified": "Tack! Rapporten är mottagen och med i lägesbilden. " + _NO_PERSONAL_DATA,
}
PHOTO_NOT_KEPT = ("Bilden sparades inte (den gick inte att läsa som foto, var för stor, eller servern hade inte tid "
                  "med den just nu); rapporten är mottagen utan den.")
SOURCE_PREFIX = "open311:"  # + the integration's name: a citizen report through that app
PUBLIC_RESOLUTION = 8  # H3 cell whose centre is shown instead of the point
MAX_REQUESTS = 1000  # per GET requests.json, newest first (the spec's default limit)
MAX_SPAN = dt.timedelta(days=90)  # the spec's default and largest date range
ATTRIBUTES = [
    {"variable": True, "code": "occurred_from", "datatype": "datetime", "required": False, "order": 1,
     "datatype_description": "ISO 8601, t.ex. 2026-11-20T22:00:00+01:00; utan tidszon läses tiden som svensk tid",
     "description": "När hände det? Lämna tomt om det händer nu. Upptäckt i efterhand: när tidigast?",
     "values": []},
    {"variable": True, "code": "occurred_to", "datatype": "datetime", "required": False, "order": 2,
     "datatype_description": "ISO 8601, som ovan",
     "description": "Om det hände någon gång under en period: när senast?", "values": []},
]


@dataclass(frozen=True)
class Caller:
    """Who asks: an integration (with its api_key) or anyone, and for which municipality."""

    municipality: Municipality
    client: IntegrationClient | None


def resolve_caller(session: Session, *, api_key: str | None, jurisdiction_id: str | None) -> Caller:
    """The integration behind ``api_key`` (403 when unknown or revoked), and the municipality:
    the key's own, or the one ``jurisdiction_id`` (kommunkod) names (404 when unknown)."""
    if api_key:
        client = authenticate_key(session, key=api_key)
        muni = session.get(Municipality, client.municipality_id)
        if jurisdiction_id and jurisdiction_id != muni.code:
            raise InvalidInput(f"This api_key belongs to jurisdiction_id {muni.code} ({muni.name}), "
                               f"not {jurisdiction_id}")
        return Caller(municipality=muni, client=client)
    if jurisdiction_id:
        muni = session.scalar(select(Municipality).where(Municipality.code == jurisdiction_id))
        if muni is None:
            raise NotFound(f"jurisdiction_id {jurisdiction_id!r} was not found; it is the municipality's "
                           "four-digit kommunkod, e.g. 0484")
        return Caller(municipality=muni, client=None)
    munis = session.scalars(select(Municipality).limit(2)).all()
    if len(munis) != 1:
        raise InvalidInput("jurisdiction_id is required: this server serves several municipalities; give the "
                           "four-digit kommunkod, e.g. 0484", errors=[{"field": "jurisdiction_id", "message": "required"}])
    return Caller(municipality=munis[0], client=None)


def discovery(*, endpoint_url: str, contact: str, key_service: str) -> dict[str, Any]:
    """The Service Discovery document."""
    return {"changeset": CHANGESET, "contact": contact, "key_service": key_service,
            "endpoints": [{"specification": SPECIFICATION, "url": endpoint_url, "changeset": CHANGESET,
                           "type": "production", "formats": ["application/json"]}]}


def list_services(session: Session, caller: Caller) -> list[dict[str, Any]]:
    """The municipality's active categories as Open311 services, in Swedish for the citizen
    choosing one (``group`` the category group's name, not its internal code)."""
    out = []
    for c in reports.list_categories(session, municipality_id=caller.municipality.id):
        group = group_label(c.group_code)
        out.append({"service_code": c.code, "service_name": c.label_sv,
                    "description": DESCRIPTION_SV.get(c.code, c.label_sv), "metadata": True, "type": "realtime",
                    "keywords": f"{c.label_sv}, {group}, {c.label_en}", "group": group})
    return out


def get_service_definition(session: Session, caller: Caller, *, service_code: str) -> dict[str, Any]:
    """The attributes a request of this service may carry: when it happened."""
    _service(session, caller, service_code)
    return {"service_code": service_code, "attributes": ATTRIBUTES}


def _service(session: Session, caller: Caller, service_code: str) -> Category:
    category = session.scalar(select(Category).where(Category.municipality_id == caller.municipality.id,
                                                     Category.code == service_code, Category.active.is_(True)))
    if category is None:
        raise NotFound(f"service_code {service_code!r} was not found; services.json lists the codes")
    return category


def create_request(session: Session, caller: Caller, *, form: Open311RequestForm, photo: bytes | None,
                   settings: Settings, idempotency_key: str | None) -> list[dict[str, Any]]:
    """Store a service request as a report through the ordinary intake, with its photo when it
    has one (``photo``: the ``media`` file's bytes, or ``b""`` for a media field that is no
    file); the spec's response."""
    _service(session, caller, form.service_code)
    if form.lat is None or form.long is None:
        why = ("; this server does not geocode address_string or address_id"
               if form.address_string or form.address_id else "")
        raise InvalidInput(f"lat and long (WGS84) are required{why}",
                           errors=[{"field": "lat" if form.lat is None else "long", "message": "required"}])
    try:
        payload = Open311ReportCreate(category=form.service_code, lat=form.lat, lon=form.long,
                                      description=form.description or "", place=form.address_string,
                                      occurred_from=form.occurred_from, occurred_to=form.occurred_to,
                                      confirm_personal_data=form.confirm_personal_data)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        raise InvalidInput(summarise(errors, first=len(errors)), errors=errors) from None
    by = (app_submitter(caller.client) if caller.client
          else reports.citizen_submitter(session, municipality_id=caller.municipality.id))
    # The photo is decoded before the report is filed: filing may link it with a call-out and
    # lock that until the request ends, and the feed would then wait for this decode.
    image = _clean(photo, settings=settings) if photo is not None else None
    _, feature, replayed = reports.submit_report(session, payload=payload, by=by, skew_s=settings.clock_skew_seconds,
                                                 idempotency_key=idempotency_key)
    notice = SERVICE_NOTICE.get(feature["properties"]["status"], SERVICE_NOTICE["new"])
    if photo is not None and not replayed:
        if image is None:
            notice = f"{notice} {PHOTO_NOT_KEPT}"
        else:
            _keep_photo(session, settings=settings, by=by, image=image, report_id=uuid.UUID(feature["id"]))
    return [{"service_request_id": feature["id"], "service_notice": notice, "account_id": None}]


def app_submitter(client: IntegrationClient) -> reports.Submitter:
    """A citizen reporting through an Open311 app with its api_key: the integration's
    organisation, initial status and idempotency scope, under source ``open311:<name>`` — a
    person's report, so that incident linking takes it as one (see the module's docstring)."""
    return dataclasses.replace(reports.integration_submitter(client), source=f"{SOURCE_PREFIX}{client.name}")


def _own_sources(client: IntegrationClient) -> tuple[str, str]:
    """The sources of an integration's own requests: through Open311, and (filed before Open311
    reports had a source of their own, or by its system) as the integration itself."""
    return f"{SOURCE_PREFIX}{client.name}", client.source


def _readable(caller: Caller) -> ColumnElement[bool]:
    """The reports a caller may read as requests: citizens' (anonymous, or through any Open311
    app) for anyone, and with an api_key also the integration's own."""
    citizens = or_(Report.source == reports.PUBLIC_SOURCE, Report.source.startswith(SOURCE_PREFIX))
    return or_(citizens, Report.source.in_(_own_sources(caller.client))) if caller.client else citizens


def _clean(raw: bytes, *, settings: Settings) -> CleanImage | None:
    """The request's photo re-encoded (EXIF and GPS gone, as every photo); None when it is no
    image that can be kept (not an image, corrupt, too large) or no decoder came free in time:
    the citizen's report is then filed without it."""
    try:
        return clean_photo(raw, settings=settings)
    except (InvalidInput, UnsupportedMediaType, PayloadTooLarge, DecodersBusy):
        return None


def _keep_photo(session: Session, *, settings: Settings, by: reports.Submitter, image: CleanImage,
                report_id: uuid.UUID) -> None:
    """Store the cleaned photo with its new report through the attachment service, in the
    request's transaction, as the report's own submitter (who has no user account)."""
    submitter = Principal(user_id=None, username=by.source, role="reporter", organisation_id=by.organisation_id,
                          organisation_name=by.organisation_name, organisation_kind=by.organisation_kind,
                          municipality_id=by.municipality_id)
    add_attachment(session, settings=settings, report_id=report_id, image=image, principal=submitter)


def list_requests(session: Session, caller: Caller, *, ids: list[str], service_codes: list[str],
                  start: dt.datetime | None, end: dt.datetime | None, statuses: list[str],
                  now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """GET requests.json: by ids (citizens' requests for anyone; overrides every other argument),
    or the caller's own requests (api_key) requested between ``start`` and ``end`` (at most 90
    days; default the last 90), newest first, at most 1,000."""
    if ids:
        return _requests(session, caller, _base(caller).where(Report.id.in_(_uuids(ids)), _readable(caller)))
    if caller.client is None:
        raise Forbidden("Listing service requests needs an api_key (an app sees the requests it sent); without "
                        "one, ask for your own by service_request_id")
    unknown = [s for s in statuses if s not in OUR_STATUSES]
    if unknown:
        raise InvalidInput(f"status must be open or closed (comma-separated), not {', '.join(map(repr, unknown))}",
                           errors=[{"field": "status", "message": "open or closed"}])
    start, end = _date_range(start, end, now or utcnow())
    query = _base(caller).where(Report.source.in_(_own_sources(caller.client)), Report.reported_at >= start,
                                Report.reported_at < end)
    if service_codes:
        codes = {c.code for c in reports.list_categories(session, municipality_id=caller.municipality.id)}
        unknown = [c for c in service_codes if c not in codes]
        if unknown:
            raise InvalidInput(f"Unknown service_code {', '.join(map(repr, unknown))}; services.json lists the codes",
                               errors=[{"field": "service_code", "message": "unknown"}])
        query = query.where(Category.code.in_(service_codes))
    if statuses:
        query = query.where(Report.status.in_([s for status in statuses for s in OUR_STATUSES[status]]))
    return _requests(session, caller, query)


def get_request(session: Session, caller: Caller, *, request_id: str) -> list[dict[str, Any]]:
    """GET requests/{id}.json: the one request, as a list of one (404 when there is none that
    the caller may read: see :func:`_readable`)."""
    found = _requests(session, caller, _base(caller).where(Report.id.in_(_uuids([request_id])), _readable(caller)))
    if not found:
        raise NotFound(f"No service request {request_id} in {caller.municipality.name}")
    return found


def _date_range(start: dt.datetime | None, end: dt.datetime | None,
                now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) in UTC: defaults as the spec says (the last 90 days), at most 90 days;
    a time without offset is Swedish local time, as everywhere in this API."""
    start, end = (to_utc(t) if t is not None else None for t in (start, end))
    end = end or (min(start + MAX_SPAN, now) if start else now)
    start = start or end - MAX_SPAN
    if end <= start:
        raise InvalidInput("end_date must be after start_date", errors=[{"field": "end_date", "message": "not after"}])
    if end - start > MAX_SPAN:
        raise InvalidInput("start_date to end_date may not span more than 90 days",
                           errors=[{"field": "end_date", "message": "more than 90 days after start_date"}])
    return start, end


def _uuids(values: list[str]) -> list[uuid.UUID]:
    """The ids that are UUIDs; anything else cannot name a request and is simply not found."""
    out = []
    for value in values:
        try:
            out.append(uuid.UUID(value.strip()))
        except ValueError:
            continue
    return out


def _base(caller: Caller) -> Select:
    return (select(Report.id, Report.status, Report.reported_at, Report.updated_at, Report.description,
                   Report.place_name, Report.source, CELL_COLUMNS[PUBLIC_RESOLUTION].label("cell"),
                   func.ST_X(Report.geom).label("lon"),
                   func.ST_Y(Report.geom).label("lat"), Category.code, Category.label_sv)
            .join(Category, Category.id == Report.category_id)
            .where(Report.municipality_id == caller.municipality.id)
            .order_by(Report.reported_at.desc(), Report.id.desc()).limit(MAX_REQUESTS))


def _requests(session: Session, caller: Caller, query: Select) -> list[dict[str, Any]]:
    own = _own_sources(caller.client) if caller.client else ()
    return [_request_json(row, full=row.source in own, agency=caller.municipality.name)
            for row in session.execute(query)]


def _request_json(row, *, full: bool, agency: str) -> dict[str, Any]:
    """One request in the spec's fields; ``full`` for the integration that filed it."""
    if full:
        lat, lon = round(row.lat, 7), round(row.lon, 7)
    else:
        lat, lon = (round(v, 6) for v in h3.cell_to_latlng(h3.int_to_str(row.cell)))
    return {
        "service_request_id": str(row.id), "status": STATUS[row.status], "status_notes": STATUS_NOTES[row.status],
        "service_name": row.label_sv, "service_code": row.code,
        "description": row.description if full else None, "agency_responsible": agency, "service_notice": None,
        "requested_datetime": _w3(row.reported_at), "updated_datetime": _w3(max(row.updated_at, row.reported_at)),
        "expected_datetime": None, "address": row.place_name if full else None, "address_id": None,
        "zipcode": None, "lat": lat, "long": lon, "media_url": None,
    }


def _w3(instant: dt.datetime) -> str:
    """The spec's w3 date-time: local time with its offset, whole seconds."""
    return local_iso(instant.replace(microsecond=0))
