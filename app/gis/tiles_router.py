"""HTTP routes for the vector tiles: ``/tiles/{layer}/{z}/{x}/{y}.mvt`` and a TileJSON per layer."""
from __future__ import annotations

import hashlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from app.auth.deps import GisReader, SettingsDep, TileReader
from app.auth.service import Principal
from app.db import ReadSessionDep, SessionDep
from app.gis import tiles
from app.hotspots.router import CycleRef, Filters, FiltersDep, scope_and_cycle, selection_for

router = APIRouter(tags=["vector tiles"])
MVT = "application/vnd.mapbox-vector-tile"
OptionalResolution = Annotated[int | None, Query(ge=7, le=10, description="hotspots only: fix the H3 resolution "
                                                 "instead of choosing it from the zoom")]


TILE_RESPONSES = {200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile 2.1, one layer named as the path's "
                                                                "layer"},
                  204: {"description": "no features in this tile"},
                  304: {"description": "unchanged since the ETag in If-None-Match"}}


@router.get("/tiles/hotspots/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES,
            summary="A vector tile of the hotspot layer (H3 resolution from the zoom)")
async def get_hotspot_tile(z: int, x: int, y: int, request: Request, session: ReadSessionDep, principal: TileReader,
                           settings: SettingsDep, f: FiltersDep, cycle: CycleRef = "current",
                           res: OptionalResolution = None) -> Response:
    # Async, and all database work in one worker thread: with the caller, the municipality and
    # the layer cached, a tile is one hop and one statement (docs/performance.md, Vector tiles).
    address = tiles.tile_address(z, x, y)
    tile = await run_in_threadpool(_hotspot_tile, session, principal, address, f, cycle, res,
                                   settings.tile_auth_cache_seconds)
    return tile_response(request, tile)


def _hotspot_tile(session: Session, principal: Principal, address: tiles.TileAddress, f: Filters, cycle: str,
                  res: int | None, scope_ttl: float) -> tiles.Tile:
    scope = tiles.tile_scope(session, municipality_id=principal.municipality_id, ttl=scope_ttl)
    return tiles.hotspot_tile(session, scope, tile=address, cycle=scope.grid.resolve(cycle),
                              selection=selection_for(session, principal, f),
                              res=res if res is not None else tiles.resolution_for_zoom(address.z))


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response, responses=TILE_RESPONSES,
            summary="A vector tile of the report points (layer 'reports', from zoom 12)")
def get_tile(layer: str, z: int, x: int, y: int, request: Request, session: SessionDep, principal: GisReader,
             f: FiltersDep, cycle: CycleRef = "current", res: OptionalResolution = None) -> Response:
    address = tiles.tile_address(z, x, y)
    _, c = scope_and_cycle(session, principal, cycle)
    tile = tiles.get_tile(session, layer=layer, tile=address, cycle=c, res=res,
                          selection=selection_for(session, principal, f))
    return tile_response(request, tile)


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0.0 for a tile layer (MapLibre source url)")
def get_tilejson(layer: str, request: Request, session: SessionDep, principal: GisReader, f: FiltersDep,
                 cycle: CycleRef = "current") -> Response:
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
    """The tile with cache headers: 204 when empty, 304 when the client's ETag still matches.

    Tiles are ``private`` (they need a login) and vary by the caller's token."""
    headers = {"Cache-Control": f"private, max-age={tile.max_age}", "Vary": "Authorization, X-API-Key"}
    if not tile.body:
        return Response(status_code=204, headers=headers)
    # Weak: the same tile goes out gzipped or not (GZipMiddleware), two representations.
    etag = f'W/"{hashlib.blake2b(tile.body, digest_size=16).hexdigest()}"'
    headers["ETag"] = etag
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(tile.body, media_type=MVT, headers=headers)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison of If-None-Match (a list, or '*') against our ETag."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags
