"""HTTP routes for the vector tiles: ``/tiles/{layer}/{z}/{x}/{y}.mvt`` and a TileJSON per layer."""
from __future__ import annotations

import hashlib
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, Request, Response

from app.auth.deps import GisReader
from app.db import SessionDep
from app.gis import tiles
from app.hotspots.router import CycleRef, FiltersDep, scope_and_cycle, selection_for

router = APIRouter(tags=["vector tiles"])
MVT = "application/vnd.mapbox-vector-tile"
OptionalResolution = Annotated[int | None, Query(ge=7, le=10, description="hotspots only: fix the H3 resolution "
                                                 "instead of choosing it from the zoom")]


@router.get("/tiles/{layer}/{z}/{x}/{y}.mvt", response_class=Response,
            summary="A vector tile of the hotspot layer or of the report points",
            responses={200: {"content": {MVT: {}}, "description": "Mapbox Vector Tile 2.1, one layer named as the "
                             "path's layer"},
                       204: {"description": "no features in this tile"},
                       304: {"description": "unchanged since the ETag in If-None-Match"}})
def get_tile(layer: str, z: int, x: int, y: int, request: Request, session: SessionDep, principal: GisReader,
             f: FiltersDep, cycle: CycleRef = "current", res: OptionalResolution = None) -> Response:
    address = tiles.tile_address(z, x, y)
    scope, c = scope_and_cycle(session, principal, cycle)
    tile = tiles.get_tile(session, scope, layer=layer, tile=address, cycle=c, res=res,
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
