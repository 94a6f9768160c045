"""HTTP routes for the vector tiles: ``/tiles/{layer}/{z}/{x}/{y}.mvt`` and a TileJSON per layer."""
from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.deps import READING_SECURITY, GisReader, TileReader
from app.auth.service import Principal
from app.config import get_settings
from app.db import ReadSessionDep, SessionDep
from app.gis import tiles
from app.hotspots.router import (
    CYCLE_DOC, FILTER_DOCS, STATUS_SCHEMA, CycleRef, Filters, FiltersDep, scope_and_cycle, selection_for,
)
from app.reports.deps import reject_unknown_query_params
from app.responses import gzipped_response

router = APIRouter(tags=["vector tiles"])
MVT = "application/vnd.mapbox-vector-tile"
RES_DOC = "hotspots only: fix the H3 resolution instead of choosing it from the zoom"
OptionalResolution = Annotated[int | None, Query(ge=7, le=10, description=RES_DOC)]


TILE_RESPONSES = {200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile 2.1, one layer named as the path's "
                                                                "layer"},
                  204: {"description": "no features in this tile"},
                  304: {"description": "unchanged since the ETag in If-None-Match"}}


class HotspotTileQuery(BaseModel):
    """A hexagon tile's query string as one model: one parameter for FastAPI to validate instead
    of six (each costs a tile ~0.05 ms; a map asks for tiles by the dozen). The same parameters,
    defaults and checks as the other situation-picture routes; a parameter it does not define is
    a 422, as there (a typo such as ``categroy=brand`` must not quietly draw every hexagon)."""

    model_config = ConfigDict(extra="forbid")
    category: list[str] = Field([], description=FILTER_DOCS["category"])
    group: list[str] = Field([], description=FILTER_DOCS["group"])
    organisation_kind: list[str] = Field([], description=FILTER_DOCS["organisation_kind"])
    status: list[str] = Field(["verified"], description=FILTER_DOCS["status"], json_schema_extra=STATUS_SCHEMA)
    cycle: str = Field("current", description=CYCLE_DOC)
    res: int | None = Field(None, ge=7, le=10, description=RES_DOC)

    def filters(self) -> Filters:
        return Filters.parse(category=self.category, group=self.group, organisation_kind=self.organisation_kind,
                             status=self.status)


@router.get("/tiles/hotspots/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES,
            summary="A vector tile of the hotspot layer (H3 resolution from the zoom)", openapi_extra=READING_SECURITY)
async def get_hotspot_tile(z: int, x: int, y: int, request: Request, session: ReadSessionDep, principal: TileReader,
                           query: Annotated[HotspotTileQuery, Query()]) -> Response:
    # With the caller, the municipality and the layer cached, a tile rendered with its layer (or
    # one without hexagons) comes from memory here; any other needs the database: one hop to a
    # worker thread and one statement there (docs/performance.md, Vector tiles).
    address = tiles.tile_address(z, x, y)
    res = query.res if query.res is not None else tiles.resolution_for_zoom(address.z)
    if not (query.category or query.group):  # the selection then needs no database
        ready = tiles.ready_hotspot_tile(principal.municipality_id, tile=address, cycle_ref=query.cycle, res=res,
                                         selection=selection_for(None, principal, query.filters()))
        if ready is not None:
            return tile_response(request, ready)
    return await run_in_threadpool(_hotspot_tile, request, session, principal, address, query, res)


def _hotspot_tile(request: Request, session: Session, principal: Principal, address: tiles.TileAddress,
                  query: HotspotTileQuery, res: int) -> Response:
    scope = tiles.tile_scope(session, municipality_id=principal.municipality_id,
                             ttl=get_settings().tile_auth_cache_seconds)
    tile = tiles.hotspot_tile(session, scope, tile=address, cycle=scope.grid.resolve(query.cycle),
                              selection=selection_for(session, principal, query.filters()), res=res)
    return tile_response(request, tile)


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES,
            summary="A vector tile of the report points (layer 'reports', from zoom 12)",
            dependencies=[Depends(reject_unknown_query_params)])
def get_tile(layer: str, z: int, x: int, y: int, request: Request, session: SessionDep, principal: GisReader,
             f: FiltersDep, cycle: CycleRef = "current", res: OptionalResolution = None) -> Response:
    address = tiles.tile_address(z, x, y)
    scope = tiles.tile_scope(session, municipality_id=principal.municipality_id,
                             ttl=get_settings().tile_auth_cache_seconds)
    tile = tiles.get_tile(session, layer=layer, tile=address, cycle=scope.grid.resolve(cycle), res=res,
                          selection=selection_for(session, principal, f))
    return tile_response(request, tile)


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0.0 for a tile layer (MapLibre source url)",
            dependencies=[Depends(reject_unknown_query_params)])  # (or the tile template would copy a typo)
def get_tilejson(layer: str, request: Request, session: SessionDep, principal: GisReader, f: FiltersDep,
                 cycle: CycleRef = "current", res: OptionalResolution = None) -> Response:
    # the query, ``res`` too, goes into the tile URLs as it came
    scope, c = scope_and_cycle(session, principal, cycle)
    selection_for(session, principal, f)  # unknown filter values fail here, not on every tile
    template = f"{str(request.base_url).rstrip('/')}/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"
    if request.url.query:
        template += f"?{request.url.query}"
    doc = tiles.tilejson(scope, layer=layer, cycle=c, tiles_url=template)
    return Response(orjson.dumps(doc), media_type="application/json",
                    headers={"Cache-Control": f"private, max-age={tiles.max_age_for(scope, c)}",
                             "Vary": "Authorization, X-API-Key"})


def tile_response(request: Request, tile: tiles.Tile) -> Response:
    """The tile with cache headers: 204 when empty, 304 when the client's ETag still matches;
    gzipped at level 1 when the client takes gzip (app.responses).

    Tiles are ``private`` (they need a login) and vary by the caller's token (and, as the 200
    does, a 204 and a 304 by the encoding too)."""
    headers = {"Cache-Control": f"private, max-age={tile.max_age}", "Vary": "Authorization, X-API-Key, Accept-Encoding"}
    if not tile.body:
        return Response(status_code=204, headers=headers)
    etag = tile.etag or tiles.tile_etag(tile.body)
    headers["ETag"] = etag
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return gzipped_response(request, tile.body, media_type=MVT, headers=headers)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match (a list, or '*') against our ETag."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
