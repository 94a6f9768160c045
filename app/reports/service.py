"""Report intake, reading and moderation.

Services flush; the request's session dependency commits. Every check that can reject a
report runs before the insert, and the insert, its H3 cells and its idempotency record
are one transaction: a failed request leaves no rows.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import ColumnElement, Float, Row, Select, String, and_, case, cast, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from app import geo
from app.auth.models import User
from app.auth.service import Principal
from app.errors import Conflict, Forbidden, InvalidInput, NotFound, require_known
from app.hotspots.queries import in_cells
from app.integrations.service import IntegrationClient, duplicate_external_id, lock_external_ids
from app.municipalities.models import Municipality, Organisation
from app.municipalities.service import citizen_organisation
from app.pagination import Cursor
from app.reports import personal_data
from app.reports import incidents
from app.reports.idempotency import request_fingerprint, run_once
from app.reports.models import Attachment, Category, Report, ReportEvent
from app.reports.schemas import ReportCreate, ReportUpdate
from app.timeutil import local_iso, to_utc, utcnow


PUBLIC_SOURCE = "public"  # an anonymous citizen's report (the web form, or an Open311 app without a key)
# Where a report comes from decides its side in incident linking: an integration's own events
# (``integration:<name>``: its events feed, or one event by X-API-Key on POST /api/v1/reports)
# are call-outs; every other source (staff, citizens, Open311 apps with or without a key) is a
# person's report. The partial index of people's reports (ix_report_people_category_occurred)
# and the candidate queries of app/reports/incidents.py draw the line at the same prefix.
PUSHED_SOURCE_PREFIX = "integration:"
# What the answer to a citizen leaves out: whether, and with what, the report was linked (a
# rescue-service call-out nearby) and who files reports — nothing an anonymous caller may probe.
NOT_FOR_CITIZENS = frozenset({"incident_of", "linked_reports", "organisation", "organisation_kind", "source"})


@dataclass(frozen=True)
class Submitter:
    """Who a new report comes from: a logged-in user, or an anonymous citizen (user_id None)."""

    municipality_id: int
    user_id: int | None
    organisation_id: int | None
    organisation_name: str | None
    organisation_kind: str | None
    source: str
    idempotency_scope: str
    initial_status: str = "new"  # integrations may be trusted to file verified reports
    integration_id: int | None = None


def citizen_submitter(session: Session, *, municipality_id: int) -> Submitter:
    """An anonymous citizen of the municipality (public reports, Open311 without an api_key):
    filed under its 'medborgare' organisation, idempotency keys scoped to the municipality."""
    org = citizen_organisation(session, municipality_id=municipality_id)
    return Submitter(municipality_id=municipality_id, user_id=None, organisation_id=org.id if org else None,
                     organisation_name=org.name if org else None, organisation_kind="medborgare", source=PUBLIC_SOURCE,
                     idempotency_scope=f"public:{municipality_id}")


def integration_submitter(client: IntegrationClient) -> Submitter:
    """An integration's system (X-API-Key, or Open311's api_key): reports under its organisation
    with source ``integration:<name>``."""
    return Submitter(municipality_id=client.municipality_id, user_id=None, organisation_id=client.organisation_id,
                     organisation_name=client.organisation_name, organisation_kind=client.organisation_kind,
                     source=client.source, idempotency_scope=f"integration:{client.integration_id}",
                     initial_status=client.initial_status, integration_id=client.integration_id)


@dataclass(frozen=True)
class ReportFilter:
    """Filters of the report list; every field is optional. Times are UTC."""

    bbox: geo.Area | None = None
    categories: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()  # category groups (the hotspot layer's group filter), active categories or not
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    statuses: tuple[str, ...] = ()
    organisation_kinds: tuple[str, ...] = ()
    mine: bool = False  # only the caller's own reports ("My reports")
    cell: tuple[int, int] | None = None  # (H3 resolution, cell) the report lies in
    external_id: str | None = None  # an integration's own id of the event (the rescue service's call-out number)


def resolve_position(payload: ReportCreate) -> tuple[float, float]:
    """(lon, lat) in WGS84 from either lat/lon or x/y in SWEREF 99 TM."""
    crs = geo.parse_crs(payload.crs, default=None)
    if payload.lat is not None:
        if crs not in (None, geo.WGS84):
            raise InvalidInput("lat/lon are WGS84 (EPSG:4326); use x/y for EPSG:3006",
                               errors=[{"field": "crs", "message": "must be EPSG:4326 with lat/lon"}])
        return payload.lon, payload.lat
    if crs == geo.WGS84:
        x, y = payload.x, payload.y
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise InvalidInput("x/y in EPSG:4326 are lon/lat degrees and out of range",
                               errors=[{"field": "x", "message": "longitude out of range"}])
        return x, y
    if crs is None:
        raise InvalidInput("x/y need a crs: \"EPSG:3006\" (SWEREF 99 TM)",
                           errors=[{"field": "crs", "message": "required with x/y"}])
    if not (geo.SWEREF_E[0] <= payload.x <= geo.SWEREF_E[1] and geo.SWEREF_N[0] <= payload.y <= geo.SWEREF_N[1]):
        raise InvalidInput(
            f"x={payload.x}, y={payload.y} is outside SWEREF 99 TM's area (Sweden); "
            "x is the easting (about 200000-950000), y the northing (about 6100000-7700000)",
            errors=[{"field": "x", "message": "outside SWEREF 99 TM area"}])
    return geo.sweref_to_wgs84(payload.x, payload.y)


def resolve_window(payload: ReportCreate, *, now: dt.datetime, skew_s: int) -> tuple[dt.datetime, dt.datetime]:
    """The occurrence window in UTC: "now" by default, a moment, or [from, to]."""
    start = to_utc(payload.occurred_from) if payload.occurred_from else None
    end = to_utc(payload.occurred_to) if payload.occurred_to else None
    if start is None and end is None:
        return now, now
    start = start or end
    end = end or start
    if end < start:
        raise InvalidInput(
            f"occurred_to ({local_iso(end)}) is before occurred_from ({local_iso(start)})",
            errors=[{"field": "occurred_to", "message": "must not be before occurred_from"}])
    if end > now + dt.timedelta(seconds=skew_s):
        field = "occurred_to" if payload.occurred_to else "occurred_from"
        raise InvalidInput(f"{field} ({local_iso(end)}) is in the future; the time now is {local_iso(now)}",
                           errors=[{"field": field, "message": "in the future"}])
    return start, end


def check_personal_data(payload: ReportCreate) -> None:
    """Ask the reporter to confirm a description or place that looks like it names someone
    (422 personal-data). Both are shown to several organisations; an Open311 app fills the
    place from its free-text address."""
    if payload.confirm_personal_data:
        return
    found = personal_data.found_in({"description": payload.description, "place": payload.place})
    if found:
        raise personal_data.suspected(found, read_by="Reports are read by several organisations",
                                      resend="send the report again with confirm_personal_data=true")


def create_report(session: Session, *, payload: ReportCreate, by: Submitter, skew_s: int) -> dict[str, Any]:
    """Validate and store one report; returns its GeoJSON feature."""
    lon, lat = resolve_position(payload)
    check_personal_data(payload)
    now = utcnow()
    start, end = resolve_window(payload, now=now, skew_s=skew_s)
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    row = session.execute(
        select(Municipality.name, func.ST_Covers(Municipality.boundary, point),
               Category.id, Category.active, Category.label_sv, Category.group_code)
        .outerjoin(Category, and_(Category.municipality_id == Municipality.id, Category.code == payload.category))
        .where(Municipality.id == by.municipality_id)
    ).one()
    muni_name, inside, category_id, active, label, group = row
    if category_id is None or not active:
        raise InvalidInput(f"Unknown category {payload.category!r}; see GET /api/v1/categories for the codes",
                           errors=[{"field": "category", "message": "unknown or inactive category"}])
    if not inside:
        raise InvalidInput(f"The point (lat {lat:.6f}, lon {lon:.6f}) is outside {muni_name}'s boundary; "
                           "reports are accepted only inside the municipality",
                           errors=[{"field": "lat" if payload.lat is not None else "x", "message": "outside the municipality"}])
    cells = geo.h3_cells(lat, lon)
    report = Report(
        id=uuid.uuid4(), municipality_id=by.municipality_id, category_id=category_id,
        occurred_from=start, occurred_to=end, reported_at=now, geom=from_shape(Point(lon, lat), srid=4326),
        h3_r7=cells[7], h3_r8=cells[8], h3_r9=cells[9], h3_r10=cells[10],
        description=payload.description.strip(), place_name=payload.place, reporter_id=by.user_id,
        organisation_id=by.organisation_id, source=by.source, status=by.initial_status,
    )
    if payload.external_id is not None:
        if not by.source.startswith(PUSHED_SOURCE_PREFIX):
            raise InvalidInput("external_id is for integrations (X-API-Key); leave it out",
                               errors=[{"field": "external_id", "message": "only with an API key"}])
        report.external_id = payload.external_id
        lock_external_ids(session, integration_id=by.integration_id)  # not while a feed batch files them
    try:
        with session.begin_nested():
            session.add(report)
            session.flush()
    except IntegrityError as exc:
        if payload.external_id is None or not duplicate_external_id(exc):
            raise
        raise Conflict(f"A report with external_id {payload.external_id!r} from {by.source} already exists; "
                       "use a new external_id, or the integration's events feed to update it") from None
    links = incidents.link_arrivals(session, municipality_id=by.municipality_id, status=by.initial_status,
                                    pushed=by.source.startswith(PUSHED_SOURCE_PREFIX), ids=[report.id], lon=[lon], lat=[lat],
                                    start=[start.timestamp()], end=[end.timestamp()], category_id=[category_id])
    linked = sorted(s for s, primary in links.items() if primary == report.id)
    return _feature(id=report.id, lon=lon, lat=lat, category=payload.category, label=label, group=group,
                    occurred_from=start, occurred_to=end, reported_at=now, description=report.description,
                    place=payload.place, status=by.initial_status, source=by.source, organisation=by.organisation_name,
                    organisation_kind=by.organisation_kind, mine=by.user_id is not None, h3_r9=cells[9],
                    external_id=report.external_id, incident_of=links.get(report.id), linked_reports=linked)


def submit_report(session: Session, *, payload: ReportCreate, by: Submitter, skew_s: int,
                  idempotency_key: str | None) -> tuple[int, dict[str, Any], bool]:
    """:func:`create_report` once per Idempotency-Key; returns (status, feature, replayed). A
    retry gets the report as it is now (only its id is kept with the key)."""
    return run_once(session, scope=by.idempotency_scope, key=idempotency_key,
                    fingerprint=request_fingerprint(payload.model_dump(mode="json")), status_code=201,
                    work=lambda: create_report(session, payload=payload, by=by, skew_s=skew_s),
                    keep=lambda feature: {"id": feature["id"]},
                    replay=lambda kept: _current_feature(session, report_id=uuid.UUID(kept["id"]), user_id=by.user_id))


def citizen_feature(feature: dict[str, Any]) -> dict[str, Any]:
    """A report as the anonymous citizen who filed it is answered: without
    :data:`NOT_FOR_CITIZENS` (a report placed next to a fire must not tell whether the rescue
    service was called out there)."""
    return {**feature, "properties": {k: v for k, v in feature["properties"].items() if k not in NOT_FOR_CITIZENS}}


def _current_feature(session: Session, *, report_id: uuid.UUID, user_id: int | None) -> dict[str, Any]:
    """A report its submitter filed, as it is now (for a retried Idempotency-Key: the key and the
    request's hash show it is the same submitter, who may not otherwise list it — a citizen)."""
    return _one_feature(session, report_id=report_id, user_id=user_id,
                        missing=f"The report {report_id} filed with this Idempotency-Key no longer exists")


def _one_feature(session: Session, *, report_id: uuid.UUID, user_id: int | None, missing: str,
                 visible: ColumnElement[bool] | None = None, exact_coordinates: bool = False) -> dict[str, Any]:
    """One report as a feature with its photos (404 ``missing`` when there is none, or none ``visible``)."""
    query = _shown_query().where(Report.id == report_id)
    row = session.execute(query if visible is None else query.where(visible)).first()
    if row is None:
        raise NotFound(missing)
    return _row_to_feature(row, user_id=user_id, attachments=_photos(session, [report_id]).get(report_id, ()),
                           exact_coordinates=exact_coordinates)


def _feature(*, id, lon, lat, category, label, group, occurred_from, occurred_to, reported_at, description,
             place, status, source, organisation, organisation_kind, mine, h3_r9, attachments=(), event_type=None,
             external_id=None, incident_of=None, linked_reports=(), exact_coordinates=False) -> dict[str, Any]:
    """One report as an RFC 7946 feature; times in Europe/Stockholm. ``event_type`` and
    ``external_id`` are an integration's own type and id of the event (the rescue service's
    call-out number), ``incident_of`` is the primary report of the incident this one is linked
    into, ``linked_reports`` the reports linked to this one (see app/reports/incidents.py).

    Coordinates are rounded to 7 decimals (~1 cm), or, with ``exact_coordinates``, left as
    stored for a caller that reprojects them and rounds once (the OGC API: rounding here and
    again after projecting to SWEREF 99 TM would be up to ~1 cm off)."""
    xy = [lon, lat] if exact_coordinates else [round(lon, 7), round(lat, 7)]
    return {
        "type": "Feature",
        "id": str(id),
        "geometry": {"type": "Point", "coordinates": xy},
        "properties": {
            "category": category, "category_label": label, "category_group": group,
            "occurred_from": local_iso(occurred_from), "occurred_to": local_iso(occurred_to),
            "reported_at": local_iso(reported_at), "description": description, "place": place,
            "status": status, "source": source, "organisation": organisation,
            "organisation_kind": organisation_kind, "mine": mine, "h3_r9": format(h3_r9, "x"),
            "attachments": [f"/api/v1/attachments/{a}" for a in attachments],
            "event_type": event_type,
            "external_id": external_id,
            "incident_of": str(incident_of) if incident_of else None,
            "linked_reports": [str(r) for r in linked_reports or ()],
        },
    }


def _feature_query() -> Select:
    """The columns of a report as shown (labelled; exports read them by name)."""
    return (
        select(Report.id, func.ST_X(Report.geom).label("lon"), func.ST_Y(Report.geom).label("lat"),
               Category.code.label("category"), Category.label_sv.label("category_label"),
               Category.group_code.label("category_group"), Report.occurred_from, Report.occurred_to,
               Report.reported_at, Report.description, Report.place_name.label("place"), Report.status,
               Report.source, Organisation.name.label("organisation"),
               Organisation.kind.label("organisation_kind"), Report.reporter_id, Report.h3_r9,
               Report.event_type, Report.external_id, Report.incident_of)
        .join(Category, Category.id == Report.category_id)
        .outerjoin(Organisation, Organisation.id == Report.organisation_id)
    )


def _shown_query() -> Select:
    """:func:`_feature_query` with the reports linked to each call-out (``linked_reports``), as
    the API shows a report; only an integration's event can be an incident's primary report, so
    the subquery runs for those alone (exports leave it out)."""
    member = aliased(Report)
    linked = case((Report.source.startswith(PUSHED_SOURCE_PREFIX),
                   select(func.array_agg(aggregate_order_by(member.id, member.reported_at, member.id)))
                   .where(member.incident_of == Report.id).scalar_subquery()))
    return _feature_query().add_columns(linked.label("linked_reports"))


def _row_to_feature(row, *, user_id: int | None, attachments=(), exact_coordinates: bool = False) -> dict[str, Any]:
    return _feature(id=row[0], lon=row[1], lat=row[2], category=row[3], label=row[4], group=row[5],
                    occurred_from=row[6], occurred_to=row[7], reported_at=row[8], description=row[9],
                    place=row[10], status=row[11], source=row[12], organisation=row[13],
                    organisation_kind=row[14], mine=user_id is not None and row[15] == user_id, h3_r9=row[16],
                    attachments=attachments, event_type=row.event_type, external_id=row.external_id,
                    incident_of=row.incident_of,
                    linked_reports=row.linked_reports, exact_coordinates=exact_coordinates)


def visible_to(principal: Principal):
    """Reporters see their own reports; est_member and above all of their municipality."""
    clause = Report.municipality_id == principal.municipality_id
    if not principal.sees_all_reports:
        clause = and_(clause, Report.reporter_id == principal.user_id)
    return clause


def _get_visible(session: Session, *, report_id: uuid.UUID, principal: Principal, for_update: bool = False) -> Report:
    """The report if the principal may see it; ``for_update`` locks its row first (FOR NO KEY
    UPDATE), so that what a change logs as the old values is what it replaces, also when the
    feed or another coordinator changes the report at the same moment."""
    query = select(Report).where(Report.id == report_id, visible_to(principal))
    if for_update:  # and read it as it is once locked, also if the session holds an older copy
        query = query.with_for_update(of=Report, key_share=True).execution_options(populate_existing=True)
    report = session.scalar(query)
    if report is None:
        # The same answer for "does not exist" and "not yours": existence is not leaked.
        raise NotFound(f"No report {report_id} that you may see")
    return report


def get_report(session: Session, *, report_id: uuid.UUID, principal: Principal,
               exact_coordinates: bool = False) -> dict[str, Any]:
    """One report the principal may see, as a feature (coordinates: see :func:`_feature`)."""
    return _one_feature(session, report_id=report_id, user_id=principal.user_id, visible=visible_to(principal),
                        missing=f"No report {report_id} that you may see", exact_coordinates=exact_coordinates)


def _photos(session: Session, report_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Report id -> its attachment ids, oldest first (one query for them all)."""
    photos: dict[uuid.UUID, list[uuid.UUID]] = {}
    if report_ids:
        for report_id, attachment_id in session.execute(
                select(Attachment.report_id, Attachment.id).where(Attachment.report_id.in_(report_ids))
                .order_by(Attachment.created_at)):
            photos.setdefault(report_id, []).append(attachment_id)
    return photos


def _require_known_categories(session: Session, flt: ReportFilter, *, principal: Principal) -> None:
    """422 listing the municipality's category codes when the filter names one it does not have."""
    if flt.categories:
        require_known("category", flt.categories, set(session.scalars(
            select(Category.code).where(Category.municipality_id == principal.municipality_id))))
    if flt.groups:
        require_known("group", flt.groups, set(session.scalars(
            select(Category.group_code).where(Category.municipality_id == principal.municipality_id))))


def _apply_filter(query: Select, flt: ReportFilter, *, principal: Principal) -> Select:
    if flt.mine:
        query = query.where(Report.reporter_id == principal.user_id)
    if flt.cell:
        res, cell = flt.cell
        query = query.where(in_cells(res, [cell]))
    if flt.bbox:
        query = query.where(flt.bbox.intersects(Report.geom))
    if flt.external_id is not None:
        query = query.where(Report.external_id == flt.external_id)
    if flt.categories:
        query = query.where(Category.code.in_(flt.categories))
    if flt.groups:
        query = query.where(Category.group_code.in_(flt.groups))
    if flt.start:
        query = query.where(Report.occurred_to >= flt.start)
    if flt.end:
        query = query.where(Report.occurred_from < flt.end)
    if flt.statuses:
        query = query.where(Report.status.in_(flt.statuses))
    if flt.organisation_kinds:
        query = query.where(Organisation.kind.in_(flt.organisation_kinds))
    return query


def list_reports(session: Session, *, principal: Principal, flt: ReportFilter, limit: int,
                 cursor: Cursor | None, offset: int = 0, with_attachments: bool = True,
                 exact_coordinates: bool = False) -> tuple[list[dict[str, Any]], int, Cursor | None]:
    """A page of visible reports, newest first, with the number matched and the next cursor.

    Keyset pagination on (reported_at, id) keeps deep pages as fast as the first; ``offset``
    (rows to skip, for clients that count) is used only without a cursor. The next cursor is
    None exactly when no report follows the page. Coordinates: see :func:`_feature`."""
    _require_known_categories(session, flt, principal=principal)
    base = _apply_filter(_shown_query().where(visible_to(principal)), flt, principal=principal)
    matched = session.scalar(select(func.count()).select_from(base.with_only_columns(Report.id).subquery()))
    page = base
    if cursor is not None:
        page = page.where(or_(Report.reported_at < cursor.at,
                              and_(Report.reported_at == cursor.at, Report.id < cursor.id)))
    elif offset:
        page = page.offset(offset)
    rows = session.execute(page.order_by(Report.reported_at.desc(), Report.id.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    photos = _photos(session, [r[0] for r in rows]) if with_attachments else {}
    features = [_row_to_feature(r, user_id=principal.user_id, attachments=photos.get(r[0], ()),
                                exact_coordinates=exact_coordinates) for r in rows]
    next_cursor = Cursor(at=rows[-1][8], id=rows[-1][0]) if more else None
    return features, matched, next_cursor


def first_occurrence(session: Session, *, principal: Principal) -> dt.datetime | None:
    """The earliest occurred_from among the reports the principal may see (None when none)."""
    return session.scalar(select(func.min(Report.occurred_from)).where(visible_to(principal)))


def stream_reports(session: Session, *, principal: Principal, flt: ReportFilter,
                   batch: int) -> Iterator[Sequence[Row]]:
    """Every visible report matching ``flt``, newest first, in lists of ``batch`` rows with the
    labelled columns of :func:`_feature_query`, except that the ids are text and the three times
    are UTC epoch seconds (floats): for a million rows, parsing UUIDs and time zones in Python
    would cost more than the query.

    A server-side cursor: only one batch is in memory at a time, whatever the number of rows.
    The filter is checked and the query runs on the first ``next()``."""
    _require_known_categories(session, flt, principal=principal)
    query = _apply_filter(_feature_query().where(visible_to(principal)), flt, principal=principal)
    columns = []
    for column in query.selected_columns:
        if column.name in ("id", "incident_of"):
            column = cast(column, String).label(column.name)
        elif column.name in ("occurred_from", "occurred_to", "reported_at"):
            column = cast(func.extract("epoch", column), Float).label(column.name)
        columns.append(column)
    query = query.with_only_columns(*columns).order_by(Report.reported_at.desc(), Report.id.desc())
    result = session.connection().execute(query.execution_options(stream_results=True, yield_per=batch))
    try:
        yield from result.partitions()
    finally:
        result.close()


def update_report(session: Session, *, report_id: uuid.UUID, changes: ReportUpdate,
                  principal: Principal) -> dict[str, Any]:
    """Moderate a report (coordinator): status, category, note, and personal data taken out of
    its description or place; every change is logged (free text as changed, never copied)."""
    report = _get_visible(session, report_id=report_id, principal=principal, for_update=True)
    diff: dict[str, Any] = {}
    fields = changes.model_dump(exclude_unset=True)
    if "category" in fields and fields["category"] is not None:
        category = session.scalar(select(Category).where(Category.municipality_id == report.municipality_id,
                                                         Category.code == fields["category"]))
        if category is None:
            raise InvalidInput(f"Unknown category {fields['category']!r}",
                               errors=[{"field": "category", "message": "unknown category"}])
        if category.id != report.category_id:
            diff["category_id"] = [report.category_id, category.id]
            report.category_id = category.id
    if "duplicate_of" in fields:
        target = fields["duplicate_of"]
        if target is not None:
            if target == report.id:
                raise InvalidInput("A report cannot be a duplicate of itself",
                                   errors=[{"field": "duplicate_of", "message": "same report"}])
            _get_visible(session, report_id=target, principal=principal)
        diff["duplicate_of"] = [str(report.duplicate_of) if report.duplicate_of else None,
                                str(target) if target else None]
        report.duplicate_of = target
    if fields.get("status") is not None and fields["status"] != report.status:
        diff["status"] = [report.status, fields["status"]]
        report.status = fields["status"]
    if report.status == "duplicate" and report.duplicate_of is None:
        raise InvalidInput("A duplicate needs duplicate_of (the report it duplicates)",
                           errors=[{"field": "duplicate_of", "message": "required with status duplicate"}])
    if report.status != "duplicate" and report.duplicate_of is not None:
        diff["duplicate_of"] = [str(report.duplicate_of), None]
        report.duplicate_of = None
    if "moderation_note" in fields:
        diff["moderation_note"] = True  # the note itself is kept on the report, not copied to the log
        report.moderation_note = fields["moderation_note"]
    # Rewritten to take personal data out (GDPR art. 16-17): the old text is gone, and the log
    # says only that it changed. An integration's event keeps the rewritten text: its source
    # sending the event again, or a new text for it, does not bring the old one back.
    if fields.get("description") is not None and fields["description"].strip() != report.description:
        diff["description"] = True
        report.description = fields["description"].strip()
        report.description_edited = True
    if "place" in fields and (fields["place"] or None) != report.place_name:
        diff["place"] = True
        report.place_name = fields["place"] or None
    if diff:
        report.moderated_by = principal.user_id
        report.moderated_at = utcnow()
        session.add(ReportEvent(report_id=report.id, user_id=principal.user_id, action="moderate", changes=diff))
        session.flush()
    return get_report(session, report_id=report.id, principal=principal)


def unlink_report(session: Session, *, report_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
    """Undo an incident link (coordinator): see :func:`app.reports.incidents.unlink` (which locks)."""
    report = _get_visible(session, report_id=report_id, principal=principal)
    incidents.unlink(session, report=report, user_id=principal.user_id)
    return get_report(session, report_id=report.id, principal=principal)


def report_history(session: Session, *, report_id: uuid.UUID, principal: Principal) -> list[dict[str, Any]]:
    """What happened to a report, oldest first: moderation, feed updates (with the old and new
    values), incident links and unlinks, and by whom (a username, or none for the system)."""
    report = _get_visible(session, report_id=report_id, principal=principal)
    rows = session.execute(select(ReportEvent, User.username).outerjoin(User, User.id == ReportEvent.user_id)
                           .where(ReportEvent.report_id == report_id).order_by(ReportEvent.at, ReportEvent.id)).all()
    codes = dict(session.execute(select(Category.id, Category.code)
                                 .where(Category.municipality_id == report.municipality_id)).all())
    return [{"at": local_iso(event.at), "action": event.action, "by": username,
             "changes": _readable(event.changes, codes)} for event, username in rows]


def _readable(changes: dict[str, Any], codes: dict[int, str]) -> dict[str, Any]:
    """A logged change as people read it: categories by code besides their ids, times in
    Swedish time with offset (the log keeps what was stored: ids, UTC)."""
    out = dict(changes)
    if "category_id" in out:
        out["category"] = [codes.get(i) for i in out["category_id"]]
    for name in ("occurred_from", "occurred_to"):
        if name in out:
            out[name] = [local_iso(dt.datetime.fromisoformat(v)) if isinstance(v, str) else v for v in out[name]]
    return out


def require_attachable(session: Session, *, report_id: uuid.UUID, principal: Principal) -> Report:
    """The report if the principal may add photos to it: its reporter, or est_member and above."""
    report = _get_visible(session, report_id=report_id, principal=principal)
    if principal.role == "gis_reader":
        raise Forbidden("The gis_reader role is read-only")
    return report


def list_categories(session: Session, *, municipality_id: int) -> list[Category]:
    """The municipality's active categories in display order."""
    return list(session.scalars(select(Category).where(Category.municipality_id == municipality_id,
                                                       Category.active.is_(True))
                                .order_by(Category.sort_order, Category.code)))
