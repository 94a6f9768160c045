"""The report list's query-string filters as one dependency: the list and the exports share it."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query, Request

from app import geo
from app.errors import InvalidInput
from app.hotspots.service import parse_cell_ref
from app.municipalities.models import ORGANISATION_KINDS
from app.reports.models import STATUSES
from app.reports.schemas import When
from app.reports.service import ReportFilter
from app.timeutil import to_utc


def csv_values(value: str | list[str] | None, *, field: str,
               allowed: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """A filter given comma-separated, repeated or both: 'a, b' or ['a', 'b,c'] -> ('a', 'b', ...);
    a 422 (400 on the OGC API) naming ``field`` for a value outside ``allowed``."""
    joined = ",".join(value) if isinstance(value, list) else value or ""
    items = tuple(v.strip() for v in joined.split(",") if v.strip())
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            raise InvalidInput(f"{field}: unknown value(s) {', '.join(bad)}; allowed: {', '.join(allowed)}",
                               errors=[{"field": field, "message": "unknown value"}])
    return items


EXTERNAL_ID_DOC = "an integration's own id of the event, e.g. the rescue service's call-out number"


def report_filter(
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy: minLon,minLat,maxLon,maxLat (WGS84), or "
                                                  "metres with bbox-crs=EPSG:3006")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS of bbox: EPSG:4326 (default) or "
                                                                        "EPSG:3006")] = None,
    category: Annotated[list[str], Query(description="Category code(s), repeated or comma-separated")] = [],
    group: Annotated[list[str], Query(description="Category group(s), repeated or comma-separated (as the hotspot "
                                                  "layer's group filter)")] = [],
    start: Annotated[When | None, Query(description="Occurrence window overlaps [start, end)")] = None,
    end: Annotated[When | None, Query()] = None,
    status: Annotated[list[str], Query(description="new, verified, rejected, duplicate (repeated or "
                                                   "comma-separated)")] = [],
    organisation_kind: Annotated[list[str], Query(description="kommun, polis, vaktare, ... (repeated or "
                                                              "comma-separated)")] = [],
    mine: Annotated[bool, Query(description="only my own reports")] = False,
    cell: Annotated[str | None, Query(description="only reports in this H3 cell (resolution 7-10)")] = None,
    external_id: Annotated[str | None, Query(max_length=200, description=EXTERNAL_ID_DOC)] = None,
) -> ReportFilter:
    """The filters of GET /api/v1/reports, validated (422 naming the field)."""
    flt = ReportFilter(
        bbox=geo.parse_bbox(bbox, crs=bbox_crs), categories=csv_values(category, field="category"),
        groups=csv_values(group, field="group"),
        start=to_utc(start) if start else None, end=to_utc(end) if end else None,
        statuses=csv_values(status, field="status", allowed=STATUSES),
        organisation_kinds=csv_values(organisation_kind, field="organisation_kind", allowed=ORGANISATION_KINDS),
        mine=mine, cell=parse_cell_ref(cell) if cell else None, external_id=external_id)
    if flt.start and flt.end and flt.end <= flt.start:
        raise InvalidInput("end must be after start", errors=[{"field": "end", "message": "not after start"}])
    return flt


ReportFilterDep = Annotated[ReportFilter, Depends(report_filter)]


def _query_names(dependant: Any) -> set[str]:
    """Every query parameter a route takes, its dependencies' included (by the names sent)."""
    return {p.alias for p in dependant.query_params}.union(*(_query_names(d) for d in dependant.dependencies))


def reject_unknown_query_params(request: Request) -> None:
    """422 naming a query parameter the route does not take: for a file of reports, a typo such
    as ``statuss=verified`` must not quietly give every report."""
    allowed = _query_names(request.scope["route"].dependant)
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise InvalidInput(f"Unknown query parameter(s) {', '.join(unknown)}; this route takes "
                           f"{', '.join(sorted(allowed))}",
                           errors=[{"field": name, "message": "unknown parameter"} for name in unknown])
