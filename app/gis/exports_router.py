"""GET /api/v1/exports/reports.{geojson,csv,gpkg} and /api/v1/exports/hotspots.{...}: files for
the GIS unit and for spreadsheets (est_member, coordinator, gis_reader; bearer token or reading
key). See app.gis.exports for the formats and how memory stays flat."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from app.auth.deps import GisReader, SettingsDep
from app.db import SessionDep, StreamSessionDep
from app.gis import exports, gpkg, service
from app.errors import InvalidInput
from app.hotspots.router import FiltersDep
from app.reports import service as reports
from app.reports.deps import ReportFilterDep, reject_unknown_query_params
from app.responses import NOT_STORED
from app.timeutil import local_today

OptionalResolution = Annotated[int | None, Query(ge=7, le=10, description="H3 resolution: 7 (~5 km²) … 10 "
                                                                         "(~0.015 km²); 9 by default")]
async def _only_known_params(request: Request, _caller: GisReader) -> None:
    """Unknown query parameters refused, once the caller is known (a 401 comes before a 422)."""
    reject_unknown_query_params(request)


router = APIRouter(prefix="/api/v1/exports", tags=["exports"], dependencies=[Depends(_only_known_params)])
Format = Literal["geojson", "csv", "gpkg"]
Crs = Annotated[str | None, Query(description="EPSG:4326 (default; lon/lat) or EPSG:3006 (SWEREF 99 TM, "
                                              "easting/northing in metres)")]


def _primed(partitions: Iterator) -> Iterator:
    """Run the query now, inside the route, so that a failure is still a problem+json answer;
    afterwards the response is streaming and can only be cut off."""
    first = next(partitions, None)
    return partitions if first is None else chain([first], partitions)


def _file(fmt: str, batches: Iterator[exports.Batch], *, fields, crs: str, id_field: str, layer: str,
          geometry_type: str, name: str, about: dict | None = None):
    disposition = {"Content-Disposition": f'attachment; filename="{name}"', **NOT_STORED}
    if fmt == "csv":
        return StreamingResponse(exports.csv_chunks(batches, fields=fields, crs=crs,
                                                    polygons=geometry_type == "Polygon"),
                                 media_type=exports.MEDIA_TYPES["csv"], headers=disposition)
    if fmt == "geojson":
        return StreamingResponse(exports.geojson_chunks(batches, fields=fields, crs=crs, id_field=id_field, about=about),
                                 media_type=exports.MEDIA_TYPES["geojson"], headers=disposition)
    folder = tempfile.mkdtemp(prefix="lagesbild-export-")
    try:
        path = Path(folder) / name
        gpkg.write_gpkg(batches, str(path), fields=fields, crs=crs, layer=layer, geometry_type=geometry_type)
        handle = path.open("rb")  # the open handle keeps the data; nothing is left on disk, whatever happens next
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    size = os.fstat(handle.fileno()).st_size
    return StreamingResponse(_read(handle), media_type=exports.MEDIA_TYPES["gpkg"],
                             headers={**disposition, "Content-Length": str(size)})


def _read(handle: BinaryIO) -> Iterator[bytes]:
    with handle:
        while block := handle.read(1 << 20):
            yield block


def bbox_crs_checked(bbox_crs: Annotated[str | None, Query(alias="bbox-crs", include_in_schema=False)] = None) -> None:
    """An export's ``bbox-crs``, checked before the list's filters read it: 400 when unknown,
    as for ``crs`` (the report list itself answers 422)."""
    exports.parse_crs(bbox_crs, field="bbox-crs")


@router.get("/reports.{fmt}", summary="All reports matching the list's filters, as a file (streamed)")
def export_reports(fmt: Format, principal: GisReader, session: StreamSessionDep, settings: SettingsDep,
                   _: Annotated[None, Depends(bbox_crs_checked)], flt: ReportFilterDep, crs: Crs = None):
    out = exports.parse_crs(crs)
    partitions = _primed(reports.stream_reports(session, principal=principal, flt=flt,
                                                batch=settings.export_batch_rows))
    name = exports.filename(f"rapporter-{local_today()}", crs=out, ext=fmt)
    return _file(fmt, exports.report_batches(partitions, crs=out), fields=exports.REPORT_FIELDS, crs=out,
                 id_field="id", layer="rapporter", geometry_type="Point", name=name)


@router.get("/hotspots.{fmt}", summary="A cycle's hotspot layer as a file")
def export_hotspots(fmt: Format, principal: GisReader, session: SessionDep, settings: SettingsDep, f: FiltersDep,
                    cycle: Annotated[str, Query(description="'previous' (default: the last full cycle), "
                                                            "'current' or a cycle id (first day)")] = "previous",
                    resolution: OptionalResolution = None, crs: Crs = None,
                    res: Annotated[int | None, Query(ge=7, le=10, description="the same as resolution, as the "
                                                                          "tiles and /hotspots name it")] = None):
    if res is not None and resolution is not None and res != resolution:
        raise InvalidInput(f"res={res} and resolution={resolution} disagree; give one of them",
                           errors=[{"field": "res", "message": "disagrees with resolution"}])
    resolution = res or resolution or 9
    out = exports.parse_crs(crs)
    layer, c = service.hotspot_layer(session, principal=principal, query=service.HotspotQuery(
        resolution=resolution, cycle=cycle, categories=tuple(f.category), groups=tuple(f.group),
        organisation_kinds=tuple(f.organisation_kind), statuses=tuple(f.status)))
    batches = exports.hotspot_batches(layer["features"], cycle=c, crs=out, size=settings.export_batch_rows)
    name = exports.filename(f"hotspots-r{resolution}-{c.id}", crs=out, ext=fmt)
    return _file(fmt, batches, fields=exports.HOTSPOT_FIELDS, crs=out, id_field="h3", layer=f"hotspots_r{resolution}",
                 geometry_type="Polygon", name=name,
                 about={"cycle": layer["cycle"], "resolution": resolution, "total": layer["total"]})
