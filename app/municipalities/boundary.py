"""A municipality's boundary from the GIS unit's own file: any vector format GDAL reads
(GeoPackage, Shapefile, GeoJSON, ...), in any CRS the file declares — SWEREF 99 TM (EPSG:3006)
is the common case — reprojected to WGS84 and dissolved into one valid MultiPolygon."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon, Polygon

from app.errors import InvalidInput
from app.geo import WGS84

# Sweden with a margin (degrees): the land from Smygehuk to Treriksröset, the islands and the
# territorial sea that municipal boundaries include. A boundary outside it has the wrong CRS.
SWEDEN_LON = (10.0, 24.5)
SWEDEN_LAT = (55.0, 69.5)


def read_boundary(path: str | Path, *, layer: str | None = None, where: str | None = None) -> MultiPolygon:
    """The polygons of ``layer`` in the file at ``path`` (the file's only spatial layer when
    None), optionally only the features matching the OGR SQL ``where`` (e.g. ``kommunkod =
    '0480'`` in a file of every municipality), in WGS84, unioned into one valid MultiPolygon.

    Refused (InvalidInput) when the file cannot be read, has no CRS, holds no features or
    something other than polygons, or lies outside Sweden."""
    layer = layer or _only_spatial_layer(path)
    try:
        meta, _, wkb, _ = pyogrio.raw.read(path, layer=layer, columns=[], where=where, force_2d=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, OSError) as exc:
        raise InvalidInput(f"Cannot read the boundary from {path} (layer {layer!r}"
                           f"{f', where {where!r}' if where else ''}): {exc}") from None
    if not meta.get("crs"):
        raise InvalidInput(f"{path} (layer {layer!r}) does not say which coordinate reference system it is in; "
                           "save it with its CRS (e.g. EPSG:3006, SWEREF 99 TM) and try again")
    geoms = [g for g in shapely.from_wkb(wkb) if g is not None and not g.is_empty] if wkb is not None else []
    if not geoms:
        raise InvalidInput(f"{path} (layer {layer!r}{f', where {where!r}' if where else ''}) has no geometries")
    kinds = sorted({g.geom_type for g in geoms} - {"Polygon", "MultiPolygon"})
    if kinds:
        raise InvalidInput(f"A boundary must be polygons; {path} (layer {layer!r}) holds {', '.join(kinds)}")
    polygons = _polygons(shapely.make_valid(shapely.union_all(to_wgs84(geoms, crs=meta["crs"]))))
    if not polygons:
        raise InvalidInput(f"The polygons in {path} have no area once made valid")
    boundary = MultiPolygon(polygons)
    check_in_sweden(boundary)
    return boundary


def _only_spatial_layer(path: str | Path) -> str:
    """The name of the file's one layer with geometries; refused when there are none or several."""
    try:
        layers = pyogrio.list_layers(path)
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        raise InvalidInput(f"Cannot open {path} as a GIS file: {exc}") from None
    spatial = [str(name) for name, geometry_type in layers if geometry_type is not None]
    if len(spatial) != 1:
        raise InvalidInput(f"{path} has {len(spatial)} layers with geometries ({', '.join(spatial) or 'none'}); "
                           "say which one holds the boundary (--layer)")
    return spatial[0]


def to_wgs84(geoms: list, *, crs: str) -> list:
    """``geoms`` from ``crs`` (as the file declares it: 'EPSG:3006' or WKT) to lon/lat degrees."""
    try:
        transformer = Transformer.from_crs(CRS.from_user_input(crs), WGS84, always_xy=True)
    except CRSError as exc:
        raise InvalidInput(f"The file's coordinate reference system is not understood: {exc}") from None

    def _transform(coords: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(coords[:, 0], coords[:, 1]))

    return list(shapely.transform(np.asarray(geoms, dtype=object), _transform))


def _polygons(geom) -> list[Polygon]:
    """The polygons with area in ``geom``: make_valid may leave lines or points where rings touched."""
    if isinstance(geom, Polygon):
        return [geom] if geom.area > 0 else []
    return [p for part in getattr(geom, "geoms", ()) for p in _polygons(part)]


def check_in_sweden(boundary: MultiPolygon) -> None:
    """Refuse a boundary that reaches outside Sweden's extent: a wrong or wrongly declared CRS."""
    lon0, lat0, lon1, lat1 = boundary.bounds
    if lon0 < SWEDEN_LON[0] or lon1 > SWEDEN_LON[1] or lat0 < SWEDEN_LAT[0] or lat1 > SWEDEN_LAT[1]:
        raise InvalidInput(f"The boundary reaches outside Sweden (lon {lon0:.3f} to {lon1:.3f}, lat {lat0:.3f} to "
                           f"{lat1:.3f} in WGS84): is the CRS the file declares the one its coordinates are in?")
