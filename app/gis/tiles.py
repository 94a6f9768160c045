"""Vector tiles (Mapbox Vector Tile 2.1) of the hotspot layer and of report points, encoded by PostGIS.

Hotspot tiles. A hexagon's statistics depend on the whole municipality: the hot test compares
with the municipality-wide rate, Benjamini–Hochberg runs over all cells of the cycle, the rank
is global. A tile therefore cannot be computed from its own cells; it would disagree with
``/api/v1/hotspots``. The layer's per-cell statistics come from :mod:`app.hotspots.service`
once per (municipality, cycle, resolution, filters) and the layer is kept for as long as a
client may cache a tile (:data:`CURRENT_CYCLE_MAX_AGE`, :data:`PAST_CYCLE_MAX_AGE`): its
hexagons with their outlines in Web Mercator are stored once in PostgreSQL under a layer id
(unlogged tables, app/gis/models.py), and the process keeps the id and the hexagons' bounding
boxes. A tile reads its hexagons with a GiST index and has PostGIS clip and encode them
(``ST_TileEnvelope``, ``ST_AsMVTGeom``, ``ST_AsMVT``): the tiles a map of the layer's resolution
asks for are rendered that way together with the layer, in one statement, and kept with it
(:func:`render_ahead`); a tile without hexagons is answered from the boxes; any other tile is
rendered on demand by the same statement. Measured in ``bench/tiles.py``.

Report tiles are one indexed query on the points of the cycle, from :data:`REPORTS_MIN_ZOOM`.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import shapely
from geoalchemy2.shape import to_shape
from sqlalchemy import (BigInteger, Boolean, ColumnElement, Float, Integer, Select, Text, TextClause, bindparam, cast,
                        column, delete, func, insert, or_, select, text, true, union_all)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.sql import Subquery

from app import geo
from app.cache import TtlCache
from app.errors import InvalidInput, NotFound
from app.gis.models import HotspotTileCell, HotspotTileLayer
from app.hotspots import grid, service
from app.hotspots.cycles import Cycle
from app.hotspots.queries import Selection
from app.hotspots.service import Scope
from app.municipalities.models import Organisation
from app.reports.models import Category, Report
from app.reports.windows import reaching_past

LAYERS = ("hotspots", "reports")
EXTENT = 4096  # tile coordinate units per side (the MVT default)
BUFFER = 64  # units drawn beyond the tile edge, so outlines join without seams
MAX_ZOOM = 22
WORLD_M = 20037508.342789244  # half the Web Mercator world's side, metres

# H3 resolution per zoom, so that a hexagon spans ~25-70 px of a 512-px tile at Eskilstuna's
# latitude (59.4° N; ground resolution 39 m/px at z10, 9.8 m/px at z12, 2.4 m/px at z14).
# (up to and including zoom, resolution); above the last row: res 10.
RESOLUTION_BY_ZOOM = ((9, 7), (11, 8), (13, 9))
REPORTS_MIN_ZOOM = 12  # points below this are a cloud; the hotspot layer is the overview
HOTSPOTS_TILEJSON_MAXZOOM = 14  # res 10 from here on; clients overzoom
REPORTS_TILEJSON_MAXZOOM = 16  # under 0.1 m per tile unit: enough for any screen, clients overzoom

# Seconds a tile may be reused (HTTP max-age, and the server's cache of a layer's statistics).
# Reports keep arriving in the cycle in progress, and its comparisons scale with the share of it
# that has passed (app.hotspots.service.layer_cycle_json): a layer kept 60 s is 0.005 % of a
# fortnight behind. When the cycle ends, 'current' names the next one, a new key.
CURRENT_CYCLE_MAX_AGE = 60
PAST_CYCLE_MAX_AGE = 300  # a finished cycle changes only by late moderation
REPORTS_MAX_AGE = 60

# The hotspot layer's properties that tiles carry, with their SQL types: what a map styles and
# shows on click. The p-values and the Gi* z-score stay in /api/v1/hotspots (same cells, same numbers).
HOTSPOT_FIELDS = {
    "h3": (Text, "H3 cell index (hexadecimal string): the feature's key"),
    "rank": (Integer, "agenda order in the cycle, 1 first"),
    "count": (Float, "reports in the cycle (aoristic: a window shared over the cycles it overlaps)"),
    "previous": (Float, "reports in the cycle before"),
    "baseline": (Float, "mean reports per cycle over the (up to) 6 cycles before since reporting began; "
                        "absent when there is none"),
    "change": (Float, "count - previous; in a running cycle count - elapsed share × previous"),
    "change_vs_baseline": (Float, "count - baseline; in a running cycle count - elapsed share × baseline"),
    "increase": (Boolean, "true when the increase against the baseline is significant (Benjamini-Hochberg, "
                          "q = 0.05)"),
    "hotspot": (Text, "'hot' or 'none' (cell and ring against the municipality-wide rate, BH q = 0.05)"),
    "trend": (Text, "emerging-hotspot class over 10 cycles: new, consecutive, intensifying, persistent, "
                    "diminishing, sporadic, oscillating, historical, none"),
    "hot_streak": (Integer, "consecutive hot cycles up to this one"),
    "repeat": (Boolean, "true for a repeat place (hot 3 cycles or more in a row)"),
}
REPORT_FIELDS = {
    "id": "report id (UUID)",
    "category": "category code",
    "category_group": "category group, e.g. brand, skadegorelse",
    "colour": "the category's colour (#rrggbb), for styling",
    "status": "new, verified, rejected, duplicate",
    "organisation_kind": "kind of reporting organisation: kommun, polis, vaktare, ...",
    "occurred_from": "start of the occurrence window, UTC (ISO 8601)",
    "occurred_to": "end of the occurrence window, UTC (equal to occurred_from for a known moment)",
}


@dataclass(frozen=True)
class TileAddress:
    """An XYZ tile (Web Mercator, y down from the north edge as in OSM/Google)."""

    z: int
    x: int
    y: int

    @property
    def size_m(self) -> float:
        """The tile's side in Web Mercator metres."""
        return 2 * WORLD_M / 2**self.z

    def bounds(self, *, buffer_units: int = 0) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) in EPSG:3857, widened by ``buffer_units`` tile units."""
        size = self.size_m
        margin = size * buffer_units / EXTENT
        minx = -WORLD_M + self.x * size
        maxy = WORLD_M - self.y * size
        return minx - margin, maxy - size - margin, minx + size + margin, maxy + margin


@dataclass(frozen=True)
class Tile:
    """An encoded tile (empty bytes: no features), how long a client may reuse it (seconds) and,
    for a tile rendered ahead with its layer, its ETag."""

    body: bytes
    max_age: int
    etag: str | None = None


def tile_address(z: int, x: int, y: int) -> TileAddress:
    """The tile, or 404 when no such tile exists (zoom 0-22, x and y 0 .. 2^z - 1)."""
    if not 0 <= z <= MAX_ZOOM:
        raise NotFound(f"No tile at zoom {z}; zoom levels are 0-{MAX_ZOOM}")
    top = 2**z - 1
    if not (0 <= x <= top and 0 <= y <= top):
        raise NotFound(f"No tile {z}/{x}/{y}: at zoom {z}, x and y run from 0 to {top}")
    return TileAddress(z, x, y)


def resolution_for_zoom(z: int) -> int:
    """The H3 resolution of the hotspot tiles at zoom ``z`` (see :data:`RESOLUTION_BY_ZOOM`)."""
    for up_to, res in RESOLUTION_BY_ZOOM:
        if z <= up_to:
            return res
    return geo.H3_FINEST


def max_age_for(scope: Scope, cycle: Cycle) -> int:
    """How long a hotspot tile of ``cycle`` stays fresh: short while the cycle is running."""
    return PAST_CYCLE_MAX_AGE if cycle.index < scope.grid.current().index else CURRENT_CYCLE_MAX_AGE


def get_tile(session: Session, *, layer: str, tile: TileAddress, cycle: Cycle, selection: Selection,
             res: int | None = None) -> Tile:
    """One tile of a layer other than ``hotspots`` (which has its own route, see
    :func:`hotspot_tile`): the report points; 404 for an unknown layer."""
    if layer == "reports":
        if res is not None:
            raise InvalidInput("'res' applies to the hotspots layer; report tiles are points",
                               errors=[{"field": "res", "message": "only for layer hotspots"}])
        return reports_tile(session, tile=tile, cycle=cycle, selection=selection)
    raise NotFound(f"No tile layer {layer!r}; layers: {', '.join(LAYERS)}")


scope_cache: TtlCache[Scope] = TtlCache(size=64)  # by municipality id


def tile_scope(session: Session, *, municipality_id: int, ttl: float) -> Scope:
    """The municipality and its cycle grid for hotspot tiles, asked of the database at most once
    per ``ttl`` seconds (the same time as the caller's principal, app.auth.deps.tile_reader)."""
    return scope_cache.get(municipality_id, ttl=ttl,
                           build=lambda: service.get_scope(session, municipality_id=municipality_id))


# --- PostGIS encoding -----------------------------------------------------------------------

def _envelope(tile: TileAddress) -> ColumnElement:
    return func.ST_TileEnvelope(tile.z, tile.x, tile.y)


def _mvt_geom(geom_3857: ColumnElement, envelope: ColumnElement) -> ColumnElement:
    """The geometry in tile units, clipped to the tile plus buffer (NULL when outside)."""
    return func.ST_AsMVTGeom(geom_3857, envelope, EXTENT, BUFFER, True).label("geom")


def _as_mvt(rows: Subquery, layer: str) -> Select:
    """``ST_AsMVT`` over ``rows``: one layer named ``layer``. Rows whose geometry misses the
    tile (NULL from ST_AsMVTGeom) are skipped by ST_AsMVT itself; a WHERE on it would make
    PostgreSQL clip every geometry twice."""
    return select(func.ST_AsMVT(rows.table_valued(), layer, EXTENT, "geom"))


# --- hotspots -------------------------------------------------------------------------------

@dataclass(frozen=True)
class HexLayer:
    """A cycle's shown hexagons at one resolution, ready for tiles: stored in PostgreSQL as the
    rows of layer ``layer_id`` (None when the layer has no hexagons), and their bounding boxes
    here (n × 4, EPSG:3857), so that a tile without hexagons needs no statement."""

    layer_id: int | None
    bbox: np.ndarray
    # The tiles rendered with the layer (see render_ahead): (z, x, y) -> (MVT, ETag).
    rendered: dict[tuple[int, int, int], tuple[bytes, str]] = field(default_factory=dict)

    def rows_in(self, bounds: tuple[float, float, float, float]) -> np.ndarray:
        """Indices (= rank - 1) of the hexagons whose bounding box meets ``bounds`` (EPSG:3857)."""
        minx, miny, maxx, maxy = bounds
        b = self.bbox
        return np.flatnonzero((b[:, 0] <= maxx) & (b[:, 2] >= minx) & (b[:, 1] <= maxy) & (b[:, 3] >= miny))


# A stored layer outlives every process's cache of it (the longest tile max-age) by this margin
# (seconds), then the next layer built by any process deletes it.
STORED_LAYER_SECONDS = max(CURRENT_CYCLE_MAX_AGE, PAST_CYCLE_MAX_AGE) + 60


def build_hex_layer(session: Session, scope: Scope, *, cycle: Cycle, res: int, selection: Selection) -> HexLayer:
    """The hotspot layer's cells and properties (exactly those of ``/api/v1/hotspots``) with
    their outlines projected once, stored for the tiles (see :func:`store_hexagons`)."""
    result = service.cell_stats(session, scope, cycle=cycle, res=res, selection=selection)
    rows = service.shown(result)
    props = service.cell_properties(result, rows)
    if not props:
        return HexLayer(layer_id=None, bbox=np.empty((0, 4)))
    polygons = _web_mercator_hexagons([int(c) for c in result.cells[rows]])
    wkb = shapely.to_wkb(polygons, hex=True).tolist()
    payload = orjson.dumps([{**{k: p[k] for k in HOTSPOT_FIELDS}, "wkb": w} for p, w in zip(props, wkb)])
    layer_id, bbox = store_hexagons(session, payload), shapely.bounds(polygons)
    return HexLayer(layer_id=layer_id, bbox=bbox, rendered=render_ahead(session, layer_id, bbox, res=res))


# Tiles rendered together with their layer: every tile with hexagons at the zooms that show the
# layer's resolution, up to PRERENDER_MAX_ZOOM, at most PRERENDER_MAX_TILES and PRERENDER_MAX_BYTES
# of them per layer, lower zooms first. Such a tile is then served from memory, without a
# statement (and, without a category filter, without a worker thread); any other tile (deeper
# zooms, a 'res' other than the zoom's own, a layer over the limits) is rendered when asked for.
# Zoom 15 although the TileJSON's maxzoom is 14 (MapLibre and QGIS given the TileJSON overzoom
# from 14): a client given only the URL template with a wider zoom range asks for z15 when a
# street block fills the screen. It costs z15's tiles: for 1,000,000 reports in one cycle 195 of
# a res-10 layer's 251 tiles (~0.8 of its 1.5 MB, about half of its rendering time).
PRERENDER_MAX_ZOOM = 15
PRERENDER_MAX_TILES = 1024
PRERENDER_MAX_BYTES = 4 * 2**20


def render_ahead(session: Session, layer_id: int, bbox: np.ndarray, *, res: int
                 ) -> dict[tuple[int, int, int], tuple[bytes, str]]:
    """The layer's tiles at the zooms that show resolution ``res``, rendered in one statement
    (measured: 251 tiles of a 5,990-hexagon layer in 110-160 ms, against 0.3-3.6 ms each on
    demand)."""
    wanted: list[tuple[int, int, int]] = []
    for z in range(PRERENDER_MAX_ZOOM + 1):
        if resolution_for_zoom(z) == res:
            wanted += [(z, x, y) for x, y in tiles_meeting(bbox, z)]
    wanted = wanted[:PRERENDER_MAX_TILES]
    if not wanted:
        return {}
    zs, xs, ys = (list(v) for v in zip(*wanted))
    rendered, size = {}, 0
    for z, x, y, body, _ in session.execute(HOTSPOT_TILES_SQL, {"layer": layer_id, "z": zs, "x": xs, "y": ys}):
        body = bytes(body or b"")
        size += len(body)
        if size > PRERENDER_MAX_BYTES:
            break
        rendered[(z, x, y)] = (body, tile_etag(body))
    return rendered


def tiles_meeting(bbox: np.ndarray, z: int) -> list[tuple[int, int]]:
    """(x, y) of the zoom-``z`` tiles whose square with its buffer meets one of the boxes
    (n × 4, EPSG:3857): the tiles :meth:`HexLayer.rows_in` finds hexagons for."""
    if not len(bbox):
        return []
    size = 2 * WORLD_M / 2**z
    margin = size * BUFFER / EXTENT
    top = 2**z - 1
    # A tile (x, y) spans [x*size - W, (x+1)*size - W] across and [W - (y+1)*size, W - y*size] down.
    x0 = np.clip(np.ceil((bbox[:, 0] - margin + WORLD_M) / size) - 1, 0, top).astype(np.int64)
    x1 = np.clip(np.floor((bbox[:, 2] + margin + WORLD_M) / size), 0, top).astype(np.int64)
    y0 = np.clip(np.ceil((WORLD_M - bbox[:, 3] - margin) / size) - 1, 0, top).astype(np.int64)
    y1 = np.clip(np.floor((WORLD_M - bbox[:, 1] + margin) / size), 0, top).astype(np.int64)
    found: set[tuple[int, int]] = set()
    for a, b, c, d in zip(x0.tolist(), x1.tolist(), y0.tolist(), y1.tolist()):
        found.update((x, y) for x in range(a, b + 1) for y in range(c, d + 1))
    return sorted(found)


def tile_etag(body: bytes) -> str:
    """A tile's weak ETag: the same tile goes out gzipped or not, two representations."""
    return f'W/"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def store_hexagons(session: Session, payload: bytes) -> int:
    """Insert a layer's hexagons (a JSON array of objects with the :data:`HOTSPOT_FIELDS` and
    ``wkb``, the outline in EPSG:3857 as hex WKB) under a new layer id, and delete the layers
    built more than :data:`STORED_LAYER_SECONDS` ago; returns the id.

    One statement, so all or nothing: on the tiles' autocommit session it is committed when it
    returns, before the layer goes into the cache where other requests find it; inside a
    transaction (tests, scripts) it is seen by that transaction and goes with it."""
    return session.scalar(STORE_HEXAGONS_SQL, {"layer_id": secrets.randbits(63), "rows": payload.decode(),
                                               "keep": float(STORED_LAYER_SECONDS)})


def _store_hexagons_statement() -> Select:
    layer = (insert(HotspotTileLayer).values(id=bindparam("layer_id", type_=BigInteger))
             .returning(HotspotTileLayer.id).cte("layer"))
    rows = (func.jsonb_to_recordset(cast(bindparam("rows", type_=Text), JSONB))
            .table_valued(column("wkb", Text), *(column(k, t) for k, (t, _) in HOTSPOT_FIELDS.items()))
            .render_derived(name="r", with_types=True))
    cells = insert(HotspotTileCell).from_select(
        ["layer_id", "geom", *HOTSPOT_FIELDS],
        select(layer.c.id, func.ST_GeomFromWKB(func.decode(rows.c.wkb, "hex"), 3857),
               *(rows.c[k] for k in HOTSPOT_FIELDS)).select_from(layer.join(rows, true()))).cte("cells")
    # Layers another worker is deleting right now are left to it (SKIP LOCKED): no waiting, and
    # no deadlock between two workers that build at the same moment.
    old = (select(HotspotTileLayer.id)
           .where(HotspotTileLayer.built_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0,
                                                                              bindparam("keep", type_=Float)))
           .with_for_update(skip_locked=True))
    expired = delete(HotspotTileLayer).where(HotspotTileLayer.id.in_(old.scalar_subquery())).cte("expired")
    return select(layer.c.id).add_cte(cells, expired)


STORE_HEXAGONS_SQL = _store_hexagons_statement()


def _web_mercator_hexagons(cells: list[int]) -> np.ndarray:
    """Shapely polygons of the cells' outlines in EPSG:3857, one vectorised projection."""
    rings = [np.asarray(grid.hexagon_ring(c)) for c in cells]
    lonlat = np.concatenate(rings)
    x, y = geo.wgs84_to_web_mercator(lonlat[:, 0], lonlat[:, 1])
    ring_offsets = np.concatenate([[0], np.cumsum([len(r) for r in rings])])
    return shapely.from_ragged_array(shapely.GeometryType.POLYGON, np.column_stack([x, y]),
                                     offsets=(ring_offsets, np.arange(len(rings) + 1)))


layer_cache: TtlCache[HexLayer] = TtlCache()  # the hexagon layers (see the module's docstring)


def hotspot_tile(session: Session, scope: Scope, *, tile: TileAddress, cycle: Cycle, res: int,
                 selection: Selection) -> Tile:
    """The hexagons of the cycle's hotspot layer that reach into ``tile``, with all the layer's
    properties.

    A cached layer whose stored rows are gone (PostgreSQL empties unlogged tables after a crash;
    or its rows were cleaned up) is dropped and built again, once: never an empty tile instead."""
    key, max_age = layer_key(scope, cycle, res, selection)

    def layer() -> HexLayer:
        return layer_cache.get(key, ttl=max_age, build=lambda: build_hex_layer(
            session, scope, cycle=cycle, res=res, selection=selection))

    def read(layer_id: int | None) -> tuple[bytes | None, bool]:
        _, _, _, body, stored = session.execute(HOTSPOT_TILES_SQL, {"layer": layer_id, "z": [tile.z],
                                                                     "x": [tile.x], "y": [tile.y]}).one()
        return body, stored

    hexagons = layer()
    ready = _from_layer(hexagons, tile, max_age)
    if ready is not None:
        return ready
    body, stored = read(hexagons.layer_id)
    if not stored:
        layer_cache.discard(key, hexagons)
        body, stored = read(layer().layer_id)
        if not stored:
            raise RuntimeError("a hexagon layer just stored is not readable (the tile session must be autocommit "
                               "or the building transaction's own)")
    return Tile(bytes(body or b""), max_age)


def ready_hotspot_tile(scope_id: int, *, tile: TileAddress, cycle_ref: str, res: int,
                       selection: Selection) -> Tile | None:
    """The tile when it is ready in memory (no statement, no worker thread): the municipality
    and the layer are cached, and the tile was rendered with the layer or has no hexagons.
    None otherwise (then :func:`hotspot_tile`)."""
    scope = scope_cache.peek(scope_id)
    if scope is None:
        return None
    cycle = scope.grid.resolve(cycle_ref)
    key, max_age = layer_key(scope, cycle, res, selection)
    hexagons = layer_cache.peek(key)
    return None if hexagons is None else _from_layer(hexagons, tile, max_age)


def layer_key(scope: Scope, cycle: Cycle, res: int, selection: Selection) -> tuple[tuple, int]:
    """The layer cache's key for a layer, and how long it and its tiles are kept."""
    return ((scope.municipality.id, cycle.id, res, selection.statuses, selection.category_ids,
             selection.organisation_kinds), max_age_for(scope, cycle))


def _from_layer(hexagons: HexLayer, tile: TileAddress, max_age: int) -> Tile | None:
    """The tile from the layer alone: rendered ahead, or without hexagons (empty); else None."""
    rendered = hexagons.rendered.get((tile.z, tile.x, tile.y))
    if rendered is not None:
        return Tile(rendered[0], max_age, etag=rendered[1])
    if hexagons.rows_in(tile.bounds(buffer_units=BUFFER)).size == 0:
        return Tile(b"", max_age)
    return None


def _hotspot_tiles_statement() -> TextClause:
    """ST_AsMVT of the stored hexagons of layer ``layer`` for each tile (``z``, ``x``, ``y``:
    arrays) that meet the tile with its buffer, best rank first (the order the features had when
    the hexagons were sent along), with whether the layer is stored at all. Built once: building
    and compiling a statement per tile cost ~1 ms. One tile on demand, or all of a layer's tiles
    rendered ahead: the same bytes for a tile either way."""
    fields = ", ".join(f"c.{name}" for name in HOTSPOT_FIELDS)
    return text(f"""
SELECT w.z, w.x, w.y, m.tile, EXISTS (SELECT FROM hotspot_tile_layer WHERE id = :layer) AS stored
FROM unnest(CAST(:z AS integer[]), CAST(:x AS integer[]), CAST(:y AS integer[])) WITH ORDINALITY AS w(z, x, y, i)
CROSS JOIN LATERAL (
    SELECT ST_AsMVT(t.*, 'hotspots', {EXTENT}, 'geom') AS tile
    FROM (SELECT ST_AsMVTGeom(c.geom, ST_TileEnvelope(w.z, w.x, w.y), {EXTENT}, {BUFFER}, true) AS geom, {fields}
          FROM hotspot_tile_cell c
          WHERE c.layer_id = CAST(:layer AS bigint)
            AND c.geom && ST_TileEnvelope(w.z, w.x, w.y, ST_MakeEnvelope({-WORLD_M!r}, {-WORLD_M!r}, {WORLD_M!r},
                                                                         {WORLD_M!r}, 3857), {BUFFER / EXTENT!r})
          ORDER BY c.rank) AS t
) AS m
ORDER BY w.i""")


HOTSPOT_TILES_SQL = _hotspot_tiles_statement()


# --- reports --------------------------------------------------------------------------------

def reports_tile(session: Session, *, tile: TileAddress, cycle: Cycle, selection: Selection) -> Tile:
    """The points of the cycle's reports (occurrence window overlapping the cycle, as the
    hotspot counts take them) in ``tile``; no free text (description, place) in tiles.

    Three branches, each a bounded read: reports that end in the cycle (every instant, and
    windows reaching into it) and windows that end within :data:`LONG_WINDOW` after it but
    started before its end — two ranges of the occurrence index, keyed on the window's end
    (municipality, occurred_to) — and the long windows that end later still, from their own
    partial index (migration 0008; such a window is longer than LONG_WINDOW by construction).
    One condition ``from < end and to > start`` would read every report since the cycle's
    start; one branch for "ends after the cycle" read every later report (a sequential scan,
    ~0.4 s a tile for a cycle half a year back with 1,000,000 reports a year, measured)."""
    if tile.z < REPORTS_MIN_ZOOM:
        raise NotFound(f"The reports layer has tiles from zoom {REPORTS_MIN_ZOOM}; below that use the "
                       "hotspots layer")
    reach = func.ST_Transform(func.ST_Expand(_envelope(tile), tile.size_m * BUFFER / EXTENT), 4326)

    def points(*when: ColumnElement[bool]) -> Select:
        return (select(_mvt_geom(func.ST_Transform(Report.geom, 3857), _envelope(tile)),
                       cast(Report.id, Text).label("id"), Category.code.label("category"),
                       Category.group_code.label("category_group"), Category.colour.label("colour"),
                       Report.status.label("status"), Organisation.kind.label("organisation_kind"),
                       _utc_text(Report.occurred_from).label("occurred_from"),
                       _utc_text(Report.occurred_to).label("occurred_to"))
                .join(Category, Category.id == Report.category_id)
                .outerjoin(Organisation, Organisation.id == Report.organisation_id)
                .where(*selection.conditions(), Report.geom.intersects(reach), *when))

    ends_inside = points(Report.occurred_to >= cycle.start, Report.occurred_to < cycle.end,
                         # a window that ends exactly as the cycle starts does not reach into it
                         or_(Report.occurred_to > cycle.start, Report.occurred_from >= cycle.start))
    soon, later = reaching_past(cycle.end)
    rows = union_all(ends_inside, points(*soon), points(*later)).subquery("t")
    # Until the transaction ends: plans made for this tile's bounds, never the generic plan of
    # the prepared statement (psycopg prepares after 5 runs; PostgreSQL's generic plan read both
    # municipalities' points in the bench: 3-4 s instead of 25 ms); and no parallel workers, which
    # cost more to start than a few thousand points take (100 ms instead of 6 ms on a busy machine).
    session.execute(select(func.set_config("plan_cache_mode", "force_custom_plan", True),
                           func.set_config("max_parallel_workers_per_gather", "0", True)))
    return Tile(bytes(session.scalar(_as_mvt(rows, "reports")) or b""), REPORTS_MAX_AGE)


def _utc_text(instant: ColumnElement) -> ColumnElement:
    return func.to_char(func.timezone("UTC", instant), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')


# --- TileJSON -------------------------------------------------------------------------------

def tilejson(scope: Scope, *, layer: str, cycle: Cycle, tiles_url: str) -> dict[str, Any]:
    """A TileJSON 3.0.0 document for ``layer`` (MapLibre's ``source.url``), with the
    municipality's bounds, zoom range and the features' fields."""
    if layer not in LAYERS:
        raise NotFound(f"No tile layer {layer!r}; layers: {', '.join(LAYERS)}")
    minzoom, maxzoom, fields = ((0, HOTSPOTS_TILEJSON_MAXZOOM, {k: d for k, (_, d) in HOTSPOT_FIELDS.items()})
                                if layer == "hotspots"
                                else (REPORTS_MIN_ZOOM, REPORTS_TILEJSON_MAXZOOM, REPORT_FIELDS))
    minx, miny, maxx, maxy = to_shape(scope.municipality.boundary).bounds
    return {
        "tilejson": "3.0.0", "name": f"Lägesbild {scope.municipality.name}: {layer}",
        "description": f"{layer} of cycle {cycle.label} ({cycle.first_day.isoformat()} – {cycle.last_day.isoformat()})",
        "scheme": "xyz", "tiles": [tiles_url], "minzoom": minzoom, "maxzoom": maxzoom,
        "bounds": [round(v, 6) for v in (minx, miny, maxx, maxy)],
        "center": [round((minx + maxx) / 2, 6), round((miny + maxy) / 2, 6), 12],
        "vector_layers": [{"id": layer, "fields": fields, "minzoom": minzoom, "maxzoom": maxzoom}],
    }

