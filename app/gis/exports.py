"""Exports of reports and of a cycle's hotspot layer as GeoJSON, CSV and GeoPackage, in
EPSG:4326 or EPSG:3006.

Memory stays flat whatever the number of rows. Report rows come from a server-side cursor in
batches (:func:`app.reports.service.stream_reports`); GeoJSON and CSV are written batch by
batch into the response while it streams; a GeoPackage (an SQLite file, which cannot be sent
while it is being written) is appended batch by batch to a temporary file with pyogrio and
then streamed from disk.

CSV for Excel in Swedish locale: UTF-8 with BOM, ``;`` between fields, CRLF, **decimal
comma**, times as Swedish local time ``YYYY-MM-DD HH:MM:SS``, booleans 1/0. Text that a
spreadsheet would run as a formula (starting with ``= + - @``) gets a leading apostrophe.
GeoJSON and GeoPackage keep full ISO 8601 times (GeoJSON: Swedish time with offset;
GeoPackage: UTC, as its specification requires).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import shapely
from sqlalchemy import Row

from app import geo
from app.errors import BadRequest
from app.hotspots.cycles import Cycle
from app.timeutil import local_iso_array

BOM = "\ufeff".encode()
_FORMULA_START = frozenset("=+-@\t\r")

MEDIA_TYPES = {"geojson": "application/geo+json", "csv": "text/csv; charset=utf-8",
               "gpkg": "application/geopackage+sqlite3"}


@dataclass(frozen=True)
class Field:
    """An exported attribute; ``kind`` is str, datetime, int, float or bool."""

    name: str
    kind: str = "str"


REPORT_FIELDS = (
    Field("id"), Field("category"), Field("category_label"), Field("category_group"),
    Field("occurred_from", "datetime"), Field("occurred_to", "datetime"), Field("reported_at", "datetime"),
    Field("status"), Field("source"), Field("organisation"), Field("organisation_kind"), Field("place"),
    Field("description"), Field("h3_r9"), Field("event_type"), Field("external_id"), Field("incident_of"),
)
HOTSPOT_FIELDS = (
    Field("h3"), Field("rank", "int"), Field("count", "float"), Field("previous", "float"),
    Field("baseline", "float"), Field("change", "float"), Field("change_vs_baseline", "float"),
    Field("p_increase", "float"), Field("increase", "bool"), Field("hotspot"), Field("p_hot", "float"),
    Field("gi_star_z", "float"), Field("trend"), Field("trend_p", "float"), Field("hot_streak", "int"),
    Field("repeat", "bool"), Field("cycle"), Field("cycle_label"), Field("cycle_start", "datetime"),
    Field("cycle_end", "datetime"),
)


def parse_crs(value: str | None, *, field: str = "crs") -> str:
    """``crs`` (or ``bbox-crs``) of an export: EPSG:4326 (default) or EPSG:3006; 400 naming them otherwise."""
    return geo.parse_crs(value, default=geo.WGS84, error=BadRequest, field=field)


@dataclass
class Batch:
    """Rows in columns (Python values; times as a float array of UTC epoch seconds, NaN for
    none) and their geometries in the output CRS: an (n, 2) array of points, or a list of
    polygon outer rings."""

    columns: dict[str, Any]
    points: np.ndarray | None = None
    rings: list[list[list[float]]] | None = None

    def __len__(self) -> int:
        return len(self.points) if self.points is not None else len(self.rings or ())

    def shapes(self) -> np.ndarray:
        """The geometries as shapely objects."""
        if self.points is not None:
            return shapely.points(self.points)
        return shapely.polygons([np.asarray(r) for r in self.rings])


def _project(lonlat: np.ndarray, crs: str) -> np.ndarray:
    """(n, 2) lon/lat -> the output CRS in x/y order (easting, northing), rounded to ~1 cm."""
    if crs == geo.WGS84:
        return lonlat.round(7)
    x, y = geo.wgs84_to_sweref_arrays(lonlat[:, 0], lonlat[:, 1])
    return np.column_stack([x, y]).round(2)


def report_batches(partitions: Iterable[Sequence[Row]], *, crs: str) -> Iterator[Batch]:
    """Rows of :func:`app.reports.service.stream_reports` -> batches in ``crs``."""
    for rows in partitions:
        if not rows:
            continue
        by_name = dict(zip(rows[0]._fields, map(list, zip(*rows))))  # transposed in C: no per-cell lookups
        by_name["h3_r9"] = [format(v, "x") for v in by_name["h3_r9"]]
        for f in REPORT_FIELDS:
            if f.kind == "datetime":
                by_name[f.name] = np.array(by_name[f.name], dtype=np.float64)
        lonlat = np.column_stack([np.asarray(by_name["lon"], dtype=np.float64),
                                  np.asarray(by_name["lat"], dtype=np.float64)])
        yield Batch(columns={f.name: by_name[f.name] for f in REPORT_FIELDS}, points=_project(lonlat, crs))


def hotspot_batches(features: list[dict[str, Any]], *, cycle: Cycle, crs: str, size: int) -> Iterator[Batch]:
    """The hotspot layer's features (CRS84 hexagons) -> batches in ``crs``."""
    for start in range(0, len(features), size):
        chunk = features[start:start + size]
        columns = {f.name: [feat["properties"].get(f.name) for feat in chunk] for f in HOTSPOT_FIELDS}
        columns["cycle_start"] = np.full(len(chunk), cycle.start.timestamp())
        columns["cycle_end"] = np.full(len(chunk), cycle.end.timestamp())
        rings = [feat["geometry"]["coordinates"][0] for feat in chunk]
        flat = _project(np.asarray([xy for ring in rings for xy in ring], dtype=np.float64).reshape(-1, 2), crs)
        out, i = [], 0
        for ring in rings:
            out.append(flat[i:i + len(ring)].tolist())
            i += len(ring)
        yield Batch(columns=columns, rings=out)


# --- GeoJSON -----------------------------------------------------------------------------------

def geojson_chunks(batches: Iterable[Batch], *, fields: Sequence[Field], crs: str, id_field: str,
                   about: dict[str, Any] | None = None) -> Iterator[bytes]:
    """A FeatureCollection, one batch of features per chunk. EPSG:3006 is named in the (pre-RFC
    7946) ``crs`` member that GDAL and QGIS read; coordinates are then easting, northing."""
    head: dict[str, Any] = {"type": "FeatureCollection", **(about or {})}
    if crs != geo.WGS84:
        head["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}}
    yield orjson.dumps(head)[:-1] + b',"features":['
    names = [f.name for f in fields if f.name != "id"]
    times = {f.name for f in fields if f.kind == "datetime"}
    first = True
    for batch in batches:
        geometry = ([{"type": "Point", "coordinates": xy} for xy in batch.points.tolist()] if batch.points is not None
                    else [{"type": "Polygon", "coordinates": [ring]} for ring in batch.rings])
        columns = [local_iso_array(batch.columns[n]) if n in times else batch.columns[n] for n in names]
        features = [{"type": "Feature", "id": fid, "geometry": geom, "properties": dict(zip(names, values))}
                    for fid, geom, *values in zip(batch.columns[id_field], geometry, *columns)]
        if features:
            # One document per batch: orjson gives each result a few kB of headroom, so 10,000
            # separate dumps would hold ~45 MB for ~5 MB of text.
            yield (b"" if first else b",") + orjson.dumps(features)[1:-1]
            first = False
    yield b"]}\n"


# --- CSV -----------------------------------------------------------------------------------------

def _number(value: float | None) -> str:
    """Decimal comma, never scientific notation (Excel in Swedish locale reads it as a number)."""
    if value is None or value != value:  # None or NaN
        return ""
    return np.format_float_positional(value, trim="-").replace(".", ",")


def _coordinates(values: np.ndarray, decimals: int) -> list[str]:
    return [f"{v:.{decimals}f}".replace(".", ",") for v in values.tolist()]


def _csv_column(field: Field, values: list[Any]) -> list[str]:
    if field.kind == "datetime":
        return [v or "" for v in local_iso_array(values, spreadsheet=True)]
    if field.kind == "float":
        return [_number(v) for v in values]
    if field.kind in ("int", "bool"):
        return ["" if v is None else str(int(v)) for v in values]
    return ["" if not v else "'" + v if v[0] in _FORMULA_START else v for v in values]


def csv_chunks(batches: Iterable[Batch], *, fields: Sequence[Field], crs: str, polygons: bool) -> Iterator[bytes]:
    """The CSV dialect above; points as ``x;y`` (lon/lat or easting/northing), hexagons
    (``polygons``) as the centre's ``x;y`` and the outline as ``wkt``, in ``crs``. The header
    is the same whether or not any row follows (an empty cycle's file too)."""
    decimals = 7 if crs == geo.WGS84 else 2
    yield BOM + _csv_rows([[f.name for f in fields] + ["x", "y"] + (["wkt"] if polygons else [])])
    for batch in batches:
        columns = [_csv_column(f, batch.columns[f.name]) for f in fields]
        if polygons:
            shapes = batch.shapes()
            centres = shapely.get_coordinates(shapely.centroid(shapes))
            columns += [_coordinates(centres[:, 0], decimals), _coordinates(centres[:, 1], decimals),
                        shapely.to_wkt(shapes, rounding_precision=decimals, trim=True).tolist()]
        else:
            columns += [_coordinates(batch.points[:, 0], decimals), _coordinates(batch.points[:, 1], decimals)]
        yield _csv_rows(zip(*columns))


def _csv_rows(rows: Iterable[Sequence[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


def filename(stem: str, *, crs: str, ext: str) -> str:
    """``lagesbild-rapporter-2026-11-22-EPSG3006.csv``."""
    return f"lagesbild-{stem}-{crs.replace(':', '')}.{ext}"
