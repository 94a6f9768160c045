"""Reading an events batch: a GeoJSON FeatureCollection or CSV, into columns (one entry per
item, in the order sent). Nothing is judged here except the shape of each item; the values
are checked, all items at once, in :mod:`app.integrations.validation`.

CSV: UTF-8 (a byte-order mark is fine), a header row, comma- or semicolon-separated (the
separator is taken from the header line; with semicolons a decimal comma is accepted, as
Excel writes in Swedish locale). Columns, in any order, extra ones ignored:
``external_id, event_type, occurred_at | occurred_from[, occurred_to], x, y | lon, lat[, crs][, description]
[, confirm_personal_data]`` (true/false).
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from app.errors import BadRequest, InvalidInput, PayloadTooLarge, UnsupportedMediaType

# The csv module refuses a field over 131,072 characters, which failed a whole batch for one
# event's long description; the body limit (32 MB) bounds fields anyway, and the per-event
# checks reject an over-long one alone. (A process-wide setting; nothing else here reads CSV.)
csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))

FIELDS = ("external_id", "event_type", "occurred_at", "occurred_from", "occurred_to", "x", "y", "crs", "description",
          "confirm_personal_data")
CSV_ALIASES = {"lon": "x", "lat": "y", "longitude": "x", "latitude": "y"}


@dataclass(frozen=True)
class RawBatch:
    """The items of a batch as columns of the values sent (not yet checked), and per item the
    first shape problem found while reading (or None)."""

    columns: dict[str, tuple[Any, ...]]
    problems: tuple[str | None, ...]
    crs: str | None  # the batch's own default CRS (GeoJSON "crs" member), if any

    @property
    def n(self) -> int:
        return len(self.problems)


def decoded(body: bytes, *, encoding: str | None, max_bytes: int) -> bytes:
    """The body as sent before its ``Content-Encoding``: as is, or gunzipped (a batch of 10,000
    events is ~3 MB of JSON and ~10 times less gzipped). Inflated at most ``max_bytes`` (the
    same limit as for a plain body: 413 beyond, so a small bomb cannot fill the memory); 400
    when it is not gzip after all; 415 for another encoding."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in ("gzip", "x-gzip"):
        raise UnsupportedMediaType(f"Content-Encoding {coding[:40]!r} is not supported; send the body as it is, "
                                   "or gzip it (Content-Encoding: gzip)")
    # A gzipped batch is a fraction of its size (JSON and CSV shrink 4-10 times). Bounding what is
    # sent gzipped bounds the work of a body of a million empty gzip members too (each a fresh
    # decompressor: ~1.5 s of CPU for 8 MB of them, measured, and 4 times that at the plain limit).
    if len(body) > max_bytes // 4:
        raise PayloadTooLarge(f"A gzipped body is at most {max_bytes // 4:,} bytes (and {max_bytes:,} once "
                              "unzipped); send fewer events per batch")
    # GzipFile reads a file of several members (RFC 1952) in one pass, and stops at the limit.
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as unzipped:
            out = unzipped.read(max_bytes + 1)
    except EOFError:
        raise BadRequest("The gzip body is cut short; send the whole gzip file") from None
    except (OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise BadRequest(f"The body is not valid gzip ({exc}) although Content-Encoding says gzip") from None
    if len(out) > max_bytes:
        raise PayloadTooLarge(f"The body is over {max_bytes:,} bytes once unzipped; send fewer events per batch")
    return out


def _require_size(n: int, max_events: int) -> None:
    if n > max_events:
        raise PayloadTooLarge(f"A batch has at most {max_events:,} events; this one has {n:,}. "
                              "Send it in several batches (replaying an event is harmless)")


def _batch(rows: list[tuple], crs: str | None) -> RawBatch:
    if not rows:
        return RawBatch(columns={f: () for f in FIELDS}, problems=(), crs=crs)
    *values, problems = zip(*rows)
    return RawBatch(columns=dict(zip(FIELDS, values)), problems=problems, crs=crs)


_NOT_A_FEATURE = (None,) * len(FIELDS) + ("not a GeoJSON Feature object",)
_EMPTY: dict = {}


def _feature_row(feature: Any) -> tuple:
    """One Feature as (FIELDS..., problem). ``external_id`` may also come as the Feature's ``id``."""
    if type(feature) is not dict:
        return _NOT_A_FEATURE
    props = feature.get("properties")
    get = props.get if type(props) is dict else _EMPTY.get
    geometry = feature.get("geometry")
    x = y = problem = None
    if type(geometry) is dict and geometry.get("type") == "Point":
        coordinates = geometry.get("coordinates")
        if type(coordinates) is list and 2 <= len(coordinates) <= 3:
            x, y = coordinates[0], coordinates[1]
        else:
            problem = "geometry.coordinates must be [x, y] (lon, lat in WGS84; easting, northing in EPSG:3006)"
    else:
        problem = "geometry must be a GeoJSON Point"
    external_id = get("external_id")
    if external_id is None:
        external_id = feature.get("id")
    return (external_id, get("event_type"), get("occurred_at"), get("occurred_from"), get("occurred_to"), x, y,
            get("crs"), get("description"), get("confirm_personal_data"), problem)


def quoted(value: Any, limit: int = 80) -> str:
    """``repr(value)`` for a rejection reason, cut to ``limit`` characters: not a megabyte back."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _crs_member(value: Any) -> str | None:
    """The FeatureCollection's ``crs``: a name string, the 2008 form {"type": "name",
    "properties": {"name": ...}}, or the older {"type": "EPSG", "properties": {"code": 3006}};
    None when absent. Anything else is refused: silently reading the batch as WGS84 would
    reject every event for a reason that hides the cause."""
    if value is None or isinstance(value, str):
        return value
    props = value.get("properties") if isinstance(value, dict) else None
    if isinstance(props, dict):
        if isinstance(props.get("name"), str):
            return props["name"]
        code = props.get("code")
        if value.get("type") == "EPSG" and (type(code) is int or (type(code) is str and code.isdigit())):
            return f"EPSG:{code}"
    raise InvalidInput(f"The FeatureCollection's crs {quoted(value)} is not understood; give \"EPSG:3006\" or "
                       '{"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3006"}}, or leave it out '
                       "for WGS84", errors=[{"field": "crs", "message": "not understood"}])


def read_geojson(body: bytes, *, max_events: int) -> RawBatch:
    """A FeatureCollection of Point features; the event fields are the features' properties."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        doc = _with_lone_surrogates(body, exc)
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise InvalidInput('The body must be a GeoJSON FeatureCollection: {"type": "FeatureCollection", '
                           '"features": [...]} (or CSV with Content-Type: text/csv)',
                           errors=[{"field": "body", "message": "not a FeatureCollection"}])
    _require_size(len(doc["features"]), max_events)
    return _batch([_feature_row(f) for f in doc["features"]], _crs_member(doc.get("crs")))


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _with_lone_surrogates(body: bytes, exc: orjson.JSONDecodeError) -> Any:
    """A body orjson refuses only for a lone surrogate escape ("\\ud800") in some string is
    valid JSON all the same: read again by the standard library, so that only the events with
    such a string are rejected (their text cannot be stored), not the whole batch. Any other
    error is the body's: 422 malformed JSON."""
    if "surrogate" in str(exc):
        try:
            return json.loads(body, parse_constant=_refuse_constant)
        except ValueError:
            pass
    raise InvalidInput(f"Malformed JSON: {exc}", errors=[{"field": "body", "message": "malformed JSON"}]) from None


def read_csv(body: bytes, *, max_events: int) -> RawBatch:
    """CSV with a header row (see the module docstring for the columns)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("CSV must be UTF-8 encoded", errors=[{"field": "body", "message": "not UTF-8"}]) from None
    header_line = text.split("\n", 1)[0]
    sep = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep)
    try:
        lines = list(reader)
    except csv.Error as exc:  # e.g. a field over the csv module's limit of 131,072 characters
        raise InvalidInput(f"The CSV cannot be read at line {reader.line_num}: {exc}",
                           errors=[{"field": "body", "message": "malformed CSV"}]) from None
    header = [CSV_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in (lines[0] if lines else [])]
    missing = [f for f in ("external_id", "event_type", "x", "y") if f not in header]
    if "occurred_at" not in header and "occurred_from" not in header:
        missing.append("occurred_at (or occurred_from)")
    if missing:
        raise InvalidInput(f"The CSV header lacks {', '.join(missing)}; columns: external_id, event_type, "
                           "occurred_at or occurred_from/occurred_to, x and y (or lon and lat), crs, description",
                           errors=[{"field": "header", "message": f"missing {m}"} for m in missing])
    rows = [r for r in lines[1:] if any(cell.strip() for cell in r)]
    _require_size(len(rows), max_events)
    where = [header.index(f) if f in header else None for f in FIELDS]
    width = len(header)
    decimal_comma = sep == ";"
    out = []
    for r in rows:
        problem = None if len(r) == width else f"has {len(r)} fields, the header {width}"
        values = [(r[i].strip() or None) if i is not None and i < len(r) else None for i in where]
        if values[9] is not None:  # confirm_personal_data
            values[9] = values[9].lower() in ("true", "1", "ja", "yes")
        for k in (5, 6):  # x, y
            if values[k] is not None:
                try:
                    values[k] = float(values[k].replace(",", ".") if decimal_comma else values[k])
                except ValueError:
                    problem = problem or f"{FIELDS[k]} {values[k]!r} is not a number"
        out.append((*values, problem))
    return _batch(out, None)
