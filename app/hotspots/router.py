"""HTTP routes for the situation picture: cycles, the hotspot layer, the agenda, patterns, the map."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse

from app import csp, geo
from app.auth.deps import CurrentPrincipal, RequireRole, SettingsDep
from app.auth.service import ALL_REPORTS_ROLES, Principal
from app.db import SessionDep
from app.errors import InvalidInput
from app.hotspots import service
from app.hotspots.cycles import Cycle
from app.hotspots.queries import Selection
from app.hotspots.situation_map import render_situation_map
from app.reports.deps import csv_values, reject_unknown_query_params
from app.reports.schemas import Day
from app.static import inline_leaflet
from app.timeutil import STOCKHOLM, local_iso, utcnow

# A typo in a filter (categroy=klotter) must not quietly show the unfiltered picture: 422 naming it.
router = APIRouter(tags=["situation picture"], dependencies=[Depends(reject_unknown_query_params)])
GEOJSON = "application/geo+json"
Analyst = Annotated[Principal, Depends(RequireRole(ALL_REPORTS_ROLES, "see the situation picture"))]
Resolution = Annotated[int, Query(ge=7, le=10, description="H3 resolution: 7 (~5 km²) … 10 (~0.015 km²)")]
CYCLE_DOC = "'current', 'previous' or a cycle id (its first day, YYYY-MM-DD)"
CycleRef = Annotated[str, Query(description=CYCLE_DOC)]


def _json(data: Any, media_type: str = "application/json") -> Response:
    return Response(orjson.dumps(data), media_type=media_type)


COUNTED_STATUSES = ("verified", "new")
STATUS_SCHEMA = {"items": {"type": "string", "enum": list(COUNTED_STATUSES)}}  # in the API docs, as a list


@dataclass(frozen=True)
class Filters:
    """The filters every situation-picture route shares, as given in the query string: each
    repeated (``status=verified&status=new``) or comma-separated (``status=verified,new``), as
    the report list and the OGC API take them."""

    category: list[str]
    group: list[str]
    organisation_kind: list[str]
    status: list[str]

    @classmethod
    def parse(cls, *, category: list[str], group: list[str], organisation_kind: list[str],
              status: list[str]) -> Filters:
        """The query's lists, comma-separated values split; 422 quoting a status that is not one."""
        def split(values: list[str], field: str, allowed: tuple[str, ...] | None = None) -> list[str]:
            return list(csv_values(values, field=field, allowed=allowed))

        return cls(category=split(category, "category"), group=split(group, "group"),
                   organisation_kind=split(organisation_kind, "organisation_kind"),
                   status=split(status, "status", COUNTED_STATUSES) or ["verified"])




# The shared filters' documentation (also app.gis.tiles_router.HotspotTileQuery).
FILTER_DOCS = {"category": "category code; repeat or comma-separate for several",
               "group": "category group, e.g. brand, skadegorelse",
               "organisation_kind": "reporting organisation kind, e.g. polis",
               "status": "report statuses counted, verified and/or new; verified only by default"}


async def filters(
    category: Annotated[list[str], Query(description=FILTER_DOCS["category"])] = [],
    group: Annotated[list[str], Query(description=FILTER_DOCS["group"])] = [],
    organisation_kind: Annotated[list[str], Query(description=FILTER_DOCS["organisation_kind"])] = [],
    status: Annotated[list[str], Query(description=FILTER_DOCS["status"],
                                       json_schema_extra=STATUS_SCHEMA)] = ["verified"],
) -> Filters:
    """The shared filters from the query string; async: pure parsing needs no worker thread."""
    return Filters.parse(category=category, group=group, organisation_kind=organisation_kind, status=status)


FiltersDep = Annotated[Filters, Depends(filters)]


def selection_for(session, principal: Principal, f: Filters, **extra) -> Selection:
    """The validated report selection for the caller's municipality and the query's filters."""
    return service.build_selection(session, municipality_id=principal.municipality_id, categories=f.category,
                                   groups=f.group, organisation_kinds=f.organisation_kind, statuses=f.status,
                                   **extra)


def scope_and_cycle(session, principal: Principal, ref: str) -> tuple[service.Scope, Cycle]:
    """The caller's municipality and the cycle ``ref`` names ('current', 'previous', an id)."""
    scope = service.get_scope(session, municipality_id=principal.municipality_id)
    return scope, scope.grid.resolve(ref)


@router.get("/api/v1/cycles", summary="The municipality's EST cycles, newest first")
def list_cycles(session: SessionDep, principal: CurrentPrincipal,
                n: Annotated[int, Query(ge=1, le=260, description="how many cycles up to the current")] = 26) -> Response:
    scope = service.get_scope(session, municipality_id=principal.municipality_id)
    return _json(service.list_cycles(scope, n=n))


@router.get("/api/v1/cycles/{ref}", summary="One cycle: 'current', 'previous' or its id")
def get_cycle(ref: str, session: SessionDep, principal: CurrentPrincipal) -> Response:
    scope, cycle = scope_and_cycle(session, principal, ref)
    return _json(service.cycle_json(cycle, current=scope.grid.current()))


@router.get("/api/v1/hotspots", summary="The hotspot layer of a cycle (GeoJSON H3 hexagons)")
def hotspots(session: SessionDep, principal: Analyst, f: FiltersDep, cycle: CycleRef = "current",
             res: Resolution = 9) -> Response:
    scope, c = scope_and_cycle(session, principal, cycle)
    layer = service.get_layer(session, scope, cycle=c, res=res, selection=selection_for(session, principal, f))
    return _json(layer, GEOJSON)


@router.get("/api/v1/hotspots/top", summary="The meeting agenda: the best-ranked cells of a cycle")
def top(session: SessionDep, principal: Analyst, f: FiltersDep, cycle: CycleRef = "current",
        res: Resolution = 9, n: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    scope, c = scope_and_cycle(session, principal, cycle)
    return _json(service.get_top(session, scope, cycle=c, res=res, n=n,
                                 selection=selection_for(session, principal, f)))


@router.get("/api/v1/hotspots/cells/{cell}", summary="One cell: counts over the last cycles, what and who")
def cell_detail(cell: str, session: SessionDep, principal: Analyst, f: FiltersDep,
                cycle: CycleRef = "current") -> Response:
    scope, c = scope_and_cycle(session, principal, cycle)
    return _json(service.get_cell(session, scope, cycle=c, cell_ref=cell,
                                  selection=selection_for(session, principal, f)))


@router.get("/api/v1/patterns", summary="Weekday × hour matrix for a cycle or a date range")
def patterns(session: SessionDep, principal: Analyst, f: FiltersDep,
             cycle: Annotated[str | None, Query(description="'current' (default), 'previous' or a cycle id")] = None,
             date_from: Annotated[Day | None, Query(alias="from", description="first local day")] = None,
             date_to: Annotated[Day | None, Query(alias="to", description="last local day (inclusive)")] = None,
             cell: Annotated[list[str], Query(description="H3 cell (res 7-10); repeat for several")] = [],
             bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy")] = None,
             bbox_crs: Annotated[str | None, Query(alias="bbox-crs")] = None) -> Response:
    start, end, about = _range(session, principal, cycle, date_from, date_to)
    selection = selection_for(session, principal, f, cells=cell, bbox=geo.parse_bbox(bbox, crs=bbox_crs))
    return _json({**service.get_patterns(session, selection=selection, start=start, end=end), **about})


def _range(session, principal: Principal, cycle: str | None, date_from: dt.date | None,
           date_to: dt.date | None) -> tuple[dt.datetime, dt.datetime, dict[str, Any]]:
    if date_from is None and date_to is None:
        _, c = scope_and_cycle(session, principal, cycle or "current")
        return c.start, c.end, {"cycle": service.cycle_json(c)}
    if cycle is not None:
        raise InvalidInput("Give either 'cycle' or 'from'/'to', not both",
                           errors=[{"field": "cycle", "message": "conflicts with from/to"}])
    if date_from is None or date_to is None or date_to < date_from:
        raise InvalidInput("A date range needs both 'from' and 'to' (local days, 'to' inclusive) with from <= to",
                           errors=[{"field": "from" if date_from is None else "to", "message": "missing or inverted"}])
    start = dt.datetime.combine(date_from, dt.time(0), STOCKHOLM)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), STOCKHOLM)
    return start, end, {"cycle": None}


@router.get("/maps/situation.html", response_class=HTMLResponse, summary="Printable situation map of a cycle")
def situation_map(session: SessionDep, principal: Analyst, settings: SettingsDep, f: FiltersDep,
                  cycle: CycleRef = "current", res: Resolution = 9,
                  embed: Annotated[bool, Query(description="embed Leaflet in the page (a saved copy works "
                                                           "offline); false links /static/vendor/leaflet")] = True,
                  ) -> HTMLResponse:
    scope, c = scope_and_cycle(session, principal, cycle)
    layer = service.get_layer(session, scope, cycle=c, res=res, selection=selection_for(session, principal, f))
    html = render_situation_map(
        layer=layer, boundary=service.boundary_geojson(scope), title=f"Lägesbild {scope.municipality.name}",
        cycle_label=f"{c.label} ({c.first_day.isoformat()} – {c.last_day.isoformat()})",
        generated_at=local_iso(utcnow())[:16].replace("T", " "),
        tile_url=settings.map_tile_url or None, tile_attribution=settings.map_tile_attribution or None)
    html = inline_leaflet(html) if embed else html
    # its own scripts (the map and its data, Leaflet when embedded) and the tiles, nothing else
    policy = csp.policy(scripts=csp.inline_script_hashes(html), images=csp.tile_origin(settings.map_tile_url))
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "private, no-store"})
