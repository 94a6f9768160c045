"""The GIS unit's view of the data: the OGC API collections (reports, and the hotspot layer at
each H3 resolution) and what they contain.

No queries of its own: report rows come from :mod:`app.reports.service` (its filters and its
visibility rule) and hexagons from :func:`app.hotspots.service.get_layer`.
"""
from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass
from typing import Any

import h3
import numpy as np
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session

from app.auth.service import Principal
from app.cache import TtlCache
from app.geo import Area
from app.errors import DomainError, InvalidInput, NotFound
from app.gis.ogc import CRS84, GREGORIAN, SUPPORTED_CRS, Interval
from app.gis.tiles import layer_key
from app.hotspots import service as hotspots
from app.hotspots.cycles import Cycle
from app.pagination import Cursor
from app.reports import service as reports
from app.reports.models import STATUSES
from app.timeutil import local_iso

# The cycle a hotspot collection shows when none is asked for: the last full one. It is what
# the EST meeting discusses, and unlike the running cycle it does not change while a GIS
# engineer works with it. ?cycle=current gives the running one.
DEFAULT_CYCLE = "previous"
HOTSPOT_STATUSES = ("verified", "new")
# Properties that make sense only in the app (per user, or links to photos) are left out.
_APP_ONLY = ("mine", "attachments")


@dataclass(frozen=True)
class Collection:
    """One OGC collection: the reports, or the hotspot layer at one H3 resolution."""

    id: str
    title: str
    description: str
    resolution: int | None = None  # None: the reports

    @property
    def is_reports(self) -> bool:
        return self.resolution is None


_AREAS = {7: "~5 km²", 8: "~0.7 km²", 9: "~0.1 km²", 10: "~0.015 km²"}
COLLECTIONS: dict[str, Collection] = {
    "reports": Collection(
        "reports", "Rapporter (EST-rapporter)",
        "Every report of the municipality as a point: category, occurrence window (occurred_from/"
        "occurred_to, Swedish time), status, reporting organisation. datetime filters on the occurrence window."),
    **{f"hotspots-r{res}": Collection(
        f"hotspots-r{res}", f"Hotspots, H3 upplösning {res} ({area})",
        f"The situation picture of one EST cycle as H3 hexagons at resolution {res}: counts (aoristic), change, "
        f"hotspot and trend classes, agenda rank. ?cycle=previous (default: the last full cycle), current, or a "
        f"cycle id (its first day, YYYY-MM-DD); status counted: verified by default.", resolution=res)
       for res, area in _AREAS.items()},
}


def get_collection(collection_id: str) -> Collection:
    """The collection or a 404 naming the ones there are."""
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(f"No collection {collection_id!r}; there are {', '.join(COLLECTIONS)}") from None


def extent(bounds: tuple[float, float, float, float], resolution: int | None) -> list[float]:
    """A collection's bounding box (lon/lat, 6 decimals, rounded outward): the municipality's
    for the reports; for hexagons, widened by twice the resolution's mean edge (a hexagon of
    an edge report reaches past the boundary by at most its circumradius, its edge's length,
    and cells vary in size), so that "zoom to layer" shows the whole layer."""
    minx, miny, maxx, maxy = bounds
    if resolution is not None:
        metres = 2 * h3.average_hexagon_edge_length(resolution, unit="m")
        dlat = metres / 111_320
        dlon = metres / (111_320 * math.cos(math.radians(max(abs(miny), abs(maxy)))))
        minx, miny, maxx, maxy = minx - dlon, miny - dlat, maxx + dlon, maxy + dlat
    return [math.floor(minx * 1e6) / 1e6, math.floor(miny * 1e6) / 1e6,
            math.ceil(maxx * 1e6) / 1e6, math.ceil(maxy * 1e6) / 1e6]


def collection_docs(session: Session, *, principal: Principal, collections: list[Collection],
                    base: str) -> list[dict[str, Any]]:
    """The collections' descriptions: links, extent (the municipality's bounding box; time from
    the first report, or its cycle, to an open end), and the CRSs offered (Part 2)."""
    scope = hotspots.get_scope(session, municipality_id=principal.municipality_id)
    bounds = to_shape(scope.municipality.boundary).bounds
    first = reports.first_occurrence(session, principal=principal)
    first_cycle = None if first is None else scope.grid.cycle(scope.grid.index_at(first)).start
    out = []
    for c in collections:
        href = f"{base}/collections/{c.id}"
        out.append({
            "id": c.id, "title": c.title, "description": c.description, "itemType": "feature",
            "links": [{"href": href, "rel": "self", "type": "application/json", "title": "this collection"},
                      {"href": f"{href}/items", "rel": "items", "type": "application/geo+json",
                       "title": "its features"}],
            "extent": {"spatial": {"bbox": [extent(bounds, c.resolution)], "crs": CRS84},
                       "temporal": {"interval": [[_rfc3339(first if c.is_reports else first_cycle), None]],
                                    "trs": GREGORIAN}},
            "crs": SUPPORTED_CRS,
            "storageCrs": CRS84,
        })
    return out


def _rfc3339(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _flat(feature: dict[str, Any]) -> dict[str, Any]:
    for key in _APP_ONLY:
        feature["properties"].pop(key, None)
    return feature


def reports_page(session: Session, *, principal: Principal, flt: reports.ReportFilter, limit: int, offset: int,
                 cursor: Cursor | None) -> tuple[list[dict[str, Any]], int, Cursor | None]:
    """A page of the reports collection (newest first), the number matched, the keyset cursor
    of the next page (None on the last). Coordinates as stored: :func:`app.gis.ogc.reproject`
    projects and rounds them once."""
    features, matched, next_cursor = reports.list_reports(session, principal=principal, flt=flt, limit=limit,
                                                          cursor=cursor, offset=offset, exact_coordinates=True,
                                                          with_attachments=False)  # (not a GIS property)
    return [_flat(f) for f in features], matched, next_cursor


def report_item(session: Session, *, principal: Principal, feature_id: str) -> dict[str, Any]:
    """One report by its id (a UUID); 404 when there is no such report the principal may see."""
    try:
        report_id = uuid.UUID(feature_id)
    except ValueError:
        raise NotFound(f"No report {feature_id!r}: report ids are UUIDs") from None
    return _flat(reports.get_report(session, report_id=report_id, principal=principal, exact_coordinates=True))


@dataclass(frozen=True)
class HotspotQuery:
    """Which hotspot layer: resolution, cycle reference and the report filters it counts."""

    resolution: int
    cycle: str = DEFAULT_CYCLE
    categories: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    organisation_kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ("verified",)


# The layers OGC clients page through, kept as the vector tiles keep theirs (60 s while the
# cycle runs, 300 s after): GDAL 3.6 asks for 10 features a page, and each page would
# otherwise compute the whole layer again. Pages of one layer are also one consistent snapshot.
layer_cache: TtlCache[tuple[dict[str, Any], Cycle]] = TtlCache(size=16)


def hotspot_layer(session: Session, *, principal: Principal, query: HotspotQuery, cached: bool = False,
                  missing_cycle: type[DomainError] = NotFound) -> tuple[dict[str, Any], Cycle]:
    """The hotspot layer (all shown cells, best rank first) and its cycle; each feature also
    carries its cycle (id, label, local start and end) so that exports of several cycles can
    be told apart. ``cached``: from :data:`layer_cache` when fresh there; the caller must not
    change the features (copy them, see :func:`_own`). ``missing_cycle``: raised for a cycle id
    that names no cycle (the OGC routes: InvalidInput, a 400 there)."""
    scope = hotspots.get_scope(session, municipality_id=principal.municipality_id)
    cycle = scope.grid.resolve(query.cycle, missing=missing_cycle)
    selection = hotspots.build_selection(session, municipality_id=principal.municipality_id,
                                         categories=list(query.categories), groups=list(query.groups),
                                         organisation_kinds=list(query.organisation_kinds),
                                         statuses=list(query.statuses))

    def build() -> tuple[dict[str, Any], Cycle]:
        layer = hotspots.get_layer(session, scope, cycle=cycle, res=query.resolution, selection=selection)
        about = {"cycle": cycle.id, "cycle_label": cycle.label, "cycle_start": local_iso(cycle.start),
                 "cycle_end": local_iso(cycle.end)}
        for feature in layer["features"]:
            feature["properties"].update(about)
        return layer, cycle

    if not cached:
        return build()
    key, ttl = layer_key(scope, cycle, query.resolution, selection)
    return layer_cache.get(key, ttl=ttl, build=build)


def _own(feature: dict[str, Any]) -> dict[str, Any]:
    """A copy of a cached feature that reprojection and links may change."""
    return {**feature, "geometry": dict(feature["geometry"])}


def select_hexagons(features: list[dict[str, Any]], *, cycle: Cycle,
                    bbox: Area | None,
                    interval: Interval | None) -> list[dict[str, Any]]:
    """The hexagons that intersect ``bbox``, all or none by whether the cycle overlaps
    ``interval`` (a hexagon's time is its cycle)."""
    if interval is not None and not interval.overlaps(cycle.start, cycle.end):
        return []
    if bbox is None or not features:
        return features
    polygons = shapely.polygons([f["geometry"]["coordinates"][0] for f in features])
    keep = shapely.intersects(polygons, bbox.shape())
    return [f for f, k in zip(features, np.asarray(keep).tolist()) if k]


def hotspot_item(features: list[dict[str, Any]], *, feature_id: str, cycle: Cycle, resolution: int) -> dict[str, Any]:
    """One hexagon of the layer by its H3 index; 404 when the layer does not show it."""
    wanted = feature_id.strip().lower()
    for feature in features:
        if feature["id"] == wanted:
            return feature
    raise NotFound(f"Cell {feature_id!r} is not in the resolution-{resolution} layer of cycle {cycle.id} "
                   "(shown are cells with reports this or last cycle, or with a trend)")


@dataclass(frozen=True)
class ItemsQuery:
    """An items request, parsed: where (bbox), when, the page, and the collection's own
    filters (report filters; for hotspots also the cycle)."""

    bbox: Area | None = None
    interval: Interval | None = None
    limit: int = 0
    offset: int = 0
    cursor: Cursor | None = None
    categories: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    organisation_kinds: tuple[str, ...] = ()
    cycle: str = DEFAULT_CYCLE


@dataclass(frozen=True)
class Page:
    """One page of features with the number matched and the next link's extra parameters
    (None: this is the last page)."""

    features: list[dict[str, Any]]
    matched: int
    next_params: dict[str, str] | None
    about: dict[str, Any]


def _check_statuses(collection: Collection, statuses: tuple[str, ...]) -> None:
    allowed = STATUSES if collection.is_reports else HOTSPOT_STATUSES
    bad = [s for s in statuses if s not in allowed]
    if bad:
        raise InvalidInput(f"status {', '.join(bad)} is not possible for {collection.id}; allowed: {', '.join(allowed)}",
                           errors=[{"field": "status", "message": "unknown value"}])


def get_items(session: Session, *, principal: Principal, collection: Collection, query: ItemsQuery) -> Page:
    """A page of a collection's features in CRS84."""
    _check_statuses(collection, query.statuses)
    if collection.is_reports:
        flt = reports.ReportFilter(bbox=query.bbox, categories=query.categories,
                                   start=query.interval.start if query.interval else None,
                                   end=query.interval.end if query.interval else None,
                                   statuses=query.statuses, organisation_kinds=query.organisation_kinds)
        features, matched, next_cursor = reports_page(session, principal=principal, flt=flt, limit=query.limit,
                                                      offset=query.offset, cursor=query.cursor)
        return Page(features, matched, {"cursor": next_cursor.encode()} if next_cursor else None, {})
    layer, cycle = _layer(session, principal, collection, query)
    selected = select_hexagons(layer["features"], cycle=cycle, bbox=query.bbox, interval=query.interval)
    end = query.offset + query.limit
    return Page([_own(f) for f in selected[query.offset:end]], len(selected), {} if end < len(selected) else None,
                {"cycle": layer["cycle"], "resolution": layer["resolution"]})


def get_item(session: Session, *, principal: Principal, collection: Collection, feature_id: str,
             query: ItemsQuery) -> dict[str, Any]:
    """One feature of a collection by id (a report's UUID, a hexagon's H3 index)."""
    _check_statuses(collection, query.statuses)
    if collection.is_reports:
        return report_item(session, principal=principal, feature_id=feature_id)
    layer, cycle = _layer(session, principal, collection, query)
    return _own(hotspot_item(layer["features"], feature_id=feature_id, cycle=cycle, resolution=collection.resolution))


def _layer(session: Session, principal: Principal, collection: Collection,
           query: ItemsQuery) -> tuple[dict[str, Any], Cycle]:
    # a cycle that does not exist is a bad parameter value: 400 (/req/core/query-param-invalid)
    return hotspot_layer(session, principal=principal, cached=True, missing_cycle=InvalidInput, query=HotspotQuery(
        resolution=collection.resolution, cycle=query.cycle, categories=query.categories, groups=query.groups,
        organisation_kinds=query.organisation_kinds, statuses=query.statuses or ("verified",)))
