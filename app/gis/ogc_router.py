"""OGC API – Features at /ogc: landing page, conformance, collections, items, one item.

Readable by GDAL's OAPIF driver (QGIS, ogr2ogr), ArcGIS Pro and FME. Landing page and
conformance are open; the data needs est_member, coordinator or gis_reader, by bearer token
or by a reading key (``X-API-Key``, or the password of HTTP Basic). Invalid query parameters are 400 here (the standard
requires it; the rest of the API says 422).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.routing import APIRoute

from app.auth.deps import GisReader, SettingsDep
from app.db import SessionDep
from app.gis import ogc, service
from app.municipalities.models import ORGANISATION_KINDS
from app.pagination import Cursor, clamp_limit
from app.reports.deps import csv_values, reject_unknown_query_params
from app.responses import NOT_STORED
from app.timeutil import utcnow


class OgcRoute(APIRoute):
    """Routes of the OGC API: an invalid parameter is a 400 (see app.errors)."""

    invalid_input_status = 400


# A parameter no route here takes is a 400 (/req/core/query-param-unknown); items and one item
# also refuse the other collection kind's parameters (ALLOWED).
router = APIRouter(prefix="/ogc", route_class=OgcRoute, tags=["OGC API – Features"],
                   dependencies=[Depends(reject_unknown_query_params)])

_COMMON = {"f", "crs"}
MAX_OFFSET = 1_000_000_000  # more than any municipality's reports; beyond, PostgreSQL's BIGINT ends
_LIST = _COMMON | {"bbox", "bbox-crs", "datetime", "limit", "offset", "category", "status", "organisation_kind"}
ALLOWED = {
    ("reports", "items"): _LIST | {"cursor"},
    ("reports", "item"): _COMMON,
    ("hotspots", "items"): _LIST | {"cycle", "group"},
    ("hotspots", "item"): _COMMON | {"cycle", "category", "group", "status", "organisation_kind"},
}


def _json(body: Any, media_type: str = ogc.JSON, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), media_type=media_type, headers={**NOT_STORED, **(headers or {})})


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + router.prefix


@router.get("", summary="Landing page (no login)")
def landing(request: Request, f: str | None = None) -> Response:
    ogc.check_format(f)
    base, root = _base(request), str(request.base_url).rstrip("/")
    return _json({
        "title": "Lägesbild – OGC API Features",
        "description": "EST reports and the hotspot layer of each cycle, for QGIS, ArcGIS, FME and GDAL. "
                       "Data needs a bearer token, or a reading key in X-API-Key or as the password of HTTP "
                       "Basic (role est_member, coordinator or gis_reader).",
        "links": [
            ogc.link(base, "self", ogc.JSON, "this document"),
            ogc.link(f"{root}/openapi.json", "service-desc", "application/vnd.oai.openapi+json;version=3.1",
                     "the API definition (OpenAPI)"),
            ogc.link(f"{root}/docs", "service-doc", "text/html", "the API documentation"),
            ogc.link(f"{base}/conformance", "conformance", ogc.JSON, "conformance classes"),
            ogc.link(f"{base}/collections", "data", ogc.JSON, "the collections"),
        ],
    })


@router.get("/conformance", summary="Conformance classes (no login)")
def conformance(f: str | None = None) -> Response:
    ogc.check_format(f)
    return _json({"conformsTo": ogc.CONFORMANCE})


@router.get("/collections", summary="The collections: reports and the hotspot layer per H3 resolution")
def collections(request: Request, principal: GisReader, session: SessionDep, f: str | None = None) -> Response:
    ogc.check_format(f)
    base = _base(request)
    docs = service.collection_docs(session, principal=principal, collections=list(service.COLLECTIONS.values()),
                                   base=base)
    return _json({"links": [ogc.link(f"{base}/collections", "self", ogc.JSON, "this document")],
                  "collections": docs, "crs": ogc.SUPPORTED_CRS})


@router.get("/collections/{collection_id}", summary="One collection: extent, CRSs, links")
def collection(collection_id: str, request: Request, principal: GisReader, session: SessionDep,
               f: str | None = None) -> Response:
    ogc.check_format(f)
    found = service.get_collection(collection_id)
    return _json(service.collection_docs(session, principal=principal, collections=[found], base=_base(request))[0])


def layer_query(
    cycle: Annotated[str | None, Query(description="hotspots: 'previous' (default, the last full cycle), "
                                                   "'current' or a cycle id (first day, YYYY-MM-DD)")] = None,
    category: Annotated[list[str], Query(description="category code(s), repeated or comma-separated")] = [],
    group: Annotated[list[str], Query(description="hotspots: category group(s), repeated or comma-separated")] = [],
    status: Annotated[list[str], Query(description="reports: any of new, verified, rejected, duplicate; "
                                                   "hotspots: verified (default), new; repeated or "
                                                   "comma-separated")] = [],
    organisation_kind: Annotated[list[str], Query(description="kommun, polis, vaktare, ... (repeated or "
                                                              "comma-separated)")] = [],
) -> service.ItemsQuery:
    """The collection's own filters (for one hexagon too: its layer depends on them)."""
    return service.ItemsQuery(
        categories=csv_values(category, field="category"), groups=csv_values(group, field="group"),
        statuses=csv_values(status, field="status"),
        organisation_kinds=csv_values(organisation_kind, field="organisation_kind", allowed=ORGANISATION_KINDS),
        cycle=cycle or service.DEFAULT_CYCLE)


LayerQueryDep = Annotated[service.ItemsQuery, Depends(layer_query)]


def items_query(
    settings: SettingsDep, filters: LayerQueryDep,
    bbox: Annotated[str | None, Query(description="minx,miny,maxx,maxy in bbox-crs, in its axis order "
                                                  "(CRS84: lon,lat; EPSG:3006: northing,easting)")] = None,
    bbox_crs: Annotated[str | None, Query(alias="bbox-crs", description="CRS of bbox (default CRS84)")] = None,
    datetime: Annotated[str | None, Query(
        description="Instant or interval, open ends with '..': 2026-11-01T00:00:00Z/.. ; reports: the occurrence "
                    "window overlaps it; hotspots: the cycle does")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Page size: default 100, capped at 10,000",
                                       json_schema_extra={"default": 100, "maximum": 10_000})] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip (the next/prev links carry "
                                                                   "it)")] = 0,
    cursor: Annotated[str | None, Query(description="reports: keyset position from the next link")] = None,
) -> service.ItemsQuery:
    """The items parameters, parsed; 400 for a bad value."""
    return replace(filters, bbox=ogc.parse_bbox(bbox, bbox_crs), interval=ogc.parse_datetime(datetime),
                   limit=clamp_limit(limit, default=settings.ogc_default_limit, maximum=settings.ogc_max_limit),
                   offset=offset, cursor=Cursor.decode(cursor) if cursor else None)


ItemsQueryDep = Annotated[service.ItemsQuery, Depends(items_query)]


def _checked(request: Request, collection_id: str, what: str, f: str | None,
             crs: str | None) -> tuple[service.Collection, ogc.OgcCrs]:
    found = service.get_collection(collection_id)
    ogc.check_params(request.query_params.keys(), ALLOWED["reports" if found.is_reports else "hotspots", what])
    ogc.check_format(f)
    return found, ogc.parse_crs(crs)


@router.get("/collections/{collection_id}/items", summary="Features of a collection (GeoJSON), paged")
def items(collection_id: str, request: Request, principal: GisReader, session: SessionDep, query: ItemsQueryDep,
          crs: Annotated[str | None, Query(description="Output CRS: CRS84 (default), "
                                                       "http://www.opengis.net/def/crs/EPSG/0/3006 or .../4326")] = None,
          f: str | None = None) -> Response:
    found, out = _checked(request, collection_id, "items", f, crs)
    page = service.get_items(session, principal=principal, collection=found, query=query)
    body = {
        "type": "FeatureCollection", "features": ogc.reproject(page.features, out),
        "numberMatched": page.matched, "numberReturned": len(page.features),
        "timeStamp": utcnow().isoformat().replace("+00:00", "Z"),
        "links": ogc.paging_links(request.url, offset=query.offset, limit=query.limit,
                                  returned=len(page.features), next_params=page.next_params),
        **page.about,
    }
    return _json(body, ogc.GEOJSON, ogc.content_crs_header(out))


@router.get("/collections/{collection_id}/items/{feature_id}", summary="One feature (report UUID or H3 index)")
def item(collection_id: str, feature_id: str, request: Request, principal: GisReader, session: SessionDep,
         query: LayerQueryDep, crs: str | None = None, f: str | None = None) -> Response:
    found, out = _checked(request, collection_id, "item", f, crs)
    feature = service.get_item(session, principal=principal, collection=found, feature_id=feature_id, query=query)
    base = _base(request)
    feature["links"] = [ogc.link(request.url, "self", ogc.GEOJSON, "this feature"),
                        ogc.link(f"{base}/collections/{found.id}", "collection", ogc.JSON, "the collection")]
    return _json(ogc.reproject([feature], out)[0], ogc.GEOJSON, ogc.content_crs_header(out))
