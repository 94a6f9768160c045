"""OGC API – Features (Part 1 Core, GeoJSON; Part 2 CRS) without the web framework: the
conformance classes, the CRSs with their axis order, the ``datetime``/``bbox``/``crs``
parameters, reprojection of features and the paging links.

Axis order (Part 2): coordinates follow the CRS's own axis order. CRS84 is lon/lat; EPSG:4326
is lat/lon; EPSG:3006 (SWEREF 99 TM) is northing, easting. GDAL ≥ 3.7 and QGIS expect exactly
that. The rest of the API (``/api/v1``, the exports) keeps the GIS habit of x/y = easting/northing.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from starlette.datastructures import URL

from app import geo
from app.errors import BadRequest
from app.timeutil import STOCKHOLM, to_utc

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_3006 = "http://www.opengis.net/def/crs/EPSG/0/3006"
EPSG_4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
GEOJSON = "application/geo+json"
JSON = "application/json"

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
]


@dataclass(frozen=True)
class OgcCrs:
    """An output or bbox CRS: its URI, the EPSG code the transforms use, whether its first
    axis is latitude/northing, and the decimals written (7 ≈ 1 cm in degrees; 2 = 1 cm)."""

    uri: str
    code: str
    northing_first: bool
    decimals: int


CRSES = {
    CRS84: OgcCrs(CRS84, geo.WGS84, northing_first=False, decimals=7),
    EPSG_3006: OgcCrs(EPSG_3006, geo.SWEREF99TM, northing_first=True, decimals=2),
    EPSG_4326: OgcCrs(EPSG_4326, geo.WGS84, northing_first=True, decimals=7),
}
SUPPORTED_CRS = list(CRSES)
_SHORT = {"OGC:CRS84": CRS84, "CRS84": CRS84, "EPSG:3006": EPSG_3006, "EPSG:4326": EPSG_4326}


def parse_crs(value: str | None, *, param: str = "crs") -> OgcCrs:
    """A ``crs``/``bbox-crs`` value (URI, or ``EPSG:3006``/``OGC:CRS84``, optionally in
    ``[...]``) -> :class:`OgcCrs`; CRS84 when absent; 400 naming the supported CRSs."""
    if value is None or not value.strip():
        return CRSES[CRS84]
    text = value.strip().removeprefix("[").removesuffix("]")
    uri = _SHORT.get(text.upper(), text.replace("https://", "http://", 1))
    if uri not in CRSES:
        raise BadRequest(f"{param} {value!r} is not supported; use one of {', '.join(SUPPORTED_CRS)} "
                         f"(or EPSG:3006, EPSG:4326, OGC:CRS84)",
                         errors=[{"field": param, "message": "unsupported CRS"}])
    return CRSES[uri]


def content_crs_header(crs: OgcCrs) -> dict[str, str]:
    """The ``Content-Crs`` response header (Part 2)."""
    return {"Content-Crs": f"<{crs.uri}>"}


def reproject(features: list[dict[str, Any]], crs: OgcCrs) -> list[dict[str, Any]]:
    """Point and Polygon features from CRS84 into ``crs``, in its axis order, rounded to its
    decimals, in place.

    One vectorised transform for all coordinates of the page, of the coordinates as stored:
    projecting values already rounded would put a SWEREF 99 TM point up to ~1 cm from where
    the exports (and PostGIS) put it. Coordinates are replaced, never modified (hexagon rings
    are cached tuples shared between layers). Hexagon rings are rounded to 7 decimals when they
    are built (app.hotspots.grid): in CRS84 they are left as they are (~30 ms for 10,000)."""
    if not features or (crs.uri == CRS84 and features[0]["geometry"]["type"] == "Polygon"):
        return features
    coords: list[tuple[float, float]] = []
    for f in features:
        geom = f["geometry"]
        if geom["type"] == "Point":
            coords.append(geom["coordinates"])
        else:
            for ring in geom["coordinates"]:
                coords.extend(ring)
    lonlat = np.asarray(coords, dtype=np.float64).reshape(-1, 2)
    x, y = (geo.wgs84_to_sweref_arrays(lonlat[:, 0], lonlat[:, 1]) if crs.code == geo.SWEREF99TM
            else (lonlat[:, 0], lonlat[:, 1]))
    xy = np.column_stack([y, x] if crs.northing_first else [x, y]).round(crs.decimals).tolist()
    i = 0
    for f in features:
        geom = f["geometry"]
        if geom["type"] == "Point":
            geom["coordinates"] = xy[i]
            i += 1
        else:
            rings = []
            for ring in geom["coordinates"]:
                rings.append(xy[i:i + len(ring)])
                i += len(ring)
            geom["coordinates"] = rings
    return features


@dataclass(frozen=True)
class Interval:
    """A ``datetime`` filter as UTC instants: ``start`` inclusive, ``end`` exclusive; None = open."""

    start: dt.datetime | None
    end: dt.datetime | None

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        """Whether ``[start, end)`` shares an instant with this interval."""
        return (self.start is None or end > self.start) and (self.end is None or start < self.end)


def parse_datetime(value: str | None) -> Interval | None:
    """OGC ``datetime``: an instant, a closed interval ``a/b``, or one with an open end (``..``
    or empty). RFC 3339 values; without an offset a time is Swedish local time, and a date
    alone means that whole local day. 400 for anything else."""
    if value is None:
        return None
    text = value.strip()
    if "/" not in text:
        start, end = _bound(text, whole_day_end=False), _bound(text, whole_day_end=True)
        if start is None:
            raise _bad_datetime(value, "is empty" if not text else "is an open end alone; an instant or "
                                "an interval such as 2026-10-01/.. is needed")
        return Interval(start, end)
    parts = text.split("/")
    if len(parts) != 2:
        raise _bad_datetime(value, "has more than one '/'")
    start, end = _bound(parts[0], whole_day_end=False), _bound(parts[1], whole_day_end=True)
    if start is not None and end is not None and end <= start:
        raise _bad_datetime(value, "ends before it starts")
    return Interval(start, end)


# RFC 3339 (§5.6, 'T' and 'Z' in either case, a space for the 'T' as its note allows; seconds may
# be left out), or a date alone; GDAL's OAPIF driver sends a date with a trailing 'T' (2026-11-01T/..).
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt]?")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?")
# A '+' sent unencoded in a query string arrives as a space: 2026-11-01T12:00:00 01:00.
_SPACE_FOR_PLUS = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)? \d{2}:\d{2}")


def _bound(text: str, *, whole_day_end: bool) -> dt.datetime | None:
    """One side of an interval: None for an open end; an end is made exclusive (+1 µs, or the
    next local midnight for a date). Only RFC 3339's extended format: ``20261101`` is 400."""
    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if date := _DATE.fullmatch(text):
            day = dt.date.fromisoformat(date[1])
            day += dt.timedelta(days=1) if whole_day_end else dt.timedelta(0)
            return to_utc(dt.datetime.combine(day, dt.time(0), STOCKHOLM))
        if _DATE_TIME.fullmatch(text):
            moment = to_utc(dt.datetime.fromisoformat(text.upper()))
            return moment + dt.timedelta(microseconds=1) if whole_day_end else moment
    except OverflowError:
        return None  # beyond year 1 or 9999: as good as open
    except ValueError:
        pass  # a month 13, a 25th hour
    if _SPACE_FOR_PLUS.fullmatch(text):
        raise _bad_datetime(text, "has a space before its offset: a '+' in a URL's query string means a space, "
                                  "write it as %2B (2026-11-01T12:00:00%2B01:00), or give the time in UTC (Z)")
    raise _bad_datetime(text, "is not an RFC 3339 date-time or date")


def _bad_datetime(value: str, why: str) -> BadRequest:
    return BadRequest(f"datetime {value!r} {why}; use an instant (2026-11-01T12:00:00Z), an interval "
                      "(2026-11-01T00:00:00Z/2026-11-15T00:00:00Z) or an open one (../2026-11-01T00:00:00Z, "
                      "2026-11-01T00:00:00Z/..); dates alone (2026-11-01) mean the whole Swedish day",
                      errors=[{"field": "datetime", "message": why}])


def parse_bbox(value: str | None, bbox_crs: str | None) -> geo.Area | None:
    """``bbox`` in ``bbox-crs`` (CRS84 by default; in that CRS's axis order) -> the area it
    covers. Invalid values are 400 on OGC routes."""
    crs = parse_crs(bbox_crs, param="bbox-crs")
    return geo.parse_bbox(value, crs=crs.code, northing_first=crs.northing_first)


def check_params(given: Iterable[str], allowed: set[str]) -> None:
    """400 for a query parameter this route does not define (/req/core/query-param-unknown):
    a typo such as ``bbbox`` must not silently return everything."""
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise BadRequest(f"Unknown query parameter(s) {', '.join(unknown)}; this route takes "
                         f"{', '.join(sorted(allowed))}",
                         errors=[{"field": name, "message": "unknown parameter"} for name in unknown])


def check_format(f: str | None) -> None:
    """``f``: only JSON/GeoJSON is served."""
    if f is not None and f.lower() not in ("json", "geojson", JSON, GEOJSON):
        raise BadRequest(f"f={f!r}: this service answers in JSON/GeoJSON only (f=json)",
                         errors=[{"field": "f", "message": "unsupported format"}])


def link(href: str | URL, rel: str, type_: str, title: str | None = None) -> dict[str, str]:
    out = {"href": str(href), "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def paging_links(url: URL, *, offset: int, limit: int, returned: int,
                 next_params: dict[str, Any] | None) -> list[dict[str, str]]:
    """self, and next/prev where there is such a page (/req/core/fc-links).

    ``next_params``: None when no feature follows this page, as the page's own query found it
    (for the reports: no next keyset cursor), never judged from ``numberMatched``, which a
    report added or moderated away while a client pages changes; otherwise the next link's
    extra parameters (the keyset cursor). The current URL's cursor never goes into the next
    link, or the next page would be this one again."""
    links = [link(url, "self", GEOJSON, "this page")]
    if next_params is not None:
        nxt = url.remove_query_params("cursor").include_query_params(offset=offset + returned, limit=limit,
                                                                     **next_params)
        links.append(link(nxt, "next", GEOJSON, "next page"))
    if offset > 0:
        prev = url.remove_query_params("cursor").include_query_params(offset=max(0, offset - limit), limit=limit)
        links.append(link(prev, "prev", GEOJSON, "previous page"))
    return links
